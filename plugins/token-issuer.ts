import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { RateLimitedError } from '../src/errors.js'
import { issueTokens, type GrantContext, type TokenResponse } from '../src/grants.js'
import { resolveOptions, type TokenIssuerOptions } from '../src/options.js'
import { PasswordVerifier } from '../src/passwords.js'
import { openSharedState } from '../src/shared-state.js'
import healthRoutes from '../routes/health.js'
import jwksRoutes from '../routes/jwks.js'
import metadataRoutes from '../routes/metadata.js'
import revocationRoutes from '../routes/revocation.js'
import tokenRoutes from '../routes/token.js'
import { PUBLIC_ROUTE, bearerAuthenticator } from './authenticate.js'
import jwtPlugin from './jwt.js'
import storePlugin from './store.js'

export type { TokenIssuerOptions } from '../src/options.js'

export interface IssueAccessTokenOptions {
  /** Extra claims (registered claims are refused). */
  claims?: Record<string, unknown>
  scope?: string[]
  /** The `aud` of this token, instead of the configured audience. */
  audience?: string
  /** Start a refresh token family too, bound to no client. */
  refreshToken?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Issues tokens for a subject as `/token` would (the claims hook included) and resolves the
     * same body: `access_token`, `token_type`, `expires_in`, and `refresh_token` when asked.
     */
    issueAccessToken: (subject: string, options?: IssueAccessTokenOptions) => Promise<TokenResponse>
    /**
     * Starts a graceful shutdown: `/health/ready` answers 503 from now on and every answer asks
     * its client to close the connection, while requests are still served. Call it on SIGTERM,
     * give the load balancer time to notice, then `close()`.
     */
    startDraining: () => void
  }
}

/**
 * The token issuer: the store, the signer, the `authenticate` preHandler, and (unless
 * `routes: false`) the routes `/token`, `/revoke`, `/introspect`, `/.well-known/jwks.json`,
 * `/.well-known/oauth-authorization-server` and `/health/*`, under the registration's prefix.
 */
async function tokenIssuer (
  fastify: FastifyInstance, rawOptions: TokenIssuerOptions & { prefix?: string }
) {
  const options = resolveOptions(rawOptions)
  // fastify-plugin shares the host's scope, where a prefix does not apply by itself.
  const prefix = rawOptions.prefix ?? ''

  await fastify.register(storePlugin, { databaseUrl: options.databaseUrl })
  const store = fastify.tokenStore
  const shared = await openSharedState({
    store,
    lockout: options.lockout,
    redisKeyPrefix: options.redisKeyPrefix,
    log: fastify.log,
    ...(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl })
  })
  fastify.addHook('onClose', async () => { await shared.close() })
  await fastify.register(jwtPlugin, { ...options, store, denyList: shared.denyList })

  const grants: Omit<GrantContext, 'log'> = {
    store,
    passwords: await PasswordVerifier.create(),
    signAccessToken: fastify.signAccessToken,
    passwordGrantWithoutClient: options.passwordGrantWithoutClient,
    refreshTokens: options.refreshTokens,
    refresh: options.refresh,
    ...(options.verifyCredentials === undefined
      ? {}
      : { verifyCredentials: options.verifyCredentials }),
    ...(options.claims === undefined ? {} : { claims: options.claims }),
    ...(shared.lockout === undefined ? {} : { lockout: shared.lockout })
  }
  fastify.decorate('issueAccessToken', async (
    subject: string, issue: IssueAccessTokenOptions = {}
  ) =>
    await issueTokens({ ...grants, log: fastify.log }, {
      subject,
      userId: null,
      claims: issue.claims ?? {},
      client: undefined,
      scope: issue.scope,
      grantType: undefined,
      refresh: issue.refreshToken === true,
      ...(issue.audience === undefined ? {} : { audience: issue.audience })
    }))
  let draining = false
  fastify.decorate('startDraining', () => { draining = true })
  fastify.addHook('onSend', async (_request, reply) => {
    // Keep-alive clients move to another replica while this one still answers them.
    if (draining) reply.header('connection', 'close')
  })
  fastify.decorate('authenticate', bearerAuthenticator(
    async (token) => await fastify.verifyAccessToken(token, { audience: options.audience }),
    options.realm))

  if (!options.routes) return
  await fastify.register(async (routes) => {
    // Our endpoints authenticate clients their own way: a host's app-wide `authenticate` hook
    // must let them through (C25g), and marks tell it which they are.
    routes.addHook('onRoute', (route) => {
      route.config = { ...route.config, [PUBLIC_ROUTE]: true }
    })
    await routes.register(async (oauth) => {
      const limit = options.rateLimit
      if (limit !== false) {
        await oauth.register(rateLimit, {
          max: limit.max,
          timeWindow: limit.window * 1000,
          keyGenerator: (request) => request.ip,
          // Shared by replicas through Redis; while Redis is away requests pass, and the
          // login lockout, which then counts in this process, still slows guessing.
          ...(shared.redis === undefined
            ? {}
            : { redis: shared.redis.client, nameSpace: 'rate-limit:', skipOnError: true }),
          errorResponseBuilder: (_request, context) =>
            new RateLimitedError(`Too many requests; retry in ${context.after}`)
        })
      }
      await oauth.register(tokenRoutes, { grants })
      await oauth.register(revocationRoutes, { store, denyList: shared.denyList })
    })
    await routes.register(jwksRoutes)
    await routes.register(metadataRoutes, { issuer: options.issuer, store })
    await routes.register(healthRoutes, {
      store, redisUp: shared.redisUp, draining: () => draining
    })
  }, { prefix })

  // RFC 8414 §3: an issuer with a path has its metadata at /.well-known/...<path> on its host.
  const issuerPath = new URL(options.issuer).pathname.replace(/\/+$/, '')
  if (issuerPath !== '') {
    await fastify.register(async (root) => {
      root.addHook('onRoute', (route) => {
        route.config = { ...route.config, [PUBLIC_ROUTE]: true }
      })
      await root.register(metadataRoutes, {
        issuer: options.issuer,
        store,
        url: `/.well-known/oauth-authorization-server${issuerPath}`
      })
    })
  }
}

export default fp(tokenIssuer, { name: 'fastify-token-issuer', fastify: '5.x' })
