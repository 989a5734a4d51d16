import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import { parse as parseDuration } from '@lukeed/ms'
import { createSigner } from 'fast-jwt'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { SigningAlgorithm } from '../src/config.js'
import { InvalidClaimsError } from '../src/errors.js'
import {
  CLOCK_TOLERANCE_SECONDS, KEY_RELOAD_SECONDS, KeyRing, type ActiveKey
} from '../src/keys.js'
import type { DenyList } from '../src/deny-list.js'
import type { Store } from '../src/store/index.js'
import {
  claimsFrom, guardedSign, type AccessTokenResponse, type TokenClaims
} from '../src/tokens.js'
import { createAccessTokenVerifier, type AccessTokenVerifier } from '../src/verify.js'

export interface IssueOptions {
  /** The `aud` of this token, instead of the configured audience. */
  audience?: string
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /** What `fastify.jwt.sign` takes: a claims object with a `sub`, never a bare string. */
    payload: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Signs an access token for a subject with exactly these claims (no claims hook, no refresh
     * token): the lowest level of issuing.
     */
    signAccessToken: (
      subject: string, claims?: Record<string, unknown>, options?: IssueOptions
    ) => AccessTokenResponse
    /**
     * Verifies one of our access tokens (any published key, revocation honoured); rejects with
     * FTI_INVALID_TOKEN. Checks `aud` only when an audience is given.
     */
    verifyAccessToken: AccessTokenVerifier
    /** The signing keys: the active one, the published ones, their schedule. */
    signingKeys: KeyRing
  }
}

export interface JwtPluginOptions {
  store: Store
  /** Where revoked access tokens are listed. */
  denyList: DenyList
  algorithm: SigningAlgorithm
  secret?: Buffer
  issuer: string
  audience: string
  /** Access token lifetime in seconds. */
  accessTokenTtl: number
  /** Seconds between automatic key rotations; undefined: none. */
  keyRotationInterval?: number
  /** Seals private keys at rest. */
  keyEncryptionSecret?: Buffer
}

type RawSign = (payload: object, options?: object) => string

const ASYMMETRIC: SigningAlgorithm[] = ['ES256', 'EdDSA', 'RS256']

/**
 * Registers @fastify/jwt and keys it with the key ring, so `fastify.jwt.sign` issues RFC 9068
 * access tokens (header `typ: at+jwt` and `kid`; claims `iss`, `sub`, `aud`, `exp`, `iat`, `jti`)
 * with the key active at the time, and `fastify.jwt.verify` accepts only those, each key with its
 * own algorithm. The keys are read again every minute, to follow rotations made by other replicas.
 */
async function jwtPlugin (fastify: FastifyInstance, options: JwtPluginOptions) {
  const ring = await KeyRing.open({
    store: options.store.signingKeys,
    algorithm: options.algorithm,
    accessTokenTtl: options.accessTokenTtl,
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    ...(options.keyEncryptionSecret === undefined
      ? {}
      : { keyEncryptionSecret: options.keyEncryptionSecret }),
    ...(options.keyRotationInterval === undefined
      ? {}
      : { rotationInterval: options.keyRotationInterval })
  })
  const signWith = signerCache(options)
  const rawSign: RawSign = (payload, signOptions) => signWith(ring.active, signOptions)(payload)
  const verifier = createAccessTokenVerifier({
    keys: ring,
    issuer: options.issuer,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    revoked: options.denyList
  })

  const initial = ring.active
  await fastify.register(fastifyJwt, {
    secret: {
      private: initial.signingKey,
      // request.jwtVerify finds the key by kid, so it follows rotations too.
      public: async (_request: FastifyRequest, token: TokenOrHeader) => {
        const header = 'header' in token ? token.header : token
        return ring.verificationKey(String(header.kid))?.key ?? Buffer.alloc(0)
      }
    },
    sign: {
      algorithm: initial.algorithm,
      kid: initial.kid,
      header: { alg: initial.algorithm, typ: 'at+jwt' },
      iss: options.issuer,
      expiresIn: options.accessTokenTtl
    },
    verify: {
      algorithms: initial.algorithm === 'HS256' ? ['HS256'] : ASYMMETRIC,
      allowedIss: options.issuer,
      allowedAud: options.audience,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
      checkTyp: 'at+jwt',
      clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000
    }
  })
  fastify.jwt.sign = guardedSign(rawSign, options.audience) as typeof fastify.jwt.sign
  fastify.jwt.verify = ((token: string) =>
    verifier.verifySigned(token, options.audience)) as typeof fastify.jwt.verify

  fastify.decorate('signingKeys', ring)
  fastify.decorate('signAccessToken', (
    subject: string, claims: Record<string, unknown> = {}, issue: IssueOptions = {}
  ) => ({
    access_token: rawSign(claimsFrom({ ...claims, sub: subject },
      issue.audience ?? options.audience)),
    token_type: 'Bearer' as const,
    expires_in: options.accessTokenTtl
  }))
  fastify.decorate('verifyAccessToken', verifier.verify)

  let failing = false
  const reload = setInterval(() => {
    ring.refresh().then(({ scheduled, retired }) => {
      if (failing) fastify.log.info('reading the signing keys works again')
      failing = false
      if (scheduled !== undefined) {
        fastify.log.info({ kid: scheduled.kid, activatesAt: scheduled.activatesAt },
          'signing key rotation scheduled')
      }
      if (retired.length > 0) fastify.log.info({ kids: retired }, 'signing keys retired')
    }, (error: unknown) => {
      // Once per outage of the store, not every minute of it; a key that cannot be opened
      // (FTI_CONFIG) is no outage: it stops rotation until put right, so it is said each time.
      if (!failing || (error as { code?: string }).code === 'FTI_CONFIG') {
        fastify.log.error({ err: error }, 'reading the signing keys failed; keeping the known ones')
      }
      failing = true
    })
  }, KEY_RELOAD_SECONDS * 1000).unref()
  fastify.addHook('onClose', async () => { clearInterval(reload) })
}

/**
 * One fast-jwt signer per key, built the first time the key signs: signing then costs one
 * signature, never a signer's set-up. Per-call options (`expiresIn`, `notBefore`) get a signer of
 * their own, as @fastify/jwt does.
 */
function signerCache (options: JwtPluginOptions) {
  const signers = new Map<string, (payload: object) => string>()

  function build (key: ActiveKey, extra: object = {}) {
    return createSigner({
      key: key.signingKey,
      algorithm: key.algorithm,
      kid: key.kid,
      header: { alg: key.algorithm, typ: 'at+jwt' },
      iss: options.issuer,
      expiresIn: options.accessTokenTtl * 1000,
      ...extra
    }) as unknown as (payload: object) => string
  }

  return function signerFor (key: ActiveKey, extra?: object) {
    if (extra !== undefined) return build(key, inMilliseconds(extra as Record<string, unknown>))
    let signer = signers.get(key.kid)
    if (signer === undefined) {
      signer = build(key)
      signers.set(key.kid, signer)
    }
    return signer
  }
}

/** `expiresIn` and `notBefore` as @fastify/jwt reads them: a number is seconds. */
function inMilliseconds (options: Record<string, unknown>): object {
  return Object.fromEntries(Object.entries(options).map(([name, value]) => {
    const milliseconds = typeof value === 'number'
      ? value * 1000
      : typeof value === 'string' ? parseDuration(value) : undefined
    if (milliseconds === undefined || !Number.isFinite(milliseconds)) {
      throw new InvalidClaimsError(`sign(): ${name} must be a number of seconds or a duration`)
    }
    return [name, milliseconds]
  }))
}

export default fp(jwtPlugin, { name: 'token-issuer-jwt', fastify: '5.x' })
