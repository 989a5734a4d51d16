import type { FastifyInstance } from 'fastify'
import { JWKS_MAX_AGE_SECONDS } from '../src/keys.js'

/** `GET /.well-known/jwks.json`: the public keys that verify our tokens (RFC 7517 §5). */
export default async function jwksRoutes (fastify: FastifyInstance) {
  const keys = fastify.signingKeys
  fastify.get('/.well-known/jwks.json', {
    schema: {
      tags: ['keys'],
      summary: 'The public keys that verify access tokens (RFC 7517)',
      description: 'Published keys include keys scheduled to sign soon and replaced keys whose ' +
        'tokens may still be alive. Empty with HS256. Cache-Control: public, ' +
        `max-age=${JWKS_MAX_AGE_SECONDS}.`,
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
      .send(keys.publishedJson)
  })
}
