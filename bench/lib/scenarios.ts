import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type autocannon from 'autocannon'
import { runLoad, runProbe, type LoadOptions, type LoadResult } from './load.js'
import type { Pinning } from './machine.js'
import { startBenchServer, startService, type ServerProcess } from './processes.js'
import { PASSWORD, basic, seedService, type ServiceSeed } from './seed.js'
import type { BenchSettings } from './settings.js'

export type ServerName = 'service' | 'ceiling' | 'host' | 'argon2'

/** The servers of a run, started once and loaded one scenario at a time. */
export interface Fixture {
  settings: BenchSettings
  servers: Partial<Record<ServerName, ServerProcess>>
  seed: ServiceSeed
  /** Live refresh tokens: each answer's new one goes back, each request takes one out. */
  refreshQueue: string[]
  /** An access token of the service, to introspect. */
  accessToken: string
  /** An access token of the host app, for its protected routes. */
  hostToken: string
  close: () => Promise<void>
}

/** What one scenario measured in one round. */
export interface Measurement {
  rps: number
  p50: number
  p99: number
  ok: number
  failed: number
  /** Peak resident set of the loaded server during the round, in KiB. */
  rssKiB?: number
  /** The logins per second the probe ran alongside (health under login load). */
  backgroundRps?: number
  /** CPU time of the loaded server (all threads) over wall time: 1 is one CPU kept busy. */
  serverCpu?: number
  /** The server's CPU time per 2xx answer, in microseconds: insensitive to stolen time. */
  cpuUsPerRequest?: number
  /** CPU time of the load generator (this process) over wall time. */
  loadCpu?: number
}

export interface Scenario {
  name: string
  /** How the report names it. */
  label: string
  server: ServerName
  run: (fixture: Fixture, seconds: number) => Promise<Measurement>
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const form = (params: Record<string, string>) => new URLSearchParams(params).toString()

function url (fixture: Fixture, server: ServerName, path: string): string {
  const port = fixture.servers[server]?.port
  if (port === undefined) throw new Error(`the ${server} server is not running`)
  return `http://127.0.0.1:${port}${path}`
}

function measured (result: LoadResult): Measurement {
  return { rps: result.rps, p50: result.p50, p99: result.p99, ok: result.ok, failed: result.failed }
}

async function http (fixture: Fixture, seconds: number, server: ServerName, path: string,
  options: Omit<LoadOptions, 'url' | 'connections' | 'seconds'>): Promise<Measurement> {
  return measured(await runLoad({
    url: url(fixture, server, path),
    connections: fixture.settings.connections,
    seconds,
    ...options
  }))
}

/** The client_credentials request, sent alike to the ceilings and to the service. */
function clientCredentials (fixture: Fixture) {
  return {
    method: 'POST' as const,
    headers: {
      ...FORM, authorization: basic(fixture.seed.service.id, fixture.seed.service.secret)
    },
    body: form({ grant_type: 'client_credentials' })
  }
}

/** Password grant requests, cycling through the seeded users. */
function passwordLoad (fixture: Fixture, seconds: number): LoadOptions {
  const { usernames, web } = fixture.seed
  let next = 0
  const request: autocannon.Request = {
    method: 'POST',
    path: '/token',
    headers: FORM,
    setupRequest: (request) => {
      const username = usernames[next++ % usernames.length] as string
      request.body = form({
        grant_type: 'password', client_id: web.id, username, password: PASSWORD
      })
      return request
    }
  }
  return {
    url: url(fixture, 'service', '/token'),
    connections: fixture.settings.connections,
    seconds,
    requests: [request]
  }
}

/**
 * Refresh requests, each with a token never presented before: a request takes the oldest live
 * token from a shared queue, and its answer puts the new one back. Rotation spends a token and
 * a second use would revoke its family, so nothing is ever replayed; a run ends with at most one
 * token per connection in flight, lost, which the seeded spares cover.
 */
function refreshLoad (fixture: Fixture, seconds: number): LoadOptions {
  const queue = fixture.refreshQueue
  const request: autocannon.Request = {
    method: 'POST',
    path: '/token',
    headers: FORM,
    setupRequest: (request) => {
      const token = queue.shift()
      if (token === undefined) throw new Error('the refresh token queue ran dry')
      request.body = form({
        grant_type: 'refresh_token', client_id: fixture.seed.web.id, refresh_token: token
      })
      return request
    },
    onResponse: (status, body) => {
      if (status === 200) queue.push((JSON.parse(body) as { refresh_token: string }).refresh_token)
    }
  }
  return {
    url: url(fixture, 'service', '/token'),
    connections: fixture.settings.connections,
    seconds,
    requests: [request]
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Every scenario, in the order a round runs them. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'bare',
    label: 'framework ceiling: bare Fastify, fixed /token body',
    server: 'ceiling',
    run: async (f, s) => await http(f, s, 'ceiling', '/bare', clientCredentials(f))
  },
  {
    name: 'sign',
    label: 'signing ceiling: Fastify + @fastify/jwt sign',
    server: 'ceiling',
    run: async (f, s) => await http(f, s, 'ceiling', '/sign', clientCredentials(f))
  },
  {
    name: 'client-credentials',
    label: 'POST /token client_credentials',
    server: 'service',
    run: async (f, s) => await http(f, s, 'service', '/token', clientCredentials(f))
  },
  {
    name: 'refresh',
    label: 'POST /token refresh_token',
    server: 'service',
    run: async (f, s) => measured(await runLoad(refreshLoad(f, s)))
  },
  {
    name: 'argon2',
    label: 'hashing ceiling: argon2id verify alone',
    server: 'argon2',
    run: async (f, s) => {
      const argon2 = f.servers.argon2
      if (argon2 === undefined) throw new Error('the argon2 server is not running')
      const result = await argon2.request<{ count: number, seconds: number }>(
        { type: 'run', seconds: s, concurrency: f.settings.connections })
      return { rps: result.count / result.seconds, p50: NaN, p99: NaN, ok: result.count, failed: 0 }
    }
  },
  {
    name: 'password',
    label: 'POST /token password (argon2id)',
    server: 'service',
    run: async (f, s) => measured(await runLoad(passwordLoad(f, s)))
  },
  {
    name: 'health-under-login',
    label: 'GET /health/live while logins saturate',
    server: 'service',
    run: async (f, s) => {
      const [logins, probe] = await Promise.all([
        runLoad(passwordLoad(f, s)),
        runProbe(url(f, 'service', '/health/live'), f.settings.probeRate, s)
      ])
      return { ...measured(probe), failed: probe.failed + logins.failed, backgroundRps: logins.rps }
    }
  },
  {
    name: 'jwks',
    label: 'GET /.well-known/jwks.json',
    server: 'service',
    run: async (f, s) => await http(f, s, 'service', '/.well-known/jwks.json', {})
  },
  {
    name: 'introspect',
    label: 'POST /introspect (access token)',
    server: 'service',
    run: async (f, s) => await http(f, s, 'service', '/introspect', {
      method: 'POST',
      headers: { ...FORM, authorization: basic(f.seed.resource.id, f.seed.resource.secret) },
      body: form({ token: f.accessToken })
    })
  },
  {
    name: 'direct-verify',
    label: 'host route, @fastify/jwt verify directly',
    server: 'host',
    run: async (f, s) => await http(f, s, 'host', '/direct', { headers: bearer(f.hostToken) })
  },
  {
    name: 'authenticate',
    label: 'host route behind authenticate',
    server: 'host',
    run: async (f, s) => await http(f, s, 'host', '/profile', { headers: bearer(f.hostToken) })
  }
]

/**
 * Runs a scenario once and adds what the loaded server spent: its peak RSS over the run (when
 * the peak can be reset), CPU time, and the load generator's CPU time.
 */
export async function measure (
  fixture: Fixture, scenario: Scenario, seconds: number
): Promise<Measurement & { peakReset: boolean }> {
  const server = fixture.servers[scenario.server]
  const peakReset = server?.resetPeakRss() === true
  const cpuBefore = server?.cpuSeconds()
  const loadBefore = process.cpuUsage()
  const started = performance.now()

  const measurement = await scenario.run(fixture, seconds)

  const wall = (performance.now() - started) / 1000
  const loadUsed = process.cpuUsage(loadBefore)
  const cpuAfter = server?.cpuSeconds()
  const rssKiB = server?.peakRssKiB()
  const result: Measurement & { peakReset: boolean } = {
    ...measurement,
    peakReset,
    loadCpu: (loadUsed.user + loadUsed.system) / 1e6 / wall
  }
  if (rssKiB !== undefined) result.rssKiB = rssKiB
  if (cpuBefore !== undefined && cpuAfter !== undefined) {
    const cpu = cpuAfter - cpuBefore
    result.serverCpu = cpu / wall
    // With the probe, the server's work is the logins, not the probe's answers.
    const answers = measurement.backgroundRps === undefined
      ? measurement.ok
      : measurement.backgroundRps * seconds
    if (answers > 0) result.cpuUsPerRequest = cpu * 1e6 / answers
  }
  return result
}

export interface FixtureOptions {
  settings: BenchSettings
  pinning: Pinning
  /** Only these servers. */
  servers: Set<ServerName>
  /** Refresh tokens to seed: enough for every run's losses. */
  refreshSeeds: number
  /** Profile this server (node --cpu-prof) into this directory. */
  profile?: { server: ServerName, dir: string }
}

/** Seeds a fresh store, starts the servers asked for, and checks that each answers. */
export async function startFixture (options: FixtureOptions): Promise<Fixture> {
  const { settings, pinning } = options
  const serviceDir = mkdtempSync(join(tmpdir(), 'token-issuer-bench-'))
  const hostDir = mkdtempSync(join(tmpdir(), 'token-issuer-bench-host-'))
  const servers: Partial<Record<ServerName, ServerProcess>> = {}
  const profileDir = (name: ServerName) =>
    options.profile?.server === name ? { profileDir: options.profile.dir } : {}
  const close = async () => {
    await Promise.all(Object.values(servers).map(async (server) => { await server.stop() }))
    rmSync(serviceDir, { recursive: true, force: true })
    rmSync(hostDir, { recursive: true, force: true })
  }

  try {
    const seed = await seedService(serviceDir, { users: 100, refreshTokens: options.refreshSeeds })
    const algorithm = { BENCH_ALGORITHM: settings.algorithm }
    const wanted = options.servers
    if (wanted.has('service')) {
      servers.service = await startService({
        pinning,
        dataDir: serviceDir,
        algorithm: settings.algorithm,
        logLevel: settings.logLevel,
        ...profileDir('service')
      })
    }
    if (wanted.has('ceiling')) {
      servers.ceiling = await startBenchServer('ceiling', 'ceiling.ts', pinning,
        { env: algorithm, ...profileDir('ceiling') })
    }
    if (wanted.has('host')) {
      servers.host = await startBenchServer('host', 'host.ts', pinning,
        { env: { BENCH_DATA_DIR: hostDir }, ...profileDir('host') })
    }
    if (wanted.has('argon2')) {
      servers.argon2 = await startBenchServer('argon2', 'argon2.ts', pinning, profileDir('argon2'))
    }

    let accessToken = ''
    if (servers.service !== undefined) {
      const response = await fetch(`http://127.0.0.1:${servers.service.port}/token`, {
        method: 'POST',
        headers: { ...FORM, authorization: basic(seed.service.id, seed.service.secret) },
        body: form({ grant_type: 'client_credentials' })
      })
      if (response.status !== 200) throw new Error(`client_credentials: ${response.status}`)
      accessToken = (await response.json() as { access_token: string }).access_token
    }
    return {
      settings,
      servers,
      seed,
      refreshQueue: [...seed.refreshTokens],
      accessToken,
      hostToken: String(servers.host?.info.token ?? ''),
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}
