import type { FastifyInstance } from 'fastify'
import type { Store } from '../src/store/index.js'

export interface HealthRouteOptions {
  store: Store
}

/** Liveness (the process answers) and readiness (it can issue tokens). */
export default async function healthRoutes (fastify: FastifyInstance, options: HealthRouteOptions) {
  fastify.get('/health/live', async () => ({ status: 'ok' }))

  fastify.get('/health/ready', async (request, reply) => {
    const store = await options.store.ping().then(() => true, (error: unknown) => {
      request.log.error({ err: error }, 'store unreachable')
      return false
    })
    const signingKey = fastify.signingKeys.active !== undefined

    const ready = store && signingKey
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'unavailable',
      checks: { store, signingKey }
    })
  })
}
