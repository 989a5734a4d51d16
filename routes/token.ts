import type { FastifyInstance } from 'fastify'
import { grantTypeOf, loginFailed, passwordGrant, unsupportedGrant } from '../src/grants.js'
import type { TokenParameters } from '../src/grants.js'
import { MethodNotAllowedError } from '../src/errors.js'
import type { PasswordVerifier } from '../src/passwords.js'
import type { UserStore } from '../src/store/users.js'
import { OAUTH_BODY_LIMIT, isJsonRequest, oauthEndpoint } from '../plugins/oauth-endpoint.js'

export interface TokenRouteOptions {
  users: UserStore
  passwords: PasswordVerifier
}

const parameter = { type: 'string' } as const

/** Parameters we read; any other is ignored, as RFC 6749 §3.2 asks. */
const bodySchema = {
  type: 'object',
  properties: {
    grant_type: parameter,
    username: parameter,
    password: parameter,
    scope: parameter
  }
} as const

const tokenResponse = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' }
  }
} as const

/** `POST /token`: the token endpoint (RFC 6749 §3.2). */
export default async function tokenRoutes (fastify: FastifyInstance, options: TokenRouteOptions) {
  await oauthEndpoint(fastify)
  const context = { ...options, issueAccessToken: fastify.issueAccessToken }

  fastify.post('/token', {
    bodyLimit: OAUTH_BODY_LIMIT,
    schema: { body: bodySchema, response: { 200: tokenResponse } }
  }, async (request) => {
    const params = request.body as TokenParameters
    const grantType = grantTypeOf(params, isJsonRequest(request))
    if (grantType !== 'password') throw unsupportedGrant(grantType)

    const response = await passwordGrant(context, params)
    if (response === undefined) {
      request.log.warn({ username: params.username, ip: request.ip }, 'login failed')
      throw loginFailed()
    }
    return response
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
