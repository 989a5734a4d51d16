import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/**
 * The OpenAPI document, generated from the route schemas: `/documentation/json` (and `/yaml`),
 * with a browsable UI at `/documentation`. Registered before the routes so it sees them all.
 */
async function documentation (fastify: FastifyInstance) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'fastify-token-issuer',
        description: 'Issues JWT access tokens (RFC 9068) over OAuth 2.0 (RFC 6749).',
        version: '0.1.0'
      },
      tags: [
        { name: 'oauth', description: 'Token, revocation and introspection endpoints' },
        { name: 'keys', description: 'Published keys and metadata' },
        { name: 'health', description: 'Liveness and readiness' }
      ],
      components: {
        securitySchemes: {
          clientBasic: {
            type: 'http',
            scheme: 'basic',
            description: 'client_secret_basic: the form-encoded client id and secret'
          }
        }
      }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/documentation' })
}

export default fp(documentation, { name: 'token-issuer-documentation', fastify: '5.x' })
