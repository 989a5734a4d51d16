import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import app from '../src/app.js'
import { addClient, type ClientRegistration } from '../src/clients.js'
import { loggerOptions } from '../src/logger.js'

export const USERNAME = 'user-1'
export const PASSWORD = 'correct horse battery staple'

export interface BuildOptions {
  /** Extra or overriding environment variables. */
  env?: Record<string, string>
  /** The data directory; a fresh fixture directory by default. */
  dataDir?: string
  /** Collects every log line (as parsed JSON) here. */
  logs?: Array<Record<string, unknown>>
}

/**
 * The service exactly as the server entry builds it, on a fresh SQLite file, with `user-1` as the
 * bootstrap user, plus whatever `extend` adds (routes of a host, say). Closed when the test ends.
 */
export async function build (
  t: Test, options: BuildOptions = {}, extend?: (fastify: FastifyInstance) => void
): Promise<FastifyInstance> {
  const dataDir = options.dataDir ?? t.testdir()
  const fastify = Fastify({ logger: loggerFor(options.logs) })
  t.teardown(async () => { await fastify.close() })

  await fastify.register(app, {
    dotenv: false,
    env: {
      DATA_DIR: dataDir,
      BOOTSTRAP_USERNAME: USERNAME,
      BOOTSTRAP_PASSWORD: PASSWORD,
      // Rate limiting has tests of its own; elsewhere it would only count the test's requests.
      RATE_LIMIT_MAX: '0',
      ...options.env
    }
  })
  extend?.(fastify)
  await fastify.ready()
  return fastify
}

function loggerFor (logs: Array<Record<string, unknown>> | undefined) {
  if (logs === undefined) return false
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') logs.push(JSON.parse(line))
      }
      done()
    }
  })
  return { ...loggerOptions('debug', false), stream }
}

/** A form-encoded body, as RFC 6749 clients send it. */
export function form (params: Record<string, string>): string {
  return new URLSearchParams(params).toString()
}

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
export const JSON_HEADERS = { 'content-type': 'application/json' }

/** POST /token with form parameters. */
export async function requestToken (
  fastify: FastifyInstance, params: Record<string, string>
) {
  return await fastify.inject({
    method: 'POST', url: '/token', headers: FORM, payload: form(params)
  })
}

export async function login (fastify: FastifyInstance, username = USERNAME, password = PASSWORD) {
  return await requestToken(fastify, { grant_type: 'password', username, password })
}

/** The decoded header and payload of a JWT, without verifying it. */
export function decodeJwt (
  token: string
): { header: Record<string, unknown>, payload: Record<string, unknown> } {
  const [header, payload] = token.split('.')
  const decode = (part: string | undefined) =>
    JSON.parse(Buffer.from(part ?? '', 'base64url').toString())
  return { header: decode(header), payload: decode(payload) }
}

/** A Basic header as RFC 6749 §2.3.1 builds it: each part form-encoded, then base64. */
export function basic (clientId: string, secret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`
}

/** Registers a client in the app's store and resolves its secret (undefined when public). */
export async function registerClient (
  fastify: FastifyInstance, registration: ClientRegistration
): Promise<string | undefined> {
  return (await addClient(fastify.tokenStore.clients, registration)).secret
}

/** POST to an OAuth endpoint with form parameters and optional Basic client credentials. */
export async function post (
  fastify: FastifyInstance, url: string, params: Record<string, string>, authorization?: string
) {
  return await fastify.inject({
    method: 'POST',
    url,
    headers: { ...FORM, ...(authorization === undefined ? {} : { authorization }) },
    payload: form(params)
  })
}
