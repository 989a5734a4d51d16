import type { Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyHttpOptions, FastifyReply, FastifyRequest } from 'fastify'

/** A token request is a few hundred bytes: a client that takes longer to send one is stalling. */
export const REQUEST_TIMEOUT_MS = 10_000
const PLUGIN_TIMEOUT_MS = 30_000
/** How often Node looks for requests past their time (its default, 30 s, lets them run on). */
const TIMEOUT_CHECK_MS = 1_000

/**
 * The Fastify options of the service, apart from its logger: what the server entry and the tests
 * create the instance with. `trust` decides which proxies' X-Forwarded-For count; it is asked
 * through a function because the configuration is read after the instance exists.
 */
export function serverOptions (
  trust: (address: string, hop: number) => boolean
): FastifyHttpOptions<Server> {
  return {
    trustProxy: (address: string, hop: number) => trust(address, hop),
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Fastify's 10 s would cut short a database that answers slowly at start (a 5 s connection
    // timeout, then a query's): the store's own error, naming DATABASE_URL, says more.
    pluginTimeout: PLUGIN_TIMEOUT_MS,
    // A request that reaches a closing server on a connection it still holds is served like
    // those in flight, not refused with 503: draining has asked its client to move on already.
    return503OnClosing: false,
    http: { connectionsCheckingInterval: TIMEOUT_CHECK_MS },
    frameworkErrors: answerMalformedRequest,
    clientErrorHandler: answerBrokenRequest
  }
}

const BROKEN: Readonly<Record<string, [number, string, string]>> = Object.freeze({
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request took too long to arrive'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'The request headers are too large']
})

/**
 * Requests Node cannot parse (a broken Content-Length, oversized headers, a stalled request):
 * answered in the OAuth shape, and logged without their raw bytes, which may hold credentials.
 */
function answerBrokenRequest (
  this: { log: { debug: (object: object, message: string) => void } },
  error: Error & { code?: string }, socket: Duplex
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, reason, description] = BROKEN[error.code ?? ''] ??
    [400, 'Bad Request', 'The request is malformed']
  this.log.debug({ code: error.code }, 'malformed request refused')

  const body = JSON.stringify({ error: 'invalid_request', error_description: description })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n` +
      `pragma: no-cache\r\nconnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/**
 * Requests Fastify refuses before any route runs (a URL that does not decode, say): the OAuth
 * error shape, and never the URL itself, which may carry a secret in its query string.
 */
function answerMalformedRequest (
  _error: FastifyError, _request: FastifyRequest, reply: FastifyReply
): void {
  reply.code(400)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .send({ error: 'invalid_request', error_description: 'The request URL is malformed' })
}
