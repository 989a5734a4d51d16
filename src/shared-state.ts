import { once } from 'node:events'
import { ConfigError } from './errors.js'
import { MemoryDenyList, SharedDenyList, type DenyList } from './deny-list.js'
import { LoginLockout, SharedLockout, type Lockout, type LockoutPolicy } from './lockout.js'
import { SharedRedis, type RedisLog } from './redis.js'
import type { Store } from './store/index.js'

/** How long a start waits for Redis before it goes on without it. */
const FIRST_CONNECT_WAIT_MS = 2_000

export interface SharedStateOptions {
  store: Store
  lockout: LockoutPolicy | false
  redisUrl?: string
  redisKeyPrefix: string
  log: RedisLog
}

/**
 * What replicas must share, and where it lives: with a Redis, the access token deny list (in front
 * of the store), the lockout counters and the rate-limit counters; without one, the deny list in
 * the store and the counters in this process.
 */
export interface SharedState {
  denyList: DenyList
  lockout?: Lockout
  redis?: SharedRedis
  /** Whether Redis is configured and answering: undefined without one. */
  redisUp: () => boolean | undefined
  close: () => Promise<void>
}

export async function openSharedState (options: SharedStateOptions): Promise<SharedState> {
  const { store, lockout } = options
  if (options.redisUrl === undefined) {
    return {
      // SQLite has one process; a PostgreSQL without Redis may have replicas writing to it.
      denyList: store.engine === 'sqlite'
        ? await MemoryDenyList.open(store.revokedTokens)
        : store.revokedTokens,
      ...(lockout === false ? {} : { lockout: new LoginLockout(lockout) }),
      redisUp: () => undefined,
      close: async () => {}
    }
  }

  const redis = await SharedRedis.create(options.redisUrl, options.redisKeyPrefix, options.log)
  const denyList = new SharedDenyList(store.revokedTokens, redis)
  redis.connect()
  // Start with Redis when it answers soon; without it otherwise, and take it up when it comes.
  await Promise.race([once(redis, 'up'), once(redis, 'refused'), new Promise((resolve) => {
    setTimeout(resolve, FIRST_CONNECT_WAIT_MS).unref()
  })])
  if (redis.refused !== undefined) {
    denyList.close()
    await redis.close()
    throw new ConfigError(redis.refused)
  }
  await denyList.settled()

  return {
    denyList,
    ...(lockout === false ? {} : { lockout: new SharedLockout(lockout, redis) }),
    redis,
    redisUp: () => denyList.synced,
    close: async () => {
      denyList.close()
      await redis.close()
    }
  }
}
