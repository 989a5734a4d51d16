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
 * Counts login attempts per username, known or not (so a lock says nothing about whether the
 * account exists), and locks a username for a progressively longer time once it reaches the
 * threshold. An attempt is counted before its password is checked, so parallel guesses cannot
 * slip past the threshold while the first ones are still hashing; a success resets the count.
 */
export interface Lockout {
  /**
   * Counts an attempt. `lockedFor` > 0: refuse it, for that many seconds. Otherwise it goes on,
   * and `locks` is the lock it started for the attempts after it (0: none), should it fail.
   */
  attempt: (username: string) => Promise<LoginAttempt>
  /** The password was right: the count starts again, and a lock this attempt set is lifted. */
  succeed: (username: string) => Promise<void>
}

export interface LoginAttempt {
  lockedFor: number
  locks: number
}

/** The lock that the `attempts`-th attempt in a row starts, in seconds (0: none). */
function lockSeconds (policy: LockoutPolicy, attempts: number): number {
  if (attempts < policy.threshold) return 0
  return Math.min(policy.duration * 2 ** (attempts - policy.threshold), policy.maxDuration)
}

interface Entry {
  attempts: number
  lockedUntil: number
  lastAttempt: number
  /** When a lock learned from Redis was last seen there. */
  seenAt?: number
}

/** Usernames tracked at most; the least recently tried are forgotten first. */
const MAX_ENTRIES = 100_000

/** Lockout state in this process: replicas count separately, and a restart forgets it. */
export class LoginLockout implements Lockout {
  readonly #policy: LockoutPolicy
  readonly #entries = new Map<string, Entry>()

  constructor (policy: LockoutPolicy) {
    this.#policy = policy
  }

  async attempt (username: string): Promise<LoginAttempt> {
    return this.attemptAt(username, Date.now())
  }

  async succeed (username: string): Promise<void> {
    this.#entries.delete(username)
  }

  /** Seconds until the username may try again (0: now), counting nothing. */
  lockedForAt (username: string, now: number): number {
    const lockedUntil = this.#entries.get(username)?.lockedUntil ?? 0
    return lockedUntil > now ? Math.ceil((lockedUntil - now) / 1000) : 0
  }

  /** Holds a lock learned elsewhere (from Redis), so it outlives Redis going away. */
  lockUntil (username: string, lockedUntil: number, now: number): void {
    const entry = this.#entries.get(username) ?? { attempts: 0, lockedUntil: 0, lastAttempt: now }
    entry.lockedUntil = Math.max(entry.lockedUntil, lockedUntil)
    entry.seenAt = now
    this.#remember(username, entry)
  }

  /** Seconds left of a lock learned from Redis before `time` (0: none). */
  lockedSince (username: string, time: number, now: number): number {
    const entry = this.#entries.get(username)
    if (entry?.seenAt === undefined || entry.seenAt >= time) return 0
    return this.lockedForAt(username, now)
  }

  attemptAt (username: string, now: number): LoginAttempt {
    const entry = this.#entries.get(username) ?? { attempts: 0, lockedUntil: 0, lastAttempt: now }
    if (entry.lockedUntil > now) {
      return { lockedFor: Math.ceil((entry.lockedUntil - now) / 1000), locks: 0 }
    }
    // A quiet spell as long as the longest lock forgives earlier attempts.
    if (now - entry.lastAttempt > this.#policy.maxDuration * 1000) entry.attempts = 0

    entry.attempts += 1
    entry.lastAttempt = now
    this.#remember(username, entry)
    const locks = lockSeconds(this.#policy, entry.attempts)
    if (locks > 0) entry.lockedUntil = now + locks * 1000
    return { lockedFor: 0, locks }
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
 * One attempt, atomically. KEYS: attempts, lock. ARGV: threshold, first lock and longest lock in
 * milliseconds. While locked: the negative milliseconds left. Otherwise the attempt is counted
 * (the count is forgotten after a quiet spell as long as the longest lock), the lock it earns is
 * set, and its milliseconds (or 0) are the answer.
 */
const ATTEMPT_SCRIPT = `
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return -left end
local attempts = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local threshold = tonumber(ARGV[1])
if attempts < threshold then return 0 end
local lock = math.min(tonumber(ARGV[2]) * 2 ^ (attempts - threshold), tonumber(ARGV[3]))
redis.call('SET', KEYS[2], '1', 'PX', lock)
return lock
`

type AttemptCommand = (attempts: string, lock: string, threshold: number, first: number,
  longest: number) => Promise<number>

/**
 * Lockout state in Redis, so attempts add up across replicas. While Redis is away, this process
 * counts on its own, so guessing stays slow during an outage.
 */
export class SharedLockout implements Lockout {
  readonly #policy: LockoutPolicy
  readonly #redis: SharedRedis
  readonly #local: LoginLockout
  readonly #attempt: AttemptCommand

  constructor (policy: LockoutPolicy, redis: SharedRedis) {
    this.#policy = policy
    this.#redis = redis
    this.#local = new LoginLockout(policy)
    redis.client.defineCommand('tokenIssuerLoginAttempt', { numberOfKeys: 2, lua: ATTEMPT_SCRIPT })
    const client = redis.client as unknown as Record<'tokenIssuerLoginAttempt', AttemptCommand>
    this.#attempt = client.tokenIssuerLoginAttempt.bind(client)
  }

  async attempt (username: string): Promise<LoginAttempt> {
    if (!this.#redis.up) return await this.#local.attempt(username)
    const now = Date.now()
    // A lock this replica saw before Redis restarted empty holds: Redis no longer knows it.
    // Otherwise Redis is the truth, so a success elsewhere lifts a lock everywhere.
    const held = this.#local.lockedSince(username, this.#redis.restartedAt, now)
    if (held > 0) return { lockedFor: held, locks: 0 }

    const { threshold, duration, maxDuration } = this.#policy
    try {
      const milliseconds = await this.#attempt(attemptsKey(username), lockKey(username),
        threshold, duration * 1000, maxDuration * 1000)
      if (milliseconds !== 0) this.#local.lockUntil(username, now + Math.abs(milliseconds), now)
      const seconds = Math.ceil(Math.abs(milliseconds) / 1000)
      return milliseconds < 0 ? { lockedFor: seconds, locks: 0 } : { lockedFor: 0, locks: seconds }
    } catch (error) {
      this.#redis.failed(error)
      return await this.#local.attempt(username)
    }
  }

  async succeed (username: string): Promise<void> {
    await this.#local.succeed(username)
    if (!this.#redis.up) return
    await this.#redis.client.del(attemptsKey(username), lockKey(username)).catch(() => {})
  }
}

function attemptsKey (username: string): string {
  return `lockout:attempts:${username}`
}

function lockKey (username: string): string {
  return `lockout:lock:${username}`
}
