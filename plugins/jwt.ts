import fastifyJwt from '@fastify/jwt'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { SigningAlgorithm } from '../src/config.js'
import { loadKeySet, verificationKeys, type KeySet } from '../src/keys.js'
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
    /** The signing key and the public keys the key set publishes. */
    signingKeys: KeySet
  }
}

export interface JwtPluginOptions {
  store: Store
  algorithm: SigningAlgorithm
  secret?: Buffer
  issuer: string
  audience: string
  /** Access token lifetime in seconds. */
  accessTokenTtl: number
  /** Seals private keys at rest. */
  keyEncryptionSecret?: Buffer
}

/** Seconds of clock skew tolerated between this issuer and a verifier. */
export const CLOCK_TOLERANCE_SECONDS = 5

/**
 * Registers @fastify/jwt with the active signing key, so `fastify.jwt.sign` issues RFC 9068 access
 * tokens (header `typ: at+jwt` and `kid`; claims `iss`, `sub`, `aud`, `exp`, `iat`, `jti`), and
 * `fastify.jwt.verify` accepts only those, with the algorithm pinned.
 */
async function jwtPlugin (fastify: FastifyInstance, options: JwtPluginOptions) {
  const keys = await loadKeySet(options.store.signingKeys, options.algorithm, options.secret,
    options.keyEncryptionSecret)
  const { active } = keys

  await fastify.register(fastifyJwt, {
    secret: { private: active.signingKey, public: active.verifyingKey },
    sign: {
      algorithm: active.algorithm,
      kid: active.kid,
      header: { alg: active.algorithm, typ: 'at+jwt' },
      iss: options.issuer,
      expiresIn: options.accessTokenTtl
    },
    verify: {
      algorithms: [active.algorithm],
      allowedIss: options.issuer,
      allowedAud: options.audience,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
      checkTyp: 'at+jwt',
      clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000
    }
  })

  type RawSign = (payload: object, options?: object) => string
  const rawSign = fastify.jwt.sign.bind(fastify.jwt) as RawSign
  fastify.jwt.sign = guardedSign(rawSign, options.audience) as typeof fastify.jwt.sign

  fastify.decorate('signingKeys', keys)
  fastify.decorate('signAccessToken', (
    subject: string, claims: Record<string, unknown> = {}, issue: IssueOptions = {}
  ) => ({
    access_token: rawSign(claimsFrom({ ...claims, sub: subject },
      issue.audience ?? options.audience)),
    token_type: 'Bearer' as const,
    expires_in: options.accessTokenTtl
  }))
  fastify.decorate('verifyAccessToken', createAccessTokenVerifier({
    keys: verificationKeys(keys),
    issuer: options.issuer,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    revoked: options.store.revokedTokens
  }))
}

export default fp(jwtPlugin, { name: 'token-issuer-jwt', fastify: '5.x' })
