import { randomBytes } from 'node:crypto'
import argon2 from 'argon2'

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
 * Verifies passwords so that a login for an unknown account costs what a wrong password costs:
 * without a stored hash it verifies against a dummy hash made with the same parameters.
 */
export class PasswordVerifier {
  readonly #dummyHash: string
  readonly #observe: (seconds: number) => void

  private constructor (dummyHash: string, observe: (seconds: number) => void) {
    this.#dummyHash = dummyHash
    this.#observe = observe
  }

  /** `observe` hears how long each verification took, in seconds. */
  static async create (observe: (seconds: number) => void = () => {}): Promise<PasswordVerifier> {
    const dummy = await hashPassword(randomBytes(32).toString('base64url'))
    return new PasswordVerifier(dummy, observe)
  }

  /** True only for a stored hash that matches; always does one argon2id verification. */
  async verify (storedHash: string | undefined, password: string): Promise<boolean> {
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
