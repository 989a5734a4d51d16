import type { SharedRedis } from './redis.js'
import type { RevokedTokenStore } from './store/revoked-tokens.js'

/** The access tokens revoked before their expiry, by `jti`. */
export interface DenyList {
  add: (jti: string, expiresAt: Date) => Promise<void>
  has: (jti: string) => Promise<boolean>
}

/**
 * The deny list of a process that is the store's only user (SQLite): the store's entries held in
 * memory too, so verifying a token costs no query. Every revocation goes to both.
 */
export class MemoryDenyList implements DenyList {
  readonly #store: RevokedTokenStore
  readonly #entries = new Map<string, number>()

  private constructor (store: RevokedTokenStore) {
    this.#store = store
  }

  static async open (store: RevokedTokenStore): Promise<MemoryDenyList> {
    const list = new MemoryDenyList(store)
    for (const { jti, expiresAt } of await store.live()) list.#entries.set(jti, expiresAt.getTime())
    return list
  }

  async add (jti: string, expiresAt: Date): Promise<void> {
    await this.#store.add(jti, expiresAt)
    this.#entries.set(jti, expiresAt.getTime())
  }

  async has (jti: string): Promise<boolean> {
    const expiresAt = this.#entries.get(jti)
    if (expiresAt === undefined) return false
    if (expiresAt > Date.now()) return true
    // The token has expired anyway: the entry can go (the store's is purged on its own).
    this.#entries.delete(jti)
    return false
  }
}

/** How often a deny list that fell out of step with the store tries to catch up. */
const RESYNC_INTERVAL_MS = 5_000

/**
 * The deny list kept in Redis for every replica, each entry expiring with its token, in front of
 * the store, which stays the record: every revocation is written to both, and whenever Redis
 * (re)connects, possibly empty after a restart, the store's live entries are copied into it.
 * Until that copy is done, or whenever Redis fails, lookups go to the store: a revoked token is
 * never taken for a live one because Redis was away.
 */
export class SharedDenyList implements DenyList {
  readonly #store: RevokedTokenStore
  readonly #redis: SharedRedis
  #synced = false
  /** Counts the writes to Redis that failed, so a copy never covers one up. */
  #missed = 0
  #syncing: Promise<void> | undefined
  readonly #timer: NodeJS.Timeout

  constructor (store: RevokedTokenStore, redis: SharedRedis) {
    this.#store = store
    this.#redis = redis
    redis.on('up', () => { this.#sync() })
    redis.on('down', () => { this.#synced = false })
    if (redis.up) this.#sync()
    this.#timer = setInterval(() => {
      if (!this.#synced && redis.up) this.#sync()
    }, RESYNC_INTERVAL_MS).unref()
  }

  /** True while lookups are answered by Redis. */
  get synced (): boolean {
    return this.#synced && this.#redis.up
  }

  async add (jti: string, expiresAt: Date): Promise<void> {
    await this.#store.add(jti, expiresAt)
    if (!this.#redis.up) return
    try {
      await this.#redis.client.set(key(jti), '1', 'PXAT', expiresAt.getTime())
    } catch (error) {
      // The other replicas would miss this entry in Redis: catch up from the store.
      this.#missed++
      this.#synced = false
      this.#redis.failed(error)
    }
  }

  async has (jti: string): Promise<boolean> {
    if (this.synced) {
      try {
        return await this.#redis.client.exists(key(jti)) === 1
      } catch (error) {
        this.#synced = false
        this.#redis.failed(error)
      }
    }
    return await this.#store.has(jti)
  }

  /** Resolves when a copy from the store that is under way has ended. */
  async settled (): Promise<void> {
    await this.#syncing
  }

  close (): void {
    clearInterval(this.#timer)
  }

  #sync (): void {
    this.#syncing ??= (async () => {
      const missed = this.#missed
      try {
        const now = Date.now()
        const entries = (await this.#store.live(new Date(now)))
          .filter(({ expiresAt }) => expiresAt.getTime() > now)
        const pipeline = this.#redis.client.pipeline()
        for (const { jti, expiresAt } of entries) {
          pipeline.set(key(jti), '1', 'PXAT', expiresAt.getTime())
        }
        const results = await pipeline.exec()
        this.#synced = this.#redis.up && this.#missed === missed &&
          (results ?? []).every(([error]) => error === null)
      } catch {
        this.#synced = false
      } finally {
        this.#syncing = undefined
      }
    })()
  }
}

function key (jti: string): string {
  return `revoked:${jti}`
}
