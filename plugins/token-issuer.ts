import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { SigningAlgorithm } from '../src/config.js'
import { PasswordVerifier } from '../src/passwords.js'
import type { RefreshPolicy } from '../src/refresh.js'
import healthRoutes from '../routes/health.js'
import jwksRoutes from '../routes/jwks.js'
import metadataRoutes from '../routes/metadata.js'
import revocationRoutes from '../routes/revocation.js'
import tokenRoutes from '../routes/token.js'
import jwtPlugin from './jwt.js'
import storePlugin from './store.js'

export interface TokenIssuerOptions {
  /** `sqlite:<path>`: where users and signing keys live. */
  databaseUrl: string
  /** The `iss` of every token: an http(s) URL. */
  issuer: string
  /** The `aud` of every token. */
  audience: string
  /** Access token lifetime in seconds. */
  accessTokenTtl: number
  algorithm: SigningAlgorithm
  /** The shared key, with `algorithm: 'HS256'` only. */
  secret?: Buffer
  /** Whether the password grant may be used without client authentication. */
  passwordGrantWithoutClient: boolean
  /** Whether the password grant issues refresh tokens. */
  refreshTokens: boolean
  /** Refresh token lifetimes and reuse grace, in seconds. */
  refresh: RefreshPolicy
}

/**
 * The token issuer: the store, the signer and the routes `/token`, `/revoke`, `/introspect`,
 * `/.well-known/jwks.json`, `/.well-known/oauth-authorization-server` and `/health/*`.
 */
async function tokenIssuer (fastify: FastifyInstance, options: TokenIssuerOptions) {
  await fastify.register(storePlugin, { databaseUrl: options.databaseUrl })
  const store = fastify.tokenStore
  await fastify.register(jwtPlugin, { ...options, store })

  const passwords = await PasswordVerifier.create()
  await fastify.register(tokenRoutes, {
    store,
    passwords,
    passwordGrantWithoutClient: options.passwordGrantWithoutClient,
    refreshTokens: options.refreshTokens,
    refresh: options.refresh
  })
  await fastify.register(revocationRoutes, { store })
  await fastify.register(jwksRoutes)
  await fastify.register(metadataRoutes, { issuer: options.issuer, store })
  await fastify.register(healthRoutes, { store })
}

export default fp(tokenIssuer, { name: 'fastify-token-issuer', fastify: '5.x' })
