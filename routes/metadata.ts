import type { FastifyInstance } from 'fastify'
import { SUPPORTED_GRANTS } from '../src/grants.js'
import type { Store } from '../src/store/index.js'

export interface MetadataRouteOptions {
  issuer: string
  store: Store
  /** Where to serve it (default: the RFC 8414 path under the plugin's prefix). */
  url?: string
}

/** `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata. */
export default async function metadataRoutes (
  fastify: FastifyInstance, options: MetadataRouteOptions
) {
  const base = options.issuer.replace(/\/+$/, '')
  const fixed = {
    issuer: options.issuer,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    revocation_endpoint: `${base}/revoke`,
    introspection_endpoint: `${base}/introspect`,
    grant_types_supported: SUPPORTED_GRANTS,
    // There is no authorization endpoint, so no response type is supported.
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: [
      'client_secret_basic', 'client_secret_post', 'none'
    ],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post']
  }

  const strings = { type: 'array', items: { type: 'string' } }
  fastify.get(options.url ?? '/.well-known/oauth-authorization-server', {
    schema: {
      tags: ['keys'],
      summary: 'Authorization server metadata (RFC 8414)',
      response: {
        200: {
          type: 'object',
          properties: {
            ...Object.fromEntries(['issuer', 'token_endpoint', 'jwks_uri', 'revocation_endpoint',
              'introspection_endpoint'].map((name) => [name, { type: 'string' }])),
            ...Object.fromEntries(['grant_types_supported', 'response_types_supported',
              'token_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported',
              'introspection_endpoint_auth_methods_supported', 'scopes_supported']
              .map((name) => [name, strings]))
          }
        }
      }
    }
  }, async (_request, reply) => {
    const clients = await options.store.clients.list()
    const scopes = [...new Set(clients.flatMap((client) => client.scopes))].sort()
    return await reply.header('cache-control', 'public, max-age=300')
      .send({ ...fixed, scopes_supported: scopes })
  })
}
