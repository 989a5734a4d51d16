import fp from 'fastify-plugin'
import { collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import configPlugin, { type ConfigPluginOptions } from '../plugins/config.js'
import documentation from '../plugins/documentation.js'
import { answerError } from '../plugins/oauth-endpoint.js'
import security from '../plugins/security.js'
import tokenIssuer from '../plugins/token-issuer.js'
import { bootstrapFirstUser } from './bootstrap.js'

export type AppOptions = ConfigPluginOptions

/**
 * The service as a plugin: configuration from the environment, the token issuer on it, and a
 * first user on a fresh store. The server entry and the tests register exactly this.
 */
async function app (fastify: FastifyInstance, options: AppOptions) {
  await fastify.register(configPlugin, options)
  const { settings } = fastify

  await fastify.register(security, { corsOrigins: settings.corsOrigins })
  fastify.setErrorHandler(answerError)
  // Fastify's own 404 quotes the URL, query string included, in its answer and its log line.
  fastify.setNotFoundHandler(async (request, reply) => {
    request.log.info({ method: request.method, path: request.url.split('?')[0] }, 'no such route')
    return await reply.code(404).send({ error: 'not_found', error_description: 'No such route' })
  })
  await fastify.register(documentation)
  await fastify.register(tokenIssuer, {
    databaseUrl: settings.databaseUrl,
    issuer: settings.issuer,
    audience: settings.audience,
    accessTokenTtl: settings.accessTokenTtl,
    algorithm: settings.algorithm,
    ...(settings.secret === undefined ? {} : { secret: settings.secret }),
    passwordGrantWithoutClient: settings.passwordGrantWithoutClient,
    refreshTokens: settings.refreshTokens,
    refreshTokenTtl: settings.refresh.ttl,
    refreshFamilyTtl: settings.refresh.familyTtl,
    refreshGracePeriod: settings.refresh.gracePeriod,
    rateLimit: settings.rateLimit,
    lockout: settings.lockout,
    ...(settings.keyEncryptionSecret === undefined
      ? {}
      : { keyEncryptionSecret: settings.keyEncryptionSecret }),
    ...(settings.keyRotationInterval === undefined
      ? {}
      : { keyRotationInterval: settings.keyRotationInterval }),
    ...(settings.redisUrl === undefined ? {} : { redisUrl: settings.redisUrl }),
    redisKeyPrefix: settings.redisKeyPrefix,
    metrics: settings.metricsEnabled,
    ...(settings.passwordHashConcurrency === undefined
      ? {}
      : { passwordHashConcurrency: settings.passwordHashConcurrency })
  })
  // The process's own numbers (memory, event loop delay, ...) next to the issuer's.
  if (settings.metricsEnabled) {
    collectDefaultMetrics({ register: fastify.tokenIssuerMetrics.registry })
  }
  fastify.addHook('onReady', async () => {
    await bootstrapFirstUser({
      users: fastify.tokenStore.users,
      dataDir: settings.dataDir,
      log: fastify.log,
      ...(settings.bootstrap === undefined ? {} : { user: settings.bootstrap })
    })
  })
}

export default fp(app, { name: 'token-issuer-app', fastify: '5.x' })
