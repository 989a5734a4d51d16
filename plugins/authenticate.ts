import type { FastifyReply, FastifyRequest } from 'fastify'
import { bearerCredential } from '../src/bearer.js'
import type { AccessTokenClaims } from '../src/verify.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A preHandler that admits requests with a valid Bearer access token and sets `request.user`
     * to its claims; anything else gets 401 (or 400 for a malformed header) with a
     * `WWW-Authenticate: Bearer` challenge (RFC 6750 §3).
     */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyContextConfig {
    /** Marks the issuer's own endpoints, which `authenticate` lets through. */
    tokenIssuerPublic?: boolean
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    user: AccessTokenClaims
  }
}

export type VerifyBearer = (token: string) => Promise<AccessTokenClaims>

/** Route config key marking the issuer's own endpoints, which `authenticate` lets through. */
export const PUBLIC_ROUTE = 'tokenIssuerPublic' as const

/** Builds the `authenticate` preHandler around a verify function. */
export function bearerAuthenticator (verify: VerifyBearer, realm: string) {
  const challenge = (error?: string) =>
    `Bearer realm="${realm}"${error === undefined ? '' : `, error="${error}"`}`

  return async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    if (request.routeOptions.config?.tokenIssuerPublic === true) return

    const credential = bearerCredential(request.headers.authorization, request.raw.rawHeaders)

    if (credential.kind === 'missing') {
      // RFC 6750 §3.1: a request without credentials gets the challenge and no error code.
      return await reply.code(401).header('www-authenticate', challenge())
        .send({ error_description: 'A Bearer access token is required' })
    }
    if (credential.kind === 'malformed') {
      return await reply.code(400).header('www-authenticate', challenge('invalid_request'))
        .send({
          error: 'invalid_request', error_description: 'The Authorization header is malformed'
        })
    }

    try {
      request.user = await verify(credential.token)
    } catch (error) {
      request.log.info({ reason: (error as Error).message }, 'access token refused')
      return await reply.code(401).header('www-authenticate', challenge('invalid_token'))
        .send({
          error: 'invalid_token', error_description: 'The access token is invalid or expired'
        })
    }
  }
}
