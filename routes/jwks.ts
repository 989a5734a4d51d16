import type { FastifyInstance } from 'fastify'

/** How long verifiers may cache the key set before asking again. */
export const JWKS_MAX_AGE_SECONDS = 300

/** `GET /.well-known/jwks.json`: the public keys that verify our tokens (RFC 7517 §5). */
export default async function jwksRoutes (fastify: FastifyInstance) {
  const body = JSON.stringify({ keys: fastify.signingKeys.published })

  fastify.get('/.well-known/jwks.json', {
    schema: {
      tags: ['keys'],
      summary: 'The public keys that verify access tokens (RFC 7517)',
      description: `Empty with HS256. Cache-Control: public, max-age=${JWKS_MAX_AGE_SECONDS}.`,
      response: {
        200: {
          type: 'object',
          properties: {
            keys: {
              type: 'array',
              items: {
                type: 'object',
                properties: Object.fromEntries(
                  ['kty', 'kid', 'use', 'alg', 'crv', 'x', 'y', 'n', 'e']
                    .map((name) => [name, { type: 'string' }]))
              }
            }
          }
        }
      }
    }
  }, async (_request, reply) => {
    return reply
      .header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      .type('application/json')
      .send(body)
  })
}
