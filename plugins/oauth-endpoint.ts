import { parse as parseQuery } from 'node:querystring'
import formbody from '@fastify/formbody'
import { Ajv } from 'ajv'
import sjson from 'secure-json-parse'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authorizationHeaders } from '../src/bearer.js'
import { authenticateClient, clientCredentialsOf } from '../src/client-auth.js'
import { InvalidRequestError, oauthErrorCode } from '../src/errors.js'
import type { Client, ClientStore } from '../src/store/clients.js'
import { throttleOf } from '../src/log-throttle.js'
import type { IssuerMetrics } from '../src/metrics.js'
import { REQUEST_TIMEOUT_MS } from '../src/server-options.js'
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
export async function oauthEndpoint (
  scope: FastifyInstance, metrics: IssuerMetrics
): Promise<void> {
  scope.removeAllContentTypeParsers()
  await scope.register(formbody, { bodyLimit: OAUTH_BODY_LIMIT, parser: parseForm })
  scope.addContentTypeParser(JSON_TYPE, { parseAs: 'string', bodyLimit: OAUTH_BODY_LIMIT },
    parseJson)

  scope.addHook('onRequest', async (request, reply) => {
    bodyDeadline(request, reply)
    // Bodies are read as UTF-8: another charset would be misread silently, so it is refused.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')
    if (charset !== null && !/^utf-?8$/i.test(charset[1] as string)) {
      throw new InvalidRequestError('The only charset accepted is UTF-8')
    }
    // A compressed body would be parsed as if it were plain: refused, as RFC 9110 §8.4 allows.
    const encoding = request.headers['content-encoding']
    if (encoding !== undefined && !/^\s*identity\s*$/i.test(encoding)) {
      throw new InvalidRequestError('The body must not be compressed (no Content-Encoding)')
    }
    // Node keeps the first of several Authorization headers: which one counts would be a guess.
    if (authorizationHeaders(request.raw.rawHeaders) > 1) {
      throw new InvalidRequestError('The request holds more than one Authorization header')
    }
  })
  scope.setValidatorCompiler(({ schema }) => ajv.compile(schema))
  scope.addHook('preValidation', async (request) => {
    const body = request.body
    if (body !== null && typeof body === 'object' && Object.keys(body).length > MAX_PARAMETERS) {
      throw new InvalidRequestError(`More than ${MAX_PARAMETERS} parameters`)
    }
  })
  scope.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body } = describe(error)
    metrics.tokenErrors.inc({ endpoint: request.routeOptions.url ?? 'unknown', error: body.error })
    return sendError(error, status, body, request, reply)
  })
  scope.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  })
}

/**
 * Node's request timeout covers the headers only: a body trickling in a byte at a time would hold
 * the connection, and a request, for as long as the client likes. The body gets as long as the
 * headers did; then the answer is 408 and the connection is closed.
 */
function bodyDeadline (request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw
  if (raw.complete) return
  const timer = setTimeout(() => {
    if (raw.complete || reply.sent) return
    request.log.warn({ ip: request.ip }, 'request body too slow: connection closed')
    reply.hijack()
    reply.raw.writeHead(408, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      pragma: 'no-cache',
      connection: 'close'
    })
    reply.raw.end(JSON.stringify(oauthBody('invalid_request',
      'The request body took too long to arrive')), () => { raw.socket?.destroy() })
  }, REQUEST_TIMEOUT_MS).unref()
  raw.once('end', () => { clearTimeout(timer) })
  raw.once('close', () => { clearTimeout(timer) })
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

/**
 * Form parameters (RFC 6749 Appendix B), strictly: bytes that are not UTF-8 (which decoding
 * turned into U+FFFD) and malformed percent-escapes are refused, not kept as they came, or two
 * different requests would name the same password. A repeated parameter becomes an array, which
 * the schema refuses.
 */
export function parseForm (body: string): Record<string, string | string[]> {
  if (body.includes('\uFFFD')) throw new InvalidRequestError('The body is not valid UTF-8')
  let malformed = false
  const params = parseQuery(body, '&', '=', {
    maxKeys: 0,
    decodeURIComponent: (text: string) => {
      try {
        return decodeURIComponent(text)
      } catch {
        malformed = true
        return text
      }
    }
  })
  if (malformed) throw new InvalidRequestError('The body holds a malformed percent-encoding')
  return params as Record<string, string | string[]>
}

function parseJson (_request: FastifyRequest, body: string, done: ParserDone) {
  if (body.includes('\uFFFD')) {
    done(new InvalidRequestError('The body is not valid UTF-8'))
    return
  }
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

/**
 * The error handler of every other route of the service: the same shape and statuses (503 for a
 * store that is away), and nothing internal in a body.
 */
export function answerError (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const described = describe(error)
  // Outside the OAuth endpoints a 403 or 404 stays one; only the body is ours.
  const status = described.status === 400 && (error.statusCode ?? 0) > 400 &&
    (error.statusCode ?? 0) < 500 && oauthErrorCode(error) === undefined
    ? error.statusCode as number
    : described.status
  return sendError(error, status, described.body, request, reply)
}

function sendError (
  error: FastifyError, status: number, body: OAuthBody, request: FastifyRequest,
  reply: FastifyReply
) {
  if (status === 503) {
    // Every request fails alike while the store is away or logins overflow: a line per 10 s.
    const busy = error.code === 'FTI_BUSY'
    const held = throttleOf(request.server.tokenStore ?? request.server, busy ? 'busy' : 'store')
      .pass()
    if (held !== undefined && busy) {
      request.log.warn(held > 0 ? { heldBack: held } : {}, 'logins refused: too many waiting')
    } else if (held !== undefined) {
      request.log.error({ err: error, ...(held > 0 ? { heldBack: held } : {}) },
        'store unavailable')
    }
  } else if (status >= 500) {
    request.log.error({ err: error }, 'request failed')
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

function describe (error: FastifyError): { status: number, body: OAuthBody } {
  const code = oauthErrorCode(error)
  if (code !== undefined) {
    return { status: error.statusCode ?? 400, body: oauthBody(code, error.message) }
  }
  if (error.validation !== undefined) {
    return { status: 400, body: oauthBody('invalid_request', describeValidation(error)) }
  }
  // A client that went away mid-body shows as ECONNRESET too, but Fastify gave it a status.
  if (error.statusCode === undefined && isStoreUnavailable(error)) {
    return {
      status: 503,
      body: oauthBody('temporarily_unavailable', 'The store is unavailable; try again shortly')
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

interface OAuthBody {
  error: string
  error_description: string
}

function oauthBody (error: string, description: string): OAuthBody {
  return { error, error_description: description }
}
