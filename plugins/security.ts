import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export interface SecurityPluginOptions {
  /** Origins browsers may call from; empty: no CORS headers at all. */
  corsOrigins: string[]
}

/**
 * Headers for an API that browsers may reach: helmet's defaults (nosniff, frame denial, HSTS,
 * no referrer, ...) and, only for the configured origins, CORS.
 */
async function security (fastify: FastifyInstance, options: SecurityPluginOptions) {
  // A CSP guards HTML; the API answers JSON, and the documentation UI needs its own scripts.
  await fastify.register(helmet, { contentSecurityPolicy: false })

  if (options.corsOrigins.length === 0) return
  await fastify.register(cors, {
    origin: options.corsOrigins,
    methods: ['GET', 'POST'],
    allowedHeaders: ['authorization', 'content-type'],
    // Tokens travel in bodies and headers, never cookies: no credentialed CORS.
    credentials: false,
    maxAge: 600
  })
}

export default fp(security, { name: 'token-issuer-security', fastify: '5.x' })
