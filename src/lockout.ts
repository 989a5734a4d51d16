import type { SharedRedis } from './redis.js'

/** Seconds. */
export interface LockoutPolicy {
  /** Failed logins in a row after which a username is locked. */
  threshold: number
  /** The first lock; each further failure after a lock doubles it. */
  duration: number
  /** The longest lock. */
  maxDuration: number
}

/**
 * Counts failed logins per username, known or not (so a lock says nothing about whether the
 * account exists), and locks a username for a progressively longer time once it reaches the
 * threshold. A success resets it.
 */
export interface Lockout {
  /** Seconds until the username may try again, or 0 when it may try now. */
  lockedFor: (username: string) => Promise<number>
  /** Records a failure; resolves the seconds of the lock it starts, or 0. */
  fail: (username: string) => Promise<number>
  succeed: (username: string) => Promise<void>
}

/** The lock that the `failures`-th failure in a row starts, in seconds (0: none). */
function lockSeconds (policy: LockoutPolicy, failures: number): number {
  if (failures < policy.threshold) return 0
  return Math.min(policy.duration * 2 ** (failures - policy.threshold), policy.maxDuration)
}

interface Entry {
  failures: number
  lockedUntil: number
  lastFailure: number
}

/** Usernames tracked at most; the least recently failed are forgotten first. */
const MAX_ENTRIES = 100_000

/** Lockout state in this process: replicas count separately, and a restart forgets it. */
export class LoginLockout implements Lockout {
  readonly #policy: LockoutPolicy
  readonly #entries = new Map<string, Entry>()

  constructor (policy: LockoutPolicy) {
    this.#policy = policy
  }

  async lockedFor (username: string): Promise<number> {
    return this.lockedForAt(username, Date.now())
  }

  async fail (username: string): Promise<number> {
    return this.failAt(username, Date.now())
  }

  async succeed (username: string): Promise<void> {
    this.#entries.delete(username)
  }

  lockedForAt (username: string, now: number): number {
    const entry = this.#entries.get(username)
    if (entry === undefined || entry.lockedUntil <= now) return 0
    return Math.ceil((entry.lockedUntil - now) / 1000)
  }

  failAt (username: string, now: number): number {
    const entry = this.#entries.get(username) ?? { failures: 0, lockedUntil: 0, lastFailure: now }
    // A quiet spell as long as the longest lock forgives earlier failures.
    if (now - entry.lastFailure > this.#policy.maxDuration * 1000) entry.failures = 0

    entry.failures += 1
    entry.lastFailure = now
    this.#remember(username, entry)
    const seconds = lockSeconds(this.#policy, entry.failures)
    if (seconds > 0) entry.lockedUntil = now + seconds * 1000
    return seconds
  }

  #remember (username: string, entry: Entry): void {
    this.#entries.delete(username)
    this.#entries.set(username, entry)
    if (this.#entries.size > MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }
}

/**
 * One failure, atomically: count it (the count is forgotten after a quiet spell as long as the
 * longest lock), and set the lock it earns. KEYS: failures, lock. ARGV: threshold, first lock
 * and longest lock in milliseconds. Resolves the lock in milliseconds, or 0.
 */
const FAIL_SCRIPT = `
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local threshold = tonumber(ARGV[1])
if failures < threshold then return 0 end
local lock = math.min(tonumber(ARGV[2]) * 2 ^ (failures - threshold), tonumber(ARGV[3]))
redis.call('SET', KEYS[2], '1', 'PX', lock)
return lock
`

type FailCommand = (failures: string, lock: string, threshold: number, first: number,
  longest: number) => Promise<number>

/**
 * Lockout state in Redis, so failures add up across replicas. While Redis is away, this process
 * counts on its own, so guessing stays slow during an outage.
 */
export class SharedLockout implements Lockout {
  readonly #policy: LockoutPolicy
  readonly #redis: SharedRedis
  readonly #local: LoginLockout
  readonly #fail: FailCommand

  constructor (policy: LockoutPolicy, redis: SharedRedis) {
    this.#policy = policy
    this.#redis = redis
    this.#local = new LoginLockout(policy)
    redis.client.defineCommand('tokenIssuerLoginFailed', { numberOfKeys: 2, lua: FAIL_SCRIPT })
    const client = redis.client as unknown as Record<'tokenIssuerLoginFailed', FailCommand>
    this.#fail = client.tokenIssuerLoginFailed.bind(client)
  }

  async lockedFor (username: string): Promise<number> {
    const local = await this.#local.lockedFor(username)
    if (!this.#redis.up) return local
    try {
      const milliseconds = await this.#redis.client.pttl(lockKey(username))
      return Math.max(local, milliseconds > 0 ? Math.ceil(milliseconds / 1000) : 0)
    } catch {
      return local
    }
  }

  async fail (username: string): Promise<number> {
    if (!this.#redis.up) return await this.#local.fail(username)
    const { threshold, duration, maxDuration } = this.#policy
    try {
      const milliseconds = await this.#fail(failuresKey(username), lockKey(username), threshold,
        duration * 1000, maxDuration * 1000)
      return Math.ceil(milliseconds / 1000)
    } catch {
      return await this.#local.fail(username)
    }
  }

  async succeed (username: string): Promise<void> {
    await this.#local.succeed(username)
    if (!this.#redis.up) return
    await this.#redis.client.del(failuresKey(username), lockKey(username)).catch(() => {})
  }
}

function failuresKey (username: string): string {
  return `lockout:failures:${username}`
}

function lockKey (username: string): string {
  return `lockout:lock:${username}`
}
