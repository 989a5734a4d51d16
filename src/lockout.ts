import { randomUUID } from 'node:crypto'
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

/** How a login attempt ended: the password checked right or wrong, or not checked (503, say). */
export type Outcome = 'success' | 'failure' | 'error'

/** A login attempt that may go on: it must be settled with its outcome, whatever happens. */
export interface Admitted {
  refused: false
  /** Records the outcome; resolves the seconds of the lock a failure starts (0: none). */
  settle: (outcome: Outcome) => Promise<number>
}

export interface Refused {
  refused: true
  /** Seconds until the username may try again. */
  retryAfter: number
  /** True when refused because as many attempts as may fail are under way, not for a lock. */
  busy: boolean
}

/**
 * Counts failed logins per username, known or not (so a lock says nothing about whether the
 * account exists), and locks a username for a progressively longer time once the failures reach
 * the threshold; a success resets the count. Attempts under way count against the threshold until
 * they end, so a burst of parallel guesses gets as many password checks as may fail, no more;
 * only failures lock, so a burst of right passwords, or attempts the store could not answer, never
 * lock anyone.
 */
export interface Lockout {
  attempt: (username: string) => Promise<Admitted | Refused>
}

/**
 * How many attempts may be under way at once: as many as may still fail before the threshold,
 * and once a lock has passed, one at a time (its failure doubles the lock).
 */
function budget (threshold: number, failures: number): number {
  return failures >= threshold ? 1 : threshold - failures
}

/** The lock that the `failures`-th failure in a row starts, in seconds (0: none). */
function lockSeconds (policy: LockoutPolicy, failures: number): number {
  if (failures < policy.threshold) return 0
  return Math.min(policy.duration * 2 ** (failures - policy.threshold), policy.maxDuration)
}

interface Entry {
  failures: number
  /** Attempts admitted and not yet settled. */
  underWay: number
  lockedUntil: number
  lastFailure: number
  /** When a lock learned from Redis was last seen there. */
  seenAt?: number
  /** The lock was set here (while Redis was away): Redis does not know it. */
  ownLock?: boolean
  /** Failures counted here that Redis has not heard of (with Redis only; 0 otherwise unread). */
  unheard?: number
}

/** Usernames tracked at most; the least recently used are forgotten first. */
const MAX_ENTRIES = 100_000

/** Lockout state in this process: replicas count separately, and a restart forgets it. */
export class LoginLockout implements Lockout {
  readonly #policy: LockoutPolicy
  readonly #entries = new Map<string, Entry>()

  constructor (policy: LockoutPolicy) {
    this.#policy = policy
  }

  async attempt (username: string): Promise<Admitted | Refused> {
    return this.attemptAt(username, Date.now())
  }

  attemptAt (username: string, now: number): Admitted | Refused {
    const entry = this.#entry(username, now)
    if (entry.lockedUntil > now) {
      return { refused: true, retryAfter: Math.ceil((entry.lockedUntil - now) / 1000), busy: false }
    }
    this.#forgive(entry, now)
    if (entry.underWay >= budget(this.#policy.threshold, entry.failures)) {
      return { refused: true, retryAfter: 1, busy: true }
    }

    entry.underWay += 1
    let settled = false
    return {
      refused: false,
      settle: async (outcome) => {
        if (settled) return 0
        settled = true
        return this.#settle(username, entry, outcome, Date.now())
      }
    }
  }

  /**
   * Counts a failure of an attempt admitted elsewhere (by Redis, which went away before it could
   * hear the outcome); resolves the seconds of the lock it starts (0: none).
   */
  failAt (username: string, now: number, redisMayHaveIt: boolean): number {
    const entry = this.#entry(username, now)
    this.#forgive(entry, now)
    return this.#fail(entry, now, redisMayHaveIt ? 0 : 1)
  }

  /**
   * Takes the failure count Redis gave (a mirror, so that a fallback to this process while Redis
   * is away goes on from it, not from zero).
   */
  learn (username: string, failures: number, now: number): void {
    const entry = this.#entry(username, now)
    if (failures > entry.failures || failures === 0) entry.lastFailure = now
    entry.failures = failures + (entry.unheard ?? 0)
  }

  /** Failures counted here that Redis has not heard of yet. */
  unheard (username: string): number {
    return this.#entries.get(username)?.unheard ?? 0
  }

  /** Redis has added `count` of the unheard failures to its own. */
  heard (username: string, count: number): void {
    const entry = this.#entries.get(username)
    if (entry?.unheard !== undefined) entry.unheard = Math.max(0, entry.unheard - count)
  }

  /**
   * Counts an attempt Redis admitted as under way here too, until the returned function is
   * called: should Redis go away meanwhile, this process still knows what is being checked.
   */
  hold (username: string, now: number): () => void {
    const entry = this.#entry(username, now)
    entry.underWay += 1
    let released = false
    return () => {
      if (released) return
      released = true
      entry.underWay -= 1
    }
  }

  /** Seconds until the username may try again (0: now), counting nothing. */
  lockedForAt (username: string, now: number): number {
    const lockedUntil = this.#entries.get(username)?.lockedUntil ?? 0
    return lockedUntil > now ? Math.ceil((lockedUntil - now) / 1000) : 0
  }

  /** Holds a lock learned elsewhere (from Redis), so it outlives Redis going away. */
  lockUntil (username: string, lockedUntil: number, now: number): void {
    const entry = this.#entry(username, now)
    entry.lockedUntil = Math.max(entry.lockedUntil, lockedUntil)
    entry.seenAt = now
    entry.ownLock = false
  }

  /** A success lifts a lock learned from Redis too. */
  forget (username: string): void {
    const entry = this.#entries.get(username)
    if (entry !== undefined && entry.underWay === 0) this.#entries.delete(username)
    else if (entry !== undefined) {
      Object.assign(entry, { failures: 0, lockedUntil: 0, ownLock: false, unheard: 0 })
    }
  }

  /**
   * Seconds left of a lock Redis does not know (0: none): one set here while Redis was away, or
   * one learned from Redis before `time`, when Redis restarted empty.
   */
  heldAt (username: string, time: number, now: number): number {
    const entry = this.#entries.get(username)
    const unknownToRedis = entry?.ownLock === true ||
      (entry?.seenAt !== undefined && entry.seenAt < time)
    return unknownToRedis ? this.lockedForAt(username, now) : 0
  }

  #settle (username: string, entry: Entry, outcome: Outcome, now: number): number {
    entry.underWay -= 1
    if (outcome === 'success') {
      entry.failures = 0
      entry.lockedUntil = 0
      entry.unheard = 0
    }
    if (outcome !== 'failure') {
      if (entry.failures === 0 && entry.underWay === 0 && entry.lockedUntil <= now) {
        this.#entries.delete(username)
      }
      return 0
    }
    return this.#fail(entry, now)
  }

  /** A quiet spell as long as the longest lock forgives earlier failures. */
  #forgive (entry: Entry, now: number): void {
    if (now - entry.lastFailure > this.#policy.maxDuration * 1000) {
      entry.failures = 0
      entry.unheard = 0
    }
  }

  #fail (entry: Entry, now: number, unheard = 1): number {
    entry.failures += 1
    entry.unheard = (entry.unheard ?? 0) + unheard
    entry.lastFailure = now
    const seconds = lockSeconds(this.#policy, entry.failures)
    if (seconds > 0) {
      entry.lockedUntil = now + seconds * 1000
      entry.ownLock = true
    }
    return seconds
  }

  #entry (username: string, now: number): Entry {
    let entry = this.#entries.get(username)
    if (entry === undefined) {
      entry = { failures: 0, underWay: 0, lockedUntil: 0, lastFailure: now }
    }
    // Most recently used last: the first one is the one to forget.
    this.#entries.delete(username)
    this.#entries.set(username, entry)
    if (this.#entries.size > MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
    return entry
  }
}

/** An attempt that never settles (its replica died) stops counting after this. */
const UNDER_WAY_MS = 30_000

/**
 * Admits an attempt, atomically. KEYS: failures, attempts under way (a sorted set of ids by
 * time), lock. ARGV: threshold, id, now (ms), failures the replica counted while Redis was away
 * (added first), the longest lock (ms, for their expiry), '1' when a login succeeded there
 * meanwhile (the count and lock are cleared before those failures are added), then ids the
 * replica abandoned (removed first).
 * Answers { verdict, lock milliseconds left, failures }: verdict 0 admitted (the attempt is
 * added), 1 locked, 2 refused with as many attempts under way as may still fail (one, once a
 * lock has passed).
 */
const ADMIT_SCRIPT = `
for i = 7, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end
if ARGV[6] == '1' then redis.call('DEL', KEYS[1], KEYS[3]) end
if tonumber(ARGV[4]) > 0 then
  redis.call('INCRBY', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = redis.call('PTTL', KEYS[3])
if left > 0 then return { 1, left, failures } end
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ${UNDER_WAY_MS})
local threshold = tonumber(ARGV[1])
local budget = threshold - failures
if failures >= threshold then budget = 1 end
if redis.call('ZCARD', KEYS[2]) >= budget then return { 2, 0, failures } end
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[2], ${UNDER_WAY_MS})
return { 0, 0, failures }
`

/**
 * Settles an attempt. KEYS as above. ARGV: id, outcome, threshold, first lock and longest lock
 * in milliseconds. A failure is counted (the count is forgotten after a quiet spell as long as
 * the longest lock) and sets the lock it earns; a success clears the count and any lock.
 * Answers { lock milliseconds set (0: none), failures }.
 */
const SETTLE_SCRIPT = `
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == 'success' then
  redis.call('DEL', KEYS[1], KEYS[3])
  return { 0, 0 }
end
if ARGV[2] ~= 'failure' then
  return { 0, tonumber(redis.call('GET', KEYS[1]) or '0') }
end
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local threshold = tonumber(ARGV[3])
if failures < threshold then return { 0, failures } end
local lock = math.min(tonumber(ARGV[4]) * 2 ^ (failures - threshold), tonumber(ARGV[5]))
redis.call('SET', KEYS[3], '1', 'PX', lock)
return { lock, failures }
`

type Script = (...args: Array<string | number>) => Promise<number[]>

const ADMITTED = 0
const LOCKED = 1

/**
 * Lockout state in Redis, so attempts add up across replicas. This process mirrors what Redis
 * says of the usernames it serves (failures, locks, its own attempts under way), so that while
 * Redis is away it goes on from there rather than from zero, and locks it has seen hold after
 * Redis comes back empty.
 *
 * A command that timed out may still run when a stalled Redis wakes up, adding an attempt under
 * way that nothing settles. Such ids are remembered and removed when Redis is back and at the
 * next attempt for the username; until then (or UNDER_WAY_MS) they count against its budget.
 */
export class SharedLockout implements Lockout {
  readonly #policy: LockoutPolicy
  readonly #redis: SharedRedis
  readonly #local: LoginLockout
  readonly #admit: Script
  readonly #settle: Script
  /** Ids of attempts whose admit or settle timed out: id -> username and when. */
  readonly #abandoned = new Map<string, { username: string, at: number }>()
  /** Usernames that logged in here while Redis was away: Redis still holds their failures. */
  readonly #resets = new Set<string>()

  constructor (policy: LockoutPolicy, redis: SharedRedis) {
    this.#policy = policy
    this.#redis = redis
    this.#local = new LoginLockout(policy)
    redis.client.defineCommand('tokenIssuerAdmitLogin', { numberOfKeys: 3, lua: ADMIT_SCRIPT })
    redis.client.defineCommand('tokenIssuerSettleLogin', { numberOfKeys: 3, lua: SETTLE_SCRIPT })
    const client = redis.client as unknown as Record<string, Script>
    this.#admit = (client.tokenIssuerAdmitLogin as Script).bind(client)
    this.#settle = (client.tokenIssuerSettleLogin as Script).bind(client)
    redis.on('up', () => { this.#removeAbandoned() })
  }

  async attempt (username: string): Promise<Admitted | Refused> {
    if (!this.#redis.up) return this.#attemptHere(username)
    const now = Date.now()
    // A lock Redis does not know holds: one set here while Redis was away, or one seen before
    // Redis restarted empty. Otherwise Redis is the truth: a success elsewhere lifts a lock.
    const held = this.#local.heldAt(username, this.#redis.restartedAt, now)
    if (held > 0) return { refused: true, retryAfter: held, busy: false }

    const keys = keysOf(username)
    const id = randomUUID()
    // Failures checked here while Redis was away: Redis must count them too.
    const unheard = this.#local.unheard(username)
    const reset = this.#resets.has(username)
    let verdict: number[]
    try {
      verdict = await this.#admit(...keys, this.#policy.threshold, id, now, unheard,
        this.#policy.maxDuration * 1000, reset ? '1' : '0', ...this.#abandonedBy(username, now))
    } catch (error) {
      this.#abandon(id, username)
      this.#redis.failed(error)
      // A command that timed out may still run when Redis wakes: what it carried is not sent
      // again, or it would count twice.
      if (mayHaveRun(error)) this.#heard(username, unheard, reset)
      return this.#attemptHere(username)
    }
    const [outcome = ADMITTED, lockLeft = 0, failures = 0] = verdict
    this.#heard(username, unheard, reset)
    this.#local.learn(username, failures, now)
    if (outcome === LOCKED) {
      this.#local.lockUntil(username, now + lockLeft, now)
      return { refused: true, retryAfter: Math.ceil(lockLeft / 1000), busy: false }
    }
    if (outcome !== ADMITTED) return { refused: true, retryAfter: 1, busy: true }

    const release = this.#local.hold(username, now)
    let settled = false
    return {
      refused: false,
      settle: async (result) => {
        if (settled) return 0
        settled = true
        try {
          return await this.#settleIn(username, keys, id, result)
        } finally {
          // Only now: until Redis has the outcome (or has failed to take it), a fallback to
          // this process must still see the attempt under way.
          release()
        }
      }
    }
  }

  async #settleIn (
    username: string, keys: string[], id: string, outcome: Outcome
  ): Promise<number> {
    const { threshold, duration, maxDuration } = this.#policy
    if (outcome === 'success') this.#local.forget(username)
    try {
      const [milliseconds = 0, failures = 0] = await this.#settle(...keys, id, outcome, threshold,
        duration * 1000, maxDuration * 1000)
      const now = Date.now()
      this.#local.learn(username, failures, now)
      if (milliseconds > 0) this.#local.lockUntil(username, now + milliseconds, now)
      return Math.ceil(milliseconds / 1000)
    } catch (error) {
      // Counted here meanwhile; in Redis the attempt is removed once Redis answers again.
      this.#abandon(id, username)
      this.#redis.failed(error)
      const ran = mayHaveRun(error)
      if (outcome === 'success' && !ran) this.#resets.add(username)
      return outcome === 'failure' ? this.#local.failAt(username, Date.now(), ran) : 0
    }
  }

  /**
   * An attempt this process decides alone (Redis is away): a success is remembered, to clear
   * the count in Redis at the next attempt there; failures are kept as unheard by the process.
   */
  #attemptHere (username: string): Admitted | Refused {
    const attempt = this.#local.attemptAt(username, Date.now())
    if (attempt.refused) return attempt
    return {
      refused: false,
      settle: async (outcome) => {
        if (outcome === 'success') this.#resets.add(username)
        return await attempt.settle(outcome)
      }
    }
  }

  #heard (username: string, unheard: number, reset: boolean): void {
    this.#local.heard(username, unheard)
    if (reset) this.#resets.delete(username)
  }

  #abandon (id: string, username: string): void {
    this.#abandoned.set(id, { username, at: Date.now() })
  }

  /** The abandoned ids of a username still worth removing; older ones have expired anyway. */
  #abandonedBy (username: string, now: number): string[] {
    const ids: string[] = []
    for (const [id, entry] of this.#abandoned) {
      if (now - entry.at > UNDER_WAY_MS) this.#abandoned.delete(id)
      else if (entry.username === username) ids.push(id)
    }
    return ids
  }

  /**
   * Removes every abandoned id from Redis, now and once more a second later: a command the
   * stalled Redis still held may run after the first removal.
   */
  #removeAbandoned (): void {
    const remove = () => {
      const now = Date.now()
      for (const [id, { username, at }] of this.#abandoned) {
        if (now - at > UNDER_WAY_MS) {
          this.#abandoned.delete(id)
          continue
        }
        this.#redis.client.zrem(keysOf(username)[1] as string, id).catch(() => {})
      }
    }
    remove()
    setTimeout(remove, 1000).unref()
  }
}

/** A command that timed out was sent, and a stalled Redis may still run it when it wakes. */
function mayHaveRun (error: unknown): boolean {
  return /timed out/i.test((error as Error).message ?? '')
}

function keysOf (username: string): string[] {
  return [`lockout:failures:${username}`, `lockout:under-way:${username}`,
    `lockout:lock:${username}`]
}
