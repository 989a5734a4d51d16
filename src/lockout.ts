/** Seconds. */
export interface LockoutPolicy {
  /** Failed logins in a row after which a username is locked. */
  threshold: number
  /** The first lock; each further failure after a lock doubles it. */
  duration: number
  /** The longest lock. */
  maxDuration: number
}

interface Entry {
  failures: number
  lockedUntil: number
  lastFailure: number
}

/** Usernames tracked at most; the least recently failed are forgotten first. */
const MAX_ENTRIES = 100_000

/**
 * Counts failed logins per username, known or not (so a lock says nothing about whether the
 * account exists), and locks a username for a progressively longer time once it reaches the
 * threshold. A success resets it. State is in this process: replicas count separately.
 */
export class LoginLockout {
  readonly #policy: LockoutPolicy
  readonly #entries = new Map<string, Entry>()

  constructor (policy: LockoutPolicy) {
    this.#policy = policy
  }

  /** Seconds until the username may try again, or 0 when it may try now. */
  lockedFor (username: string, now = Date.now()): number {
    const entry = this.#entries.get(username)
    if (entry === undefined || entry.lockedUntil <= now) return 0
    return Math.ceil((entry.lockedUntil - now) / 1000)
  }

  /** Records a failure; resolves the seconds of the lock it starts, or 0. */
  fail (username: string, now = Date.now()): number {
    const { threshold, duration, maxDuration } = this.#policy
    const entry = this.#entries.get(username) ?? { failures: 0, lockedUntil: 0, lastFailure: now }
    // A quiet spell as long as the longest lock forgives earlier failures.
    if (now - entry.lastFailure > maxDuration * 1000) entry.failures = 0

    entry.failures += 1
    entry.lastFailure = now
    this.#remember(username, entry)
    if (entry.failures < threshold) return 0

    const seconds = Math.min(duration * 2 ** (entry.failures - threshold), maxDuration)
    entry.lockedUntil = now + seconds * 1000
    return seconds
  }

  succeed (username: string): void {
    this.#entries.delete(username)
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
