import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'

export interface MetricsRouteOptions {
  registry: Registry
}

/** `GET /metrics`: the Prometheus text format. Keep it off the public address (see README). */
export default async function metricsRoutes (
  fastify: FastifyInstance, options: MetricsRouteOptions
) {
  fastify.get('/metrics', {
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics: tokens, errors, lockouts, hashing and request latency',
      produces: ['text/plain'],
      response: { 200: { type: 'string', description: 'Prometheus text exposition format' } }
    }
  }, async (_request, reply) => {
    return await reply.type(options.registry.contentType).send(await options.registry.metrics())
  })
}
