import type { FastifyServerOptions, FastifyRequest } from 'fastify'

/**
 * Paths removed from every log line. Tokens, passwords and secrets never reach the logs, even
 * when a handler logs a whole body or headers object by mistake.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'body.password',
  'body.client_secret',
  'body.refresh_token',
  'body.token',
  '*.password',
  '*.client_secret',
  '*.access_token',
  '*.refresh_token',
  '*.secret'
]

/** JSON lines by default; pino-pretty when a person is watching the terminal. */
export function loggerOptions (level: string, pretty = process.stdout.isTTY === true) {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      // The query string can carry a token (?access_token=...): log the path only.
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: request.url.split('?')[0],
        host: request.host,
        remoteAddress: request.ip
      })
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {})
  } satisfies FastifyServerOptions['logger']
}
