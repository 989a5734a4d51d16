import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import argon2 from 'argon2'
import pLimit, { type LimitFunction } from 'p-limit'
import { BusyError } from './errors.js'

/**
 * argon2id at the OWASP Password Storage Cheat Sheet's first recommended setting:
 * 19 MiB of memory, 2 iterations, 1 lane. Hashing runs on libuv's thread pool, off the event loop.
 */
export const ARGON2_OPTIONS = Object.freeze({
  type: argon2.argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1
})

export async function hashPassword (password: string): Promise<string> {
  return await argon2.hash(password, ARGON2_OPTIONS)
}

/**
 * Verifications at once, by default one CPU fewer than the machine has: argon2 would otherwise
 * take every CPU, and the event loop, which answers everything else (health probes included),
 * would wait its turn behind it. Logins queue instead; they are no slower for it.
 */
export function defaultHashConcurrency (): number {
  return Math.max(1, availableParallelism() - 1)
}

export interface PasswordVerifierOptions {
  /** Hears how long each verification took, in seconds. */
  observe?: (seconds: number) => void
  /** Verifications at once (default: defaultHashConcurrency()). */
  concurrency?: number
  /** Verifications that may wait for a turn (default: 64 per one at once). */
  maxWaiting?: number
}

/** About 1.6 s of waiting at 25 ms a verification: past that a client is better told to retry. */
const WAITING_PER_SLOT = 64

/**
 * Verifies passwords so that a login for an unknown account costs what a wrong password costs:
 * without a stored hash it verifies against a dummy hash made with the same parameters.
 */
export class PasswordVerifier {
  readonly #dummyHash: string
  readonly #observe: (seconds: number) => void
  readonly #limit: LimitFunction
  readonly #maxWaiting: number

  private constructor (dummyHash: string, options: PasswordVerifierOptions) {
    this.#dummyHash = dummyHash
    this.#observe = options.observe ?? (() => {})
    const concurrency = options.concurrency ?? defaultHashConcurrency()
    this.#limit = pLimit(concurrency)
    this.#maxWaiting = options.maxWaiting ?? concurrency * WAITING_PER_SLOT
  }

  static async create (options: PasswordVerifierOptions = {}): Promise<PasswordVerifier> {
    const dummy = await hashPassword(randomBytes(32).toString('base64url'))
    return new PasswordVerifier(dummy, options)
  }

  /**
   * True only for a stored hash that matches; always does one argon2id verification, the same
   * for every caller, so the queue in front of it says nothing about the account either.
   */
  async verify (storedHash: string | undefined, password: string): Promise<boolean> {
    // A flood of logins would otherwise queue without end, each waiting longer than the last,
    // until clients time out and retry into the same queue: refused at once instead (503).
    if (this.#limit.pendingCount >= this.#maxWaiting) {
      throw new BusyError('Too many logins are waiting; try again shortly')
    }
    return await this.#limit(async () => {
      const started = performance.now()
      try {
        const matches = await argon2.verify(storedHash ?? this.#dummyHash, password)
        return matches && storedHash !== undefined
      } catch {
        // A hash that does not parse cannot match; the account needs a new password.
        return false
      } finally {
        this.#observe((performance.now() - started) / 1000)
      }
    })
  }

  /** True when a hash was made with other parameters than the current ones. */
  needsRehash (storedHash: string): boolean {
    try {
      return argon2.needsRehash(storedHash, ARGON2_OPTIONS)
    } catch {
      return true
    }
  }
}
