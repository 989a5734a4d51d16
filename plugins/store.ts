import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { openStore, type Store } from '../src/store/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Users and signing keys; closed with the instance. */
    tokenStore: Store
  }
}

export interface StorePluginOptions {
  databaseUrl: string
}

/** How often expired refresh token families and deny-list entries are deleted. */
export const PURGE_INTERVAL_MS = 60 * 60 * 1000

/**
 * Opens the store (running its migrations), purges what has expired at start and then hourly,
 * and closes the store when the instance closes.
 */
async function storePlugin (fastify: FastifyInstance, options: StorePluginOptions) {
  const store = await openStore(options.databaseUrl)
  const purge = async () => {
    const purged = await store.purgeExpired()
    fastify.log.debug(purged, 'purged expired refresh token families and deny-list entries')
  }
  const timer = setInterval(() => {
    purge().catch((error: unknown) => { fastify.log.error({ err: error }, 'purge failed') })
  }, PURGE_INTERVAL_MS).unref()

  fastify.decorate('tokenStore', store)
  fastify.addHook('onReady', purge)
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    await store.close()
  })
}

export default fp(storePlugin, { name: 'token-issuer-store', fastify: '5.x' })
