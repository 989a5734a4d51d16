import formbody from '@fastify/formbody'
import { Ajv } from 'ajv'
import sjson from 'secure-json-parse'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authenticateClient, clientCredentialsOf } from '../src/client-auth.js'
import { InvalidRequestError, oauthErrorCode } from '../src/errors.js'
import type { Client, ClientStore } from '../src/store/clients.js'
import { isStoreUnavailable } from '../src/store/database.js'

/** Token endpoint bodies are a handful of short parameters. */
export const OAUTH_BODY_LIMIT = 16 * 1024
export const MAX_PARAMETERS = 32

const FORM = 'application/x-www-form-urlencoded'
const JSON_TYPE = 'application/json'

// Fastify's default Ajv coerces types: ["a", "b"] must not pass as a string, nor 42 as "42".
const ajv = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false })

/**
 * Makes the current (encapsulated) scope an OAuth endpoint: it parses exactly form bodies and
 * JSON objects, validates them without coercion, answers every error in the RFC 6749 §5.2 shape,
 * and marks every response `no-store` (§5.1).
 */
export async function oauthEndpoint (scope: FastifyInstance): Promise<void> {
  scope.removeAllContentTypeParsers()
  await scope.register(formbody, { bodyLimit: OAUTH_BODY_LIMIT })
  scope.addContentTypeParser(JSON_TYPE, { parseAs: 'string', bodyLimit: OAUTH_BODY_LIMIT },
    parseJson)

  scope.addHook('onRequest', async (request) => {
    // Bodies are read as UTF-8: another charset would be misread silently, so it is refused.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')
    if (charset !== null && !/^utf-?8$/i.test(charset[1] as string)) {
      throw new InvalidRequestError('The only charset accepted is UTF-8')
    }
  })
  scope.setValidatorCompiler(({ schema }) => ajv.compile(schema))
  scope.addHook('preValidation', async (request) => {
    const body = request.body
    if (body !== null && typeof body === 'object' && Object.keys(body).length > MAX_PARAMETERS) {
      throw new InvalidRequestError(`More than ${MAX_PARAMETERS} parameters`)
    }
  })
  scope.setErrorHandler(sendOAuthError)
  scope.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  })
}

/** The client a request authenticates as (RFC 6749 §2.3), or undefined when it sends none. */
export async function requestClient (
  request: FastifyRequest, clients: ClientStore
): Promise<Client | undefined> {
  const params = (request.body ?? {}) as Record<string, string | undefined>
  const credentials = clientCredentialsOf(request.headers.authorization, params)
  return credentials === undefined ? undefined : await authenticateClient(clients, credentials)
}

/** True when the request body came as JSON (our documented extension to RFC 6749). */
export function isJsonRequest (request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').toLowerCase().startsWith(JSON_TYPE)
}

type ParserDone = (error: Error | null, body?: unknown) => void

function parseJson (_request: FastifyRequest, body: string, done: ParserDone) {
  if (body.trim() === '') {
    done(null, {})
    return
  }
  try {
    // A body with __proto__ or constructor keys is an attack, not a token request (C09).
    done(null, sjson.parse(body, { protoAction: 'error', constructorAction: 'error' }))
  } catch {
    done(new InvalidRequestError('The request body is not a valid JSON object'))
  }
}

function sendOAuthError (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const { status, body } = describe(error)

  if (status >= 500) {
    request.log.error({ err: error }, 'token endpoint failed')
  }
  if (status === 503) reply.header('retry-after', '1')
  if (error.code === 'FTI_METHOD_NOT_ALLOWED') reply.header('allow', 'POST')
  const retryAfter = (error as { retryAfter?: unknown }).retryAfter
  if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter))
  if (error.code === 'FTI_INVALID_CLIENT') {
    request.log.warn({ ip: request.ip }, 'client authentication failed')
    reply.header('www-authenticate', 'Basic realm="token", charset="UTF-8"')
  }
  return reply.code(status).send(body)
}

function describe (error: FastifyError): { status: number, body: object } {
  const code = oauthErrorCode(error)
  if (code !== undefined) {
    return { status: error.statusCode ?? 400, body: oauthBody(code, error.message) }
  }
  if (error.validation !== undefined) {
    return { status: 400, body: oauthBody('invalid_request', describeValidation(error)) }
  }
  if (isStoreUnavailable(error)) {
    return {
      status: 503,
      body: oauthBody('temporarily_unavailable', 'The store is busy; try again shortly')
    }
  }
  const status = error.statusCode ?? 500
  if (status === 429) {
    return { status, body: oauthBody('invalid_request', error.message) }
  }
  if (status === 413) {
    return { status, body: oauthBody('invalid_request', 'The request body is too large') }
  }
  if (status === 415) {
    const description = `The body must be ${FORM} or ${JSON_TYPE}`
    return { status: 400, body: oauthBody('invalid_request', description) }
  }
  if (status >= 400 && status < 500) {
    // Framework messages can quote parser internals: say only what kind of mistake it was.
    return { status: 400, body: oauthBody('invalid_request', 'The request is malformed') }
  }
  return { status: 500, body: oauthBody('server_error', 'The server could not handle the request') }
}

function describeValidation (error: FastifyError): string {
  const first = error.validation?.[0]
  const parameter = first?.instancePath.replace(/^\//, '') ?? ''
  if (parameter === '') return `The body must be form parameters (${FORM}) or a JSON object`
  return `The ${parameter} parameter must be given once, as a string`
}

function oauthBody (error: string, description: string) {
  return { error, error_description: description }
}
