import type { FastifyInstance } from 'fastify'
import { grantTypeOf, runGrant, type GrantContext, type TokenParameters } from '../src/grants.js'
import { MethodNotAllowedError } from '../src/errors.js'
import {
  OAUTH_BODY_LIMIT, isJsonRequest, oauthEndpoint, requestClient
} from '../plugins/oauth-endpoint.js'
import { oauthError, oauthErrors, tokenResponse } from './schemas.js'

export interface TokenRouteOptions {
  /** Everything the grants need but the request's logger. */
  grants: Omit<GrantContext, 'log'>
}

const parameter = { type: 'string' } as const

const methodNotAllowed = {
  ...oauthError, description: 'The token endpoint takes POST only: invalid_request, with Allow'
}

/** Parameters we read; any other is ignored, as RFC 6749 §3.2 asks. */
const bodySchema = {
  type: 'object',
  description: 'application/x-www-form-urlencoded (the standard) or a JSON object (an extension)',
  properties: {
    grant_type: parameter,
    username: parameter,
    password: parameter,
    scope: parameter,
    refresh_token: parameter,
    client_id: parameter,
    client_secret: parameter
  }
} as const

/** `POST /token`: the token endpoint (RFC 6749 §3.2). */
export default async function tokenRoutes (fastify: FastifyInstance, options: TokenRouteOptions) {
  const { grants } = options
  await oauthEndpoint(fastify, grants.metrics)

  fastify.post('/token', {
    bodyLimit: OAUTH_BODY_LIMIT,
    schema: {
      tags: ['oauth'],
      summary: 'Issue tokens: password, client_credentials or refresh_token grant',
      description: 'RFC 6749 §3.2. Clients authenticate with HTTP Basic (client_secret_basic) ' +
        'or client_id and client_secret in the body (client_secret_post).',
      security: [{}, { clientBasic: [] }],
      consumes: ['application/x-www-form-urlencoded', 'application/json'],
      body: bodySchema,
      response: { 200: tokenResponse, ...oauthErrors }
    }
  }, async (request) => {
    const params = request.body as TokenParameters
    const grantType = grantTypeOf(params, isJsonRequest(request))
    const client = await requestClient(request, grants.store.clients)

    const context: GrantContext = { ...grants, log: request.log }
    return await runGrant(context, grantType, { params, client, request })
  })

  // RFC 6749 §3.2: the token endpoint takes POST only; say so instead of a bare 404.
  fastify.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/token',
    schema: { hide: true, response: { 405: methodNotAllowed } },
    handler: async () => {
      throw new MethodNotAllowedError('The token endpoint accepts POST only')
    }
  })
}
