import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import configPlugin, { type ConfigPluginOptions } from '../plugins/config.js'
import documentation from '../plugins/documentation.js'
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
    refreshGracePeriod: settings.refresh.gracePeriod
  })
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
