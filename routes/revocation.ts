import type { FastifyInstance } from 'fastify'
import { InvalidClientError, InvalidRequestError } from '../src/errors.js'
import { present } from '../src/grants.js'
import { introspectToken, revokeToken } from '../src/revocation.js'
import type { DenyList } from '../src/deny-list.js'
import type { IssuerMetrics } from '../src/metrics.js'
import type { Store } from '../src/store/index.js'
import { OAUTH_BODY_LIMIT, oauthEndpoint, requestClient } from '../plugins/oauth-endpoint.js'
import { oauthErrors } from './schemas.js'

export interface RevocationRouteOptions {
  store: Store
  denyList: DenyList
  metrics: IssuerMetrics
}

const parameter = { type: 'string' } as const
const bodySchema = {
  type: 'object',
  properties: {
    token: parameter,
    token_type_hint: parameter,
    client_id: parameter,
    client_secret: parameter
  }
} as const

const introspection = {
  type: 'object',
  description: 'active: false for anything not usable; otherwise the token\'s members',
  required: ['active'],
  additionalProperties: true,
  properties: {
    active: { type: 'boolean' },
    token_type: { type: 'string', enum: ['Bearer', 'refresh_token'] },
    scope: { type: 'string' },
    client_id: { type: 'string' },
    username: { type: 'string' },
    sub: { type: 'string' },
    aud: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    iss: { type: 'string' },
    exp: { type: 'integer' },
    iat: { type: 'integer' },
    nbf: { type: 'integer' },
    jti: { type: 'string' }
  }
} as const

/** `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662). */
export default async function revocationRoutes (
  fastify: FastifyInstance, options: RevocationRouteOptions
) {
  await oauthEndpoint(fastify, options.metrics)
  const lookup = {
    store: options.store, denyList: options.denyList, verifyAccessToken: fastify.verifyAccessToken
  }
  fastify.post('/revoke', {
    bodyLimit: OAUTH_BODY_LIMIT,
    schema: {
      tags: ['oauth'],
      summary: 'Revoke a refresh token (its family) or an access token (RFC 7009)',
      description: '200 whether or not the token was known, so the answer tells nothing.',
      security: [{}, { clientBasic: [] }],
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: bodySchema,
      response: { 200: { type: 'null', description: 'Done, or nothing to do' }, ...oauthErrors }
    }
  }, async (request, reply) => {
    const params = request.body as Record<string, string | undefined>
    const client = await requestClient(request, options.store.clients)
    const token = tokenOf(params)

    await revokeToken(lookup, token, client, request.log)
    return await reply.code(200).send()
  })

  fastify.post('/introspect', {
    bodyLimit: OAUTH_BODY_LIMIT,
    schema: {
      tags: ['oauth'],
      summary: 'Introspect a token (RFC 7662), for clients with a secret',
      security: [{ clientBasic: [] }],
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: bodySchema,
      response: { 200: introspection, ...oauthErrors }
    }
  }, async (request) => {
    const params = request.body as Record<string, string | undefined>
    const client = await requestClient(request, options.store.clients)
    // Introspection tells about other parties' tokens: only a client that proved a secret may ask.
    if (client === undefined || client.secretHash === null) {
      throw new InvalidClientError('Introspection needs client authentication with a secret')
    }

    return await introspectToken(lookup, tokenOf(params), client)
  })
}

function tokenOf (params: Record<string, string | undefined>): string {
  const token = present(params.token)
  if (token === undefined) throw new InvalidRequestError('Missing required parameter: token')
  return token
}
