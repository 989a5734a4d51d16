import type { FastifyInstance } from 'fastify'
import type { Store } from '../src/store/index.js'
import { throttleOf } from '../src/log-throttle.js'

export interface HealthRouteOptions {
  store: Store
  /** Whether Redis answers; undefined when none is configured. */
  redisUp: () => boolean | undefined
  /** True once the process is shutting down. */
  draining: () => boolean
}

const readiness = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'degraded', 'unavailable', 'draining'] },
    checks: {
      type: 'object',
      properties: {
        store: { type: 'boolean' },
        signingKey: { type: 'boolean' },
        redis: { type: 'boolean', description: 'Only with a Redis configured' }
      }
    }
  }
} as const

/** Liveness (the process answers) and readiness (it can issue tokens). */
export default async function healthRoutes (fastify: FastifyInstance, options: HealthRouteOptions) {
  fastify.get('/health/live', {
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process answers',
      response: { 200: { type: 'object', properties: { status: { type: 'string' } } } }
    }
  }, async () => ({ status: 'ok' }))

  fastify.get('/health/ready', {
    schema: {
      tags: ['health'],
      summary: 'Readiness: the store answers and a signing key is loaded',
      description: 'degraded (200): Redis is away; tokens are still issued, with counters in ' +
        'this process and the deny list read from the store. draining (503): shutting down.',
      response: {
        200: { ...readiness, description: 'Ready (or degraded) to issue tokens' },
        503: { ...readiness, description: 'Not ready, or shutting down; checks says why' }
      }
    }
  }, async (request, reply) => {
    const store = await options.store.ping().then(() => true, (error: unknown) => {
      const held = throttleOf(options.store).pass()
      if (held !== undefined) {
        request.log.error({ err: error, ...(held > 0 ? { heldBack: held } : {}) },
          'store unreachable')
      }
      return false
    })
    const signingKey = fastify.signingKeys.active !== undefined
    const redis = options.redisUp()

    const status = options.draining()
      ? 'draining'
      : !store || !signingKey ? 'unavailable' : redis === false ? 'degraded' : 'ready'
    return reply.code(['ready', 'degraded'].includes(status) ? 200 : 503).send({
      status,
      checks: { store, signingKey, ...(redis === undefined ? {} : { redis }) }
    })
  })
}
