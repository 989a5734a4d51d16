import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import { ConfigError } from './errors.js'

/** A command that takes longer has failed: a request never waits on a stalled Redis. */
const COMMAND_TIMEOUT_MS = 500
const CONNECT_TIMEOUT_MS = 2_000
/** Reconnection backs off to this, and keeps trying for as long as the process runs. */
const MAX_RECONNECT_DELAY_MS = 2_000

export interface RedisLog {
  info: (object: object, message: string) => void
  warn: (object: object, message: string) => void
}

/** Every few seconds a connection that seems up is asked to answer, to notice a stalled Redis. */
const HEARTBEAT_MS = 5_000

/** REDIS_URL: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
export function checkRedisUrl (name: string, value: string): string {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (url === undefined || !['redis:', 'rediss:'].includes(url.protocol) || url.hostname === '') {
    throw new ConfigError(`${name} must be a redis:// or rediss:// URL, such as ` +
      'redis://127.0.0.1:6379')
  }
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    throw new ConfigError(`${name} has a user name or password with a bad percent-escape ` +
      '(a % must be followed by two hex digits; write a literal % as %25)')
  }
  if (url.search !== '' || url.hash !== '') {
    throw new ConfigError(`${name} takes no query string or fragment: a password goes before the ` +
      'host (redis://:password@host:6379), a database number after it (redis://host:6379/2)')
  }
  if (!/^\/?(\d{1,5})?$/.test(url.pathname)) {
    throw new ConfigError(`${name} may name a database by number (redis://host:6379/2), ` +
      'nothing else')
  }
  return value
}

/** A key prefix: printable ASCII without spaces, so keys stay readable and one line each. */
export function checkRedisKeyPrefix (name: string, value: string): string {
  if (!/^[\x21-\x7e]{1,64}$/.test(value)) {
    throw new ConfigError(`${name} must be 1 to 64 printable ASCII characters without spaces`)
  }
  return value
}

/**
 * The connection to the Redis that replicas share. It never queues commands while disconnected
 * and gives up on a command after half a second, so callers fall back at once; it reconnects in
 * the background for as long as the process runs. Emits `up` on every (re)connection and `down`
 * when one is lost.
 */
export class SharedRedis extends EventEmitter {
  readonly client: Redis
  readonly #log: RedisLog
  readonly #where: { redis: string }
  #up = false
  #closing = false
  /** What the log last said of this outage: said once each, not at every reconnection. */
  #reported: 'unavailable' | 'refused' | undefined
  #runId: string | undefined
  #restartedAt = 0
  /** Set when Redis refuses the configuration itself (a database it does not have). */
  #refused: string | undefined
  readonly #heartbeat: NodeJS.Timeout

  /** Loads ioredis only when a Redis is configured: it costs a process 13 MiB of memory. */
  static async create (url: string, keyPrefix: string, log: RedisLog): Promise<SharedRedis> {
    const { Redis } = await import('ioredis')
    return new SharedRedis(new Redis(url, {
      keyPrefix,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
      lazyConnect: true
    }), url, log)
  }

  private constructor (client: Redis, url: string, log: RedisLog) {
    super()
    this.client = client
    this.#log = log
    this.#where = { redis: redactedRedis(url) }
    this.client.on('ready', () => {
      // ioredis goes on in database 0 when the SELECT of the URL's database fails.
      if (this.#refused === WRONG_DATABASE) return
      this.#learnRunId().then(() => {
        this.#up = true
        this.#reported = undefined
        log.info(this.#where, 'redis connected')
        this.emit('up')
      }, (error: unknown) => { this.failed(error) })
    })
    this.client.on('error', (error: Error & { code?: string }) => {
      const refused = refusal(error.message, this.#runId === undefined)
      if (refused !== undefined) {
        this.#refused = refused
        // At start the start stops with this; later (Redis came up after the service) the
        // service goes on without Redis, and this line says why it does not connect.
        if (this.#reported !== 'refused') {
          this.#log.warn({ ...this.#where, reason: refused }, 'redis refuses this configuration')
          this.#reported = 'refused'
        }
        this.emit('refused', this.#refused)
      }
      this.#lost(error.code ?? error.message)
    })
    this.client.on('close', () => { this.#lost('connection closed') })
    this.#heartbeat = setInterval(() => {
      if (this.up) this.client.ping().catch((error: unknown) => { this.failed(error) })
    }, HEARTBEAT_MS).unref()
  }

  /**
   * When this process last found Redis restarted (ms; 0: never): a Redis without persistence
   * comes back empty, so what was learned from it before that time is all that is left of it.
   */
  get restartedAt (): number {
    return this.#restartedAt
  }

  /** Why Redis refused this configuration, if it did. */
  get refused (): string | undefined {
    return this.#refused
  }

  /**
   * Hears a command's failure. A command that timed out means a Redis that stopped answering
   * (stopped, or cut off): the connection counts as lost, and a new one is sought.
   */
  failed (error: unknown): void {
    if (!/timed out/i.test((error as Error).message ?? '')) return
    this.#lost('commands time out')
    // Once per stalled connection: every command in flight on it times out alike.
    if (this.client.status === 'ready') this.client.disconnect(true)
  }

  /** True while commands can be sent. */
  get up (): boolean {
    return this.#up && this.client.status === 'ready'
  }

  /** Starts connecting; resolves at once, whether or not Redis answers. */
  connect (): void {
    this.client.connect().catch(() => {})
  }

  async close (): Promise<void> {
    this.#closing = true
    clearInterval(this.#heartbeat)
    this.client.disconnect(false)
  }

  async #learnRunId (): Promise<void> {
    const info = await this.client.info('server')
    const runId = /run_id:(\w+)/.exec(info)?.[1]
    if (this.#runId !== undefined && runId !== this.#runId) this.#restartedAt = Date.now()
    this.#runId = runId
  }

  #lost (reason: string): void {
    if (this.#closing) return
    // ioredis reports again on every reconnection attempt: say it once per outage.
    if (this.#reported === undefined) {
      this.#log.warn({ ...this.#where, reason },
        'redis unavailable: falling back to this process and the store')
      this.#reported = 'unavailable'
    }
    if (!this.#up) return
    this.#up = false
    this.emit('down')
  }
}

/**
 * What makes the configuration itself wrong, from an error of the connection: a database Redis
 * does not have, or (before the first connection: credentials changed while running may be put
 * right again) credentials it refuses.
 */
const WRONG_DATABASE = 'REDIS_URL names a database this Redis does not have'

function refusal (message: string, neverConnected: boolean): string | undefined {
  if (/DB index is out of range/.test(message)) return WRONG_DATABASE
  if (neverConnected && /^(WRONGPASS|NOAUTH)\b/.test(message)) {
    return `REDIS_URL has credentials this Redis refuses (${message.split(' ')[0] ?? ''}): ` +
      'give redis://user:password@host, or redis://:password@host for the default user'
  }
  return undefined
}

/** Where Redis is, for logs: without credentials (a password typed as the user name, too). */
function redactedRedis (value: string): string {
  const url = new URL(value)
  if (url.password !== '') url.password = '***'
  if (url.username !== '') url.username = '***'
  return url.toString()
}
