import { EventEmitter } from 'node:events'
import { Redis } from 'ioredis'
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

/** REDIS_URL: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
export function checkRedisUrl (name: string, value: string): string {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (url === undefined || !['redis:', 'rediss:'].includes(url.protocol) || url.hostname === '') {
    throw new ConfigError(`${name} must be a redis:// or rediss:// URL, such as redis://127.0.0.1:6379`)
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
  #reported = false

  constructor (url: string, keyPrefix: string, log: RedisLog) {
    super()
    this.client = new Redis(url, {
      keyPrefix,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
      lazyConnect: true
    })
    this.#log = log
    this.#where = { redis: redactedRedis(url) }
    this.client.on('ready', () => {
      this.#up = true
      this.#reported = false
      log.info(this.#where, 'redis connected')
      this.emit('up')
    })
    this.client.on('error', (error: Error & { code?: string }) => {
      this.#lost(error.code ?? error.message)
    })
    this.client.on('close', () => { this.#lost('connection closed') })
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
    this.client.disconnect(false)
  }

  #lost (reason: string): void {
    if (this.#closing) return
    // ioredis reports again on every reconnection attempt: say it once per outage.
    if (!this.#reported) {
      this.#log.warn({ ...this.#where, reason },
        'redis unavailable: falling back to this process and the store')
      this.#reported = true
    }
    if (!this.#up) return
    this.#up = false
    this.emit('down')
  }
}

function redactedRedis (value: string): string {
  const url = new URL(value)
  if (url.password !== '') url.password = '***'
  return url.toString()
}
