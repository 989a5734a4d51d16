import fp from 'fastify-plugin'
import { createDecoder, createVerifier } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { ConfigError, InvalidTokenError } from '../src/errors.js'
import { isHttpUrl, RemoteKeySet, type RemoteKey } from '../src/remote-keys.js'
import type { AccessTokenClaims, AccessTokenVerifier } from '../src/verify.js'
import { bearerAuthenticator } from './authenticate.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Verifies an access token: with the issuer's plugin, against its own keys; with the
     * token verifier, against the issuer's published keys. Rejects with FTI_INVALID_TOKEN.
     */
    verifyAccessToken: AccessTokenVerifier
  }
}

/** The algorithms a resource server may accept: asymmetric ones only, whose keys are public. */
export const VERIFIER_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const
export type VerifierAlgorithm = typeof VERIFIER_ALGORITHMS[number]

export interface TokenVerifierOptions {
  /**
   * The issuer URL. Tokens must carry it as `iss`. Without `jwksUrl`, its RFC 8414 metadata
   * (`<issuer>/.well-known/oauth-authorization-server`) gives the key set's address.
   */
  issuer?: string
  /**
   * The key set's address. Given alone, `iss` is NOT checked: any token signed by a key of the
   * set passes, whoever issued it. Give `issuer` too whenever the issuer is known.
   */
  jwksUrl?: string
  /** Who the tokens must be for: `aud` must hold this value, or one of these. */
  audience: string | string[]
  /** The algorithms accepted; all of ES256, EdDSA and RS256 by default. */
  algorithms?: VerifierAlgorithm[]
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`; 5 by default. */
  clockTolerance?: number
  /**
   * Seconds between key set fetches caused by unknown kids, and before a failed fetch is tried
   * again; 30 by default.
   */
  cooldown?: number
  /**
   * Seconds at most the key set is kept before it is fetched again; 600 by default. Below that,
   * the key set answer's Cache-Control max-age decides (300 s without one).
   */
  maxCacheAge?: number
  /** Seconds a key set or metadata fetch may take; 5 by default. */
  fetchTimeout?: number
  /** The realm of the `WWW-Authenticate: Bearer` challenge; 'api' by default. */
  realm?: string
}

const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']

interface KeyVerifier {
  alg: string
  verify: (token: string) => AccessTokenClaims
}

/**
 * Verifies our access tokens on a resource server, offline, with the keys the issuer publishes
 * (RFC 7517 key set, RFC 9068 tokens). Decorates `fastify.verifyAccessToken(token)` and the
 * `fastify.authenticate` preHandler, which sets `request.user` to the token's claims.
 *
 * A token passes when its header names a known `kid` with that key's own `alg` (RFC 8725 §3.1),
 * `typ` is `at+jwt`, the signature verifies, and `iss` (with `issuer`), `aud`, `exp`, `iat`, `sub`
 * and `jti` are right, with `clockTolerance`. HMAC and `none` are never accepted. Being offline,
 * it cannot see revocations: a revoked access token passes until it expires (ask the issuer's
 * `/introspect` where that matters).
 */
async function tokenVerifierPlugin (fastify: FastifyInstance, options: TokenVerifierOptions) {
  const settings = checkOptions(options)
  const { issuer, audience, algorithms } = settings

  const keySet = new RemoteKeySet<KeyVerifier>({
    ...(issuer === undefined ? {} : { issuer }),
    ...(settings.jwksUrl === undefined ? {} : { jwksUrl: settings.jwksUrl }),
    algorithms,
    fetchTimeout: settings.fetchTimeout,
    cooldown: settings.cooldown,
    maxCacheAge: settings.maxCacheAge,
    log: fastify.log,
    // One verifier per key, built when the key set is loaded.
    prepare: (key: RemoteKey): KeyVerifier => ({
      alg: key.alg,
      verify: createVerifier({
        key: key.pem,
        algorithms: [key.alg as VerifierAlgorithm],
        ...(issuer === undefined ? {} : { allowedIss: issuer }),
        allowedAud: audience,
        requiredClaims: REQUIRED_CLAIMS,
        checkTyp: 'at+jwt',
        clockTolerance: settings.clockTolerance * 1000,
        cache: false
      }) as (token: string) => AccessTokenClaims
    })
  })
  fastify.addHook('onClose', async () => { keySet.close() })

  const decode = createDecoder({ complete: true })

  /**
   * Resolves the claims of a valid access token; rejects with FTI_INVALID_TOKEN. An `audience`
   * given here narrows the configured one: `aud` must then match both.
   */
  async function verifyAccessToken (
    token: string, { audience: narrowed }: { audience?: string | string[] } = {}
  ): Promise<AccessTokenClaims> {
    let header: { kid?: unknown, alg?: unknown }
    try {
      header = (decode(token) as { header: { kid?: unknown, alg?: unknown } }).header
    } catch {
      throw new InvalidTokenError('The access token is malformed')
    }
    const { kid, alg } = header
    // Checked before any key lookup, so a forged header cannot make us fetch.
    if (typeof kid !== 'string' || typeof alg !== 'string' || !algorithms.includes(alg)) {
      throw new InvalidTokenError('The access token is invalid or expired')
    }

    let key: KeyVerifier | undefined
    try {
      key = await keySet.get(kid)
    } catch (error) {
      throw new InvalidTokenError(`The issuer's keys are unavailable: ${(error as Error).message}`)
    }
    if (key === undefined || key.alg !== alg) {
      throw new InvalidTokenError('The access token is invalid or expired')
    }

    let claims: AccessTokenClaims
    try {
      claims = key.verify(token)
    } catch {
      throw new InvalidTokenError('The access token is invalid or expired')
    }
    if (typeof claims.sub !== 'string' || claims.sub === '' || typeof claims.jti !== 'string') {
      throw new InvalidTokenError('The access token is invalid or expired')
    }
    if (narrowed !== undefined && !audienceMatches(claims.aud, narrowed)) {
      throw new InvalidTokenError('The access token is not for this audience')
    }
    return claims
  }

  fastify.decorate('verifyAccessToken', verifyAccessToken)
  fastify.decorate('authenticate', bearerAuthenticator(verifyAccessToken, settings.realm))
  // `null` until `authenticate` sets it (the empty dependency list picks the typed overload).
  if (!fastify.hasRequestDecorator('user')) fastify.decorateRequest('user', null, [])
}

function audienceMatches (aud: string | string[], wanted: string | string[]) {
  const present = Array.isArray(aud) ? aud : [aud]
  const accepted = Array.isArray(wanted) ? wanted : [wanted]
  return present.some((value) => accepted.includes(value))
}

interface Settings {
  issuer: string | undefined
  jwksUrl: string | undefined
  audience: string | string[]
  algorithms: string[]
  clockTolerance: number
  cooldown: number
  maxCacheAge: number
  fetchTimeout: number
  realm: string
}

function fail (message: string): never {
  throw new ConfigError(`tokenVerifier: ${message}`)
}

/** The options with their defaults; a bad one throws ConfigError naming it. */
function checkOptions (options: TokenVerifierOptions): Settings {
  if (typeof options !== 'object' || options === null) fail('options are required')
  const { issuer, jwksUrl, audience, algorithms = [...VERIFIER_ALGORITHMS] } = options

  if (issuer !== undefined) {
    // RFC 8414 §2: an http(s) URL without query or fragment (http for a laptop setup).
    if (typeof issuer !== 'string' || !isHttpUrl(issuer) ||
      new URL(issuer).search !== '' || new URL(issuer).hash !== '') {
      fail('issuer must be an absolute http(s) URL without query or fragment')
    }
  }
  if (jwksUrl !== undefined && (typeof jwksUrl !== 'string' || !isHttpUrl(jwksUrl))) {
    fail('jwksUrl must be an absolute http(s) URL')
  }
  if (issuer === undefined && jwksUrl === undefined) {
    fail('issuer or jwksUrl is required (both, to check iss with a known key set address)')
  }

  if (audience === undefined || audience === null ||
    (Array.isArray(audience) && audience.length === 0)) {
    fail('audience is required')
  }
  const audiences = Array.isArray(audience) ? audience : [audience]
  if (!audiences.every((value) => typeof value === 'string' && value !== '')) {
    fail('audience must be a non-empty string or an array of them')
  }

  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    fail(`algorithms must be a non-empty subset of ${VERIFIER_ALGORITHMS.join(', ')}`)
  }
  for (const algorithm of algorithms as unknown[]) {
    if (typeof algorithm === 'string' && /^(hs\d+|none)$/i.test(algorithm)) {
      fail(`algorithms must not include ${algorithm}: a resource server verifies with public ` +
        'keys only (HMAC needs the shared secret, and none is no signature)')
    }
    if (!(VERIFIER_ALGORITHMS as readonly unknown[]).includes(algorithm)) {
      fail(`algorithms may only include ${VERIFIER_ALGORITHMS.join(', ')}, ` +
        `not ${JSON.stringify(algorithm)}`)
    }
  }

  const realm = options.realm ?? 'api'
  // It goes into a quoted string of the challenge header.
  if (typeof realm !== 'string' || realm === '' || !/^[\x20-\x7e]+$/.test(realm) ||
    /["\\]/.test(realm)) {
    fail('realm must be printable ASCII without quotes or backslashes')
  }

  return {
    issuer,
    jwksUrl,
    audience,
    algorithms: [...new Set(algorithms)],
    clockTolerance: seconds(options, 'clockTolerance', 5),
    cooldown: seconds(options, 'cooldown', 30),
    maxCacheAge: seconds(options, 'maxCacheAge', 600),
    fetchTimeout: seconds(options, 'fetchTimeout', 5, true),
    realm
  }
}

type SecondsOption = 'clockTolerance' | 'cooldown' | 'maxCacheAge' | 'fetchTimeout'

function seconds (
  options: TokenVerifierOptions, name: SecondsOption, fallback: number, positive = false
): number {
  const value = options[name] ?? fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 ||
    (positive && value === 0)) {
    fail(`${name} must be a ${positive ? 'positive' : 'non-negative'} number of seconds`)
  }
  return value
}

/** Verifies the access tokens of an issuer offline; see {@link TokenVerifierOptions}. */
export const tokenVerifier = fp(tokenVerifierPlugin, {
  name: 'fastify-token-verifier',
  fastify: '5.x'
})

export default tokenVerifier
