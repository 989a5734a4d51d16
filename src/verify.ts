import { createDecoder, createVerifier } from 'fast-jwt'
import type { SigningAlgorithm } from './config.js'
import { InvalidTokenError } from './errors.js'
import type { VerificationKeys } from './keys.js'
import type { DenyList } from './deny-list.js'

/** The claims of a verified access token. */
export interface AccessTokenClaims {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  jti: string
  client_id?: string
  scope?: string
  [claim: string]: unknown
}

export interface VerifierOptions {
  /** Our keys by kid; the set may change (rotation) between calls. */
  keys: VerificationKeys
  issuer: string
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
  clockTolerance: number
  revoked: Pick<DenyList, 'has'>
}

export type AccessTokenVerifier = (
  token: string, options?: { audience?: string | string[] }
) => Promise<AccessTokenClaims>

export interface OwnTokenVerifier {
  /** Every check, revocation included; rejects with FTI_INVALID_TOKEN. */
  verify: AccessTokenVerifier
  /** Every check but revocation, synchronously; throws FTI_INVALID_TOKEN. */
  verifySigned: (token: string, audience?: string | string[]) => AccessTokenClaims
}

const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']

/**
 * Verifies our own access tokens: the key is picked by `kid` among ours and its algorithm is the
 * only one allowed (RFC 8725 §3.1), `typ` must be `at+jwt`, the RFC 9068 claims must be there, and
 * a revoked `jti` fails. Verifiers are built once here, one per audience asked for.
 */
export function createAccessTokenVerifier (options: VerifierOptions): OwnTokenVerifier {
  const decode = createDecoder({ complete: true })
  const verifiers = new Map<string, (token: string) => AccessTokenClaims>()

  function verifierFor (audience: string | string[] | undefined, algorithm: SigningAlgorithm,
    key: string | Buffer, kid: string) {
    const cacheKey = `${kid}\0${JSON.stringify(audience ?? null)}`
    let verify = verifiers.get(cacheKey)
    if (verify === undefined) {
      verify = createVerifier({
        key,
        algorithms: [algorithm],
        allowedIss: options.issuer,
        ...(audience === undefined ? {} : { allowedAud: audience }),
        requiredClaims: REQUIRED_CLAIMS,
        checkTyp: 'at+jwt',
        clockTolerance: options.clockTolerance * 1000,
        cache: false
      }) as (token: string) => AccessTokenClaims
      verifiers.set(cacheKey, verify)
    }
    return verify
  }

  /** Signature, algorithm, `typ` and claims; throws FTI_INVALID_TOKEN. No revocation check. */
  function verifySigned (token: string, audience?: string | string[]): AccessTokenClaims {
    try {
      const { header } = decode(token) as { header: { kid?: unknown, alg?: unknown } }
      const key = typeof header.kid === 'string'
        ? options.keys.verificationKey(header.kid)
        : undefined
      // Each key verifies with its own algorithm only: the header cannot choose another.
      if (key === undefined || header.alg !== key.algorithm) throw new Error('unknown key')
      return verifierFor(audience, key.algorithm, key.key, header.kid as string)(token)
    } catch {
      throw new InvalidTokenError('The access token is invalid or expired')
    }
  }

  async function verify (token: string, { audience }: { audience?: string | string[] } = {}) {
    const claims = verifySigned(token, audience)
    if (await options.revoked.has(claims.jti)) {
      throw new InvalidTokenError('The access token has been revoked')
    }
    return claims
  }

  return { verify, verifySigned }
}
