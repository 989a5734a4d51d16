import { randomUUID } from 'node:crypto'
import { InvalidClaimsError } from './errors.js'

/** The body of a successful token response (RFC 6749 §5.1). */
export interface AccessTokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
}

/** Claims a caller may put in a payload; the signer adds `iss`, `aud`, `iat` and `exp`. */
export interface TokenClaims {
  sub: string
  jti?: string
  [claim: string]: unknown
}

/** Claims only the signer sets: a payload that carries one is refused rather than overridden. */
const SIGNER_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf'])
/** Keys that must never be copied into a payload (prototype pollution, C09). */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
/** What a caller may still set per call; everything else is fixed when the signer is built. */
const SIGN_OPTIONS = new Set(['expiresIn', 'notBefore'])

type RawSign = (payload: object, options?: object) => string
export type SignCallback = (error: Error | null, token?: string) => void

/**
 * The payload to sign, copied out of what a caller gave: a plain JSON object with a `sub`, none of
 * the signer's claims, and a fresh `jti` unless one was given. A string, a Buffer, an array or a
 * class instance carries no claims at all, so it is refused here instead of being signed.
 */
export function claimsFrom (payload: unknown, audience: string): TokenClaims {
  if (!isPlainObject(payload)) {
    throw new InvalidClaimsError(
      'A token payload must be a plain object of claims, such as { sub }'
    )
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new InvalidClaimsError('A token payload needs a non-empty string "sub" claim')
  }

  const claims: TokenClaims = { sub: payload.sub, jti: randomUUID() }
  for (const [name, value] of Object.entries(payload)) {
    if (SIGNER_CLAIMS.has(name)) {
      throw new InvalidClaimsError(`The "${name}" claim is set by the signer and cannot be given`)
    }
    if (!UNSAFE_KEYS.has(name) && value !== undefined) claims[name] = value
  }
  claims.aud = audience
  return claims
}

function checkSignOptions (options: unknown): object | undefined {
  if (options === undefined) return undefined
  if (!isPlainObject(options)) {
    throw new InvalidClaimsError(
      'sign(payload, options): options must be an object such as { expiresIn: "1h" }; ' +
      'the key is fixed when the plugin is registered'
    )
  }
  for (const name of Object.keys(options)) {
    if (!SIGN_OPTIONS.has(name)) {
      throw new InvalidClaimsError(
        `sign() takes only expiresIn and notBefore options, not "${name}"`
      )
    }
  }
  return options
}

/**
 * Wraps @fastify/jwt's sign so that every token it returns is an RFC 9068 access token:
 * an object payload with `sub` and `jti`, and `iss`, `aud`, `iat`, `exp` from the signer.
 */
export function guardedSign (rawSign: RawSign, audience: string) {
  function sign (payload: unknown, options?: unknown, callback?: SignCallback): string | undefined {
    if (typeof options === 'function') return sign(payload, undefined, options as SignCallback)
    // Mistakes in the call itself throw at once, whichever form the call takes.
    const signOptions = checkSignOptions(options)
    if (callback !== undefined && typeof callback !== 'function') {
      throw new InvalidClaimsError('sign(payload, options, callback): callback must be a function')
    }

    if (callback === undefined) return rawSign(claimsFrom(payload, audience), signOptions)
    try {
      callback(null, rawSign(claimsFrom(payload, audience), signOptions))
    } catch (error) {
      callback(error as Error)
    }
    return undefined
  }
  return sign
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}
