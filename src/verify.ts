import { createDecoder, createVerifier } from 'fast-jwt'
import type { SigningAlgorithm } from './config.js'
import { InvalidTokenError } from './errors.js'
import type { VerificationKey } from './keys.js'
import type { RevokedTokenStore } from './store/revoked-tokens.js'

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
  keys: Map<string, VerificationKey>
  issuer: string
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
  clockTolerance: number
  revoked: RevokedTokenStore
}

export type AccessTokenVerifier = (
  token: string, options?: { audience?: string | string[] }
) => Promise<AccessTokenClaims>

const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']

/**
 * Verifies our own access tokens: the key is picked by `kid` among ours and its algorithm is the
 * only one allowed (RFC 8725 §3.1), `typ` must be `at+jwt`, the RFC 9068 claims must be there, and
 * a revoked `jti` fails. Verifiers are built once here, one per audience asked for.
 */
export function createAccessTokenVerifier (options: VerifierOptions): AccessTokenVerifier {
  const algorithms = [...new Set([...options.keys.values()].map((key) => key.algorithm))]
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

  return async function verifyAccessToken (token, { audience } = {}) {
    let claims: AccessTokenClaims
    try {
      const { header } = decode(token) as { header: { kid?: unknown, alg?: unknown } }
      const key = typeof header.kid === 'string' ? options.keys.get(header.kid) : undefined
      if (key === undefined || !algorithms.includes(header.alg as SigningAlgorithm)) {
        throw new Error('unknown key')
      }
      claims = verifierFor(audience, key.algorithm, key.key, header.kid as string)(token)
    } catch {
      throw new InvalidTokenError('The access token is invalid or expired')
    }

    if (await options.revoked.has(claims.jti)) {
      throw new InvalidTokenError('The access token has been revoked')
    }
    return claims
  }
}
