import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { Test } from 'tap'
import app from '../src/app.js'
import { addClient, type ClientRegistration } from '../src/clients.js'
import { loggerOptions } from '../src/logger.js'
import { serverOptions } from '../src/server-options.js'

export const USERNAME = 'user-1'
export const PASSWORD = 'correct horse battery staple'

export interface BuildOptions {
  /** Extra or overriding environment variables. */
  env?: Record<string, string>
  /** The data directory; a fresh fixture directory by default. */
  dataDir?: string
  /** The store (DATABASE_URL); a SQLite file in the data directory by default. */
  databaseUrl?: string
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
  const fastify = Fastify({ ...serverOptions(() => false), logger: loggerFor(options.logs) })
  t.teardown(async () => { await fastify.close() })

  await fastify.register(app, {
    dotenv: false,
    env: {
      DATA_DIR: dataDir,
      BOOTSTRAP_USERNAME: USERNAME,
      BOOTSTRAP_PASSWORD: PASSWORD,
      // Rate limiting has tests of its own; elsewhere it would only count the test's requests.
      RATE_LIMIT_MAX: '0',
      ...(options.databaseUrl === undefined ? {} : { DATABASE_URL: options.databaseUrl }),
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

/** The service with a route `/resource` behind `authenticate`, as a host would add one. */
export async function protectedApp (t: Test, options: BuildOptions = {}) {
  return await build(t, options, (app) => {
    app.get('/resource', { preHandler: app.authenticate }, async (request) => request.user)
  })
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

/** Where the PostgreSQL tests run: a fresh schema per test in this database. */
export const POSTGRES_TEST_URL = process.env.POSTGRES_TEST_URL ??
  'postgres://postgres@127.0.0.1:5432/test'

let postgresReason: Promise<string | undefined> | undefined

/** Why PostgreSQL cannot be used here, or undefined when it answers. */
export async function postgresUnavailable (): Promise<string | undefined> {
  postgresReason ??= (async () => {
    const client = new pg.Client({
      connectionString: POSTGRES_TEST_URL, connectionTimeoutMillis: 3000
    })
    try {
      await client.connect()
      await client.query('select 1')
      return undefined
    } catch (error) {
      const { code, message } = error as { code?: string, message: string }
      return `PostgreSQL at ${POSTGRES_TEST_URL} is unavailable (${code ?? message})`
    } finally {
      await client.end().catch(() => {})
    }
  })()
  return await postgresReason
}

/**
 * Skips what needs a service this machine lacks, printing why. Where the services must be there
 * (REQUIRE_TEST_SERVICES=1, as CI sets it), their absence fails instead of passing unseen.
 */
export function skipWithout (t: Test, reason: string): void {
  if (process.env.REQUIRE_TEST_SERVICES === '1') t.fail(reason)
  else t.skip(reason, async () => {})
}

/** A database URL for a schema of its own, dropped when the test ends. */
export function postgresUrlFor (t: Test): string {
  const schema = `fti_test_${process.pid}_${randomBytes(4).toString('hex')}`
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_TEST_URL })
    await client.connect()
    await client.query(`drop schema if exists ${schema} cascade`)
    await client.end()
  })
  return `${POSTGRES_TEST_URL}?schema=${schema}`
}

/**
 * A PostgreSQL URL for a schema of its own that reaches the server through a tcpProxy, so a test
 * can cut or freeze the connection without touching the server.
 */
export async function postgresBehindProxy (t: Test) {
  const url = new URL(postgresUrlFor(t))
  const proxy = await tcpProxy(t, Number(url.port === '' ? 5432 : url.port))
  url.host = `127.0.0.1:${proxy.port}`
  return { proxy, databaseUrl: url.toString() }
}

export type EngineName = 'sqlite' | 'postgres'

/**
 * Runs `body` once on a fresh SQLite file and once on a fresh PostgreSQL schema, the second
 * skipped, with the reason printed, where PostgreSQL does not answer.
 */
export function onEachEngine (
  t: Test, name: string, body: (t: Test, databaseUrl: string, engine: EngineName) => Promise<void>
): void {
  t.test(`${name} (SQLite)`, async (t) => {
    await body(t, `sqlite:${join(t.testdir(), 'tokens.db')}`, 'sqlite')
  })
  t.test(`${name} (PostgreSQL)`, async (t) => {
    const reason = await postgresUnavailable()
    if (reason !== undefined) {
      skipWithout(t, reason)
      return
    }
    await body(t, postgresUrlFor(t), 'postgres')
  })
}

/** The Redis the tests share, each under a key prefix of its own. */
export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379'

let redisReason: Promise<string | undefined> | undefined

/** Why Redis cannot be used here, or undefined when it answers. */
export async function redisUnavailable (): Promise<string | undefined> {
  redisReason ??= (async () => {
    const client = new Redis(REDIS_TEST_URL, {
      lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null
    })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.ping()
      return undefined
    } catch (error) {
      const { code, message } = error as { code?: string, message: string }
      return `Redis at ${REDIS_TEST_URL} is unavailable (${code ?? message})`
    } finally {
      client.disconnect()
    }
  })()
  return await redisReason
}

/** A key prefix of the test's own; its keys are deleted when the test ends. */
export function redisPrefixFor (t: Test): string {
  const prefix = `fti-test:${process.pid}:${randomBytes(4).toString('hex')}:`
  t.teardown(async () => {
    const client = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 0 })
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    client.disconnect()
  })
  return prefix
}

/** A free TCP port on loopback. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/**
 * A Redis server of the test's own, which it may stop and start again (empty, as a restarted
 * Redis without persistence is); undefined, with the reason, where redis-server is not installed.
 */
export interface OwnRedis {
  url: string
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Stops the process without ending it (SIGSTOP), as a hung or cut-off Redis looks. */
  pause: () => void
  resume: () => void
}

export async function ownRedisServer (
  t: Test, extraArgs: string[] = []
): Promise<OwnRedis | string> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
    const started = await new Promise<boolean | string>((resolve) => {
      child?.once('error', (error) => { resolve(error.message) })
      child?.stdout?.on('data', (chunk: Buffer) => {
        if (/Ready to accept connections/.test(chunk.toString())) resolve(true)
      })
    })
    if (started !== true) throw new Error(`redis-server did not start: ${String(started)}`)
  }
  const stop = async () => {
    if (child === undefined || child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    child.kill('SIGCONT')
    await exited
  }
  try {
    await start()
  } catch (error) {
    return (error as Error).message
  }
  t.teardown(stop)
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: () => { child?.kill('SIGSTOP') },
    resume: () => { child?.kill('SIGCONT') }
  }
}

/**
 * A TCP proxy to a server on loopback, to take it away from the service without touching it:
 * `cut` resets every connection and refuses new ones, `freeze` leaves them open but silent,
 * `restore` ends either.
 */
export async function tcpProxy (t: Test, targetPort: number) {
  const pairs = new Set<[Socket, Socket]>()
  let mode: 'open' | 'cut' | 'frozen' = 'open'
  const server = createServer((client) => {
    if (mode === 'cut') {
      client.destroy()
      return
    }
    const upstream = connect(targetPort, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      pairs.delete(pair)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    if (mode === 'frozen') {
      client.pause()
      upstream.pause()
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const [client, upstream] of pairs) {
      client.destroy()
      upstream.destroy()
    }
    server.close()
  })
  return {
    port: (server.address() as AddressInfo).port,
    cut () {
      mode = 'cut'
      for (const [client] of pairs) client.resetAndDestroy()
    },
    freeze () {
      mode = 'frozen'
      for (const [client, upstream] of pairs) {
        client.pause()
        upstream.pause()
      }
    },
    restore () {
      mode = 'open'
      for (const [client, upstream] of pairs) {
        client.resume()
        upstream.resume()
      }
    }
  }
}

/** Sends bytes as they are and resolves everything the server answers until it closes. */
export async function rawExchange (port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  socket.write(request, 'latin1')
  let answer = ''
  socket.on('data', (chunk) => { answer += chunk.toString() })
  await once(socket, 'close')
  return answer
}
