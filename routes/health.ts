import type { FastifyInstance } from 'fastify'
import type { Store } from '../src/store/index.js'

export interface HealthRouteOptions {
  store: Store
}

/** Liveness (the process answers) and readiness (it can issue tokens). */
export default async function healthRoutes (fastify: FastifyInstance, options: HealthRouteOptions) {
  fastify.get('/health/live', {
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process answers',
      response: { 200: { type: 'object', properties: { status: { type: 'string' } } } }
    }
  }, async () => ({ status: 'ok' }))

  const readiness = {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['ready', 'unavailable'] },
      checks: {
        type: 'object',
        properties: { store: { type: 'boolean' }, signingKey: { type: 'boolean' } }
      }
    }
  }
  fastify.get('/health/ready', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: the store answers and a signing key is loaded',
      response: {
        200: { ...readiness, description: 'Ready to issue tokens' },
        503: { ...readiness, description: 'Not ready; checks says what is missing' }
      }
    }
  }, async (request, reply) => {
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
