import type { FastifyInstance } from 'fastify'
import { grantTypeOf, runGrant, type GrantContext, type TokenParameters } from '../src/grants.js'
import { MethodNotAllowedError } from '../src/errors.js'
import type { PasswordVerifier } from '../src/passwords.js'
import type { RefreshPolicy } from '../src/refresh.js'
import type { Store } from '../src/store/index.js'
import {
  OAUTH_BODY_LIMIT, isJsonRequest, oauthEndpoint, requestClient
} from '../plugins/oauth-endpoint.js'

export interface TokenRouteOptions {
  store: Store
  passwords: PasswordVerifier
  passwordGrantWithoutClient: boolean
  refreshTokens: boolean
  refresh: RefreshPolicy
}

const parameter = { type: 'string' } as const

/** Parameters we read; any other is ignored, as RFC 6749 §3.2 asks. */
const bodySchema = {
  type: 'object',
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

const tokenResponse = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    refresh_token: { type: 'string' },
    scope: { type: 'string' }
  }
} as const

/** `POST /token`: the token endpoint (RFC 6749 §3.2). */
export default async function tokenRoutes (fastify: FastifyInstance, options: TokenRouteOptions) {
  await oauthEndpoint(fastify)
  const issueAccessToken = fastify.issueAccessToken

  fastify.post('/token', {
    bodyLimit: OAUTH_BODY_LIMIT,
    schema: { body: bodySchema, response: { 200: tokenResponse } }
  }, async (request) => {
    const params = request.body as TokenParameters
    const grantType = grantTypeOf(params, isJsonRequest(request))
    const client = await requestClient(request, options.store.clients)

    const context: GrantContext = { ...options, issueAccessToken, log: request.log }
    return await runGrant(context, grantType, { params, client })
  })

  // RFC 6749 §3.2: the token endpoint takes POST only; say so instead of a bare 404.
  fastify.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/token',
    handler: async () => {
      throw new MethodNotAllowedError('The token endpoint accepts POST only')
    }
  })
}
