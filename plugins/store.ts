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

/** Opens the store (running its migrations) and closes it when the instance closes. */
async function storePlugin (fastify: FastifyInstance, options: StorePluginOptions) {
  const store = await openStore(options.databaseUrl)

  fastify.decorate('tokenStore', store)
  fastify.addHook('onClose', async () => {
    await store.close()
  })
}

export default fp(storePlugin, { name: 'token-issuer-store', fastify: '5.x' })
