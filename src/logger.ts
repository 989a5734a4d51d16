import type { FastifyServerOptions, FastifyRequest } from 'fastify'
import pretty from 'pino-pretty'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

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
  '*.secret',
  // A malformed request is logged (at trace) with its raw bytes: headers and body, secrets and all.
  'err.rawPacket',
  '*.rawPacket'
]

/**
 * JSON lines by default; pino-pretty when a person is watching the terminal. Pretty output is
 * written from this thread, so a terminal that goes away ends the process (EIO on write) instead
 * of leaving a logging worker spinning.
 */
export function loggerOptions (level: string, terminal = process.stdout.isTTY === true) {
  if (terminal) {
    process.stdout.on('error', () => { process.exit(0) })
  }
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
    ...(terminal ? { stream: pretty({ colorize: true, destination: process.stdout }) } : {})
  } satisfies FastifyServerOptions['logger']
}
