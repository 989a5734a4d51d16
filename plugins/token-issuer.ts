import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { RateLimitedError } from '../src/errors.js'
import { issueTokens, type GrantContext, type TokenResponse } from '../src/grants.js'
import { IssuerMetrics } from '../src/metrics.js'
import { resolveOptions, type ResolvedOptions, type TokenIssuerOptions } from '../src/options.js'
import { PasswordVerifier } from '../src/passwords.js'
import { openSharedState, type SharedState } from '../src/shared-state.js'
import type { Store } from '../src/store/index.js'
import healthRoutes from '../routes/health.js'
import jwksRoutes from '../routes/jwks.js'
import metadataRoutes from '../routes/metadata.js'
import metricsRoutes from '../routes/metrics.js'
import revocationRoutes from '../routes/revocation.js'
import tokenRoutes from '../routes/token.js'
import { PUBLIC_ROUTE, bearerAuthenticator } from './authenticate.js'
import { answerError } from './oauth-endpoint.js'
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
    /** The issuer's Prometheus metrics, in a registry of its own (served with `metrics`). */
    tokenIssuerMetrics: IssuerMetrics
  }
}

/**
 * The token issuer: the store, the signer, the `authenticate` preHandler, and (unless
 * `routes: false`) the routes `/token`, `/revoke`, `/introspect`, `/.well-known/jwks.json`,
 * `/.well-known/oauth-authorization-server`, `/health/*` and (with `metrics: true`) `/metrics`,
 * under the registration's prefix.
 */
async function tokenIssuer (
  fastify: FastifyInstance, rawOptions: TokenIssuerOptions & { prefix?: string }
) {
  const options = resolveOptions(rawOptions)

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

  const keys = fastify.signingKeys
  const metrics = new IssuerMetrics({
    redisUp: shared.redisUp,
    ...(options.algorithm === 'HS256' ? {} : { activeKeySince: () => keys.activeSince })
  })
  fastify.decorate('tokenIssuerMetrics', metrics)
  const grants: Omit<GrantContext, 'log'> = {
    store,
    passwords: await PasswordVerifier.create({
      observe: (seconds) => { metrics.passwordHashSeconds.observe(seconds) },
      ...(options.passwordHashConcurrency === undefined
        ? {}
        : { concurrency: options.passwordHashConcurrency })
    }),
    signAccessToken: fastify.signAccessToken,
    passwordGrantWithoutClient: options.passwordGrantWithoutClient,
    refreshTokens: options.refreshTokens,
    refresh: options.refresh,
    metrics,
    ...(options.verifyCredentials === undefined
      ? {}
      : { verifyCredentials: options.verifyCredentials }),
    ...(options.claims === undefined ? {} : { claims: options.claims }),
    ...(shared.lockout === undefined ? {} : { lockout: shared.lockout })
  }
  const draining = decorateIssuer(fastify, options, grants)

  if (!options.routes) return
  const context = { options, store, shared, grants, metrics, draining }
  await fastify.register(async (routes) => { await issuerRoutes(routes, context) },
    // fastify-plugin shares the host's scope, where a prefix does not apply by itself.
    { prefix: rawOptions.prefix ?? '' })
  await metadataAtIssuerPath(fastify, options.issuer, store)
}

/** The decorators a host uses; resolves whether the instance is draining. */
function decorateIssuer (
  fastify: FastifyInstance, options: ResolvedOptions, grants: Omit<GrantContext, 'log'>
): () => boolean {
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
  fastify.decorate('authenticate', bearerAuthenticator(
    async (token) => await fastify.verifyAccessToken(token, { audience: options.audience }),
    options.realm))

  let draining = false
  fastify.decorate('startDraining', () => { draining = true })
  fastify.addHook('onSend', async (_request, reply) => {
    // Keep-alive clients move to another replica while this one still answers them.
    if (draining) reply.header('connection', 'close')
  })
  return () => draining
}

interface RouteContext {
  options: ResolvedOptions
  store: Store
  shared: SharedState
  grants: Omit<GrantContext, 'log'>
  metrics: IssuerMetrics
  draining: () => boolean
}

async function issuerRoutes (routes: FastifyInstance, context: RouteContext): Promise<void> {
  const { options, store, shared, metrics } = context
  // Our endpoints authenticate clients their own way: a host's app-wide `authenticate` hook
  // must let them through (C25g), and marks tell it which they are.
  routes.addHook('onRoute', (route) => {
    route.config = { ...route.config, [PUBLIC_ROUTE]: true }
  })
  routes.setErrorHandler(answerError)
  routes.addHook('onResponse', async (request, reply) => {
    metrics.requestSeconds.observe({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode)
    }, reply.elapsedTime / 1000)
  })

  await routes.register(async (oauth) => {
    if (options.rateLimit !== false) {
      await oauth.register(rateLimit, rateLimitOptions(options.rateLimit, shared))
    }
    await oauth.register(tokenRoutes, { grants: context.grants })
    await oauth.register(revocationRoutes, { store, denyList: shared.denyList, metrics })
  })
  await routes.register(jwksRoutes)
  await routes.register(metadataRoutes, { issuer: options.issuer, store })
  await routes.register(healthRoutes, {
    store, redisUp: shared.redisUp, draining: context.draining
  })
  if (options.metrics) await routes.register(metricsRoutes, { registry: metrics.registry })
}

function rateLimitOptions (
  limit: { max: number, window: number }, shared: SharedState
): RateLimitPluginOptions {
  return {
    max: limit.max,
    timeWindow: limit.window * 1000,
    keyGenerator: (request) => request.ip,
    // Shared by replicas through Redis; while Redis is away requests pass, and the login
    // lockout, which then counts in this process, still slows guessing.
    ...(shared.redis === undefined
      ? {}
      : { redis: shared.redis.client, nameSpace: 'rate-limit:', skipOnError: true }),
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(`Too many requests; retry in ${context.after}`)
  }
}

/** RFC 8414 §3: an issuer with a path has its metadata at /.well-known/...<path> on its host. */
async function metadataAtIssuerPath (
  fastify: FastifyInstance, issuer: string, store: Store
): Promise<void> {
  const issuerPath = new URL(issuer).pathname.replace(/\/+$/, '')
  if (issuerPath === '') return
  await fastify.register(async (root) => {
    root.addHook('onRoute', (route) => {
      route.config = { ...route.config, [PUBLIC_ROUTE]: true }
    })
    await root.register(metadataRoutes, {
      issuer, store, url: `/.well-known/oauth-authorization-server${issuerPath}`
    })
  })
}

export default fp(tokenIssuer, { name: 'fastify-token-issuer', fastify: '5.x' })
