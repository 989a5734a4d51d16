import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { SigningAlgorithm } from '../src/config.js'
import { PasswordVerifier } from '../src/passwords.js'
import healthRoutes from '../routes/health.js'
import jwksRoutes from '../routes/jwks.js'
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
}

/**
 * The token issuer: the store, the signer and the routes `/token`, `/.well-known/jwks.json`,
 * `/health/live` and `/health/ready`.
 */
async function tokenIssuer (fastify: FastifyInstance, options: TokenIssuerOptions) {
  await fastify.register(storePlugin, { databaseUrl: options.databaseUrl })
  const store = fastify.tokenStore
  await fastify.register(jwtPlugin, { ...options, store })

  const passwords = await PasswordVerifier.create()
  await fastify.register(tokenRoutes, { users: store.users, passwords })
  await fastify.register(jwksRoutes)
  await fastify.register(healthRoutes, { store })
}

export default fp(tokenIssuer, { name: 'fastify-token-issuer', fastify: '5.x' })
