import { mkdtempSync, rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runLoad, runProbe, type LoadOptions, type LoadResult } from './load.js'
import type { Pinning } from './machine.js'
import { startBenchServer, startService, type ServerProcess } from './processes.js'
import { basic, seedService, type ServiceSeed } from './seed.js'
import type { BenchSettings } from './settings.js'
import { FORM, form, passwordRequest, refreshRequest } from './token-requests.js'

/** `variant` is a second service with other settings (BENCH_VARIANT), loaded in alternation. */
export type ServerName = 'service' | 'variant' | 'ceiling' | 'host' | 'argon2'
export type ServiceName = 'service' | 'variant'

/** A service's own store: its seeded clients and users, and its live refresh tokens. */
export interface ServiceState {
  seed: ServiceSeed
  /** Live refresh tokens: each answer's new one goes back, each request takes one out. */
  refreshQueue: string[]
  /** An access token of the service, to introspect. */
  accessToken: string
}

/** The servers of a run, started once and loaded one scenario at a time. */
export interface Fixture {
  settings: BenchSettings
  servers: Partial<Record<ServerName, ServerProcess>>
  services: Partial<Record<ServiceName, ServiceState>>
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
  /** Loads `server`: the scenario's own, or the variant service for a service scenario. */
  run: (fixture: Fixture, seconds: number, server: ServerName) => Promise<Measurement>
}

function url (fixture: Fixture, server: ServerName, path: string): string {
  const port = fixture.servers[server]?.port
  if (port === undefined) throw new Error(`the ${server} server is not running`)
  return `http://127.0.0.1:${port}${path}`
}

function service (fixture: Fixture, server: ServerName): ServiceState {
  const state = fixture.services[server === 'variant' ? 'variant' : 'service']
  if (state === undefined) throw new Error(`no ${server} store`)
  return state
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
function clientCredentials (fixture: Fixture, server: ServerName) {
  const { seed } = service(fixture, server)
  return {
    method: 'POST' as const,
    headers: { ...FORM, authorization: basic(seed.service.id, seed.service.secret) },
    body: form({ grant_type: 'client_credentials' })
  }
}

/** Password grant requests, cycling through the seeded users. */
function passwordLoad (fixture: Fixture, seconds: number, server: ServerName): LoadOptions {
  const { usernames, web } = service(fixture, server).seed
  let next = 0
  return {
    url: url(fixture, server, '/token'),
    connections: fixture.settings.connections,
    seconds,
    requests: [passwordRequest(() => usernames[next++ % usernames.length] as string, web.id)]
  }
}

/** Refresh requests chained through the service's queue of live tokens (refreshRequest). */
function refreshLoad (fixture: Fixture, seconds: number, server: ServerName): LoadOptions {
  const { refreshQueue, seed } = service(fixture, server)
  return {
    url: url(fixture, server, '/token'),
    connections: fixture.settings.connections,
    seconds,
    requests: [refreshRequest(refreshQueue, seed.web.id)]
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Every scenario, in the order a round runs them. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'bare',
    label: 'framework ceiling: bare Fastify, fixed /token body',
    server: 'ceiling',
    run: async (f, s, on) => await http(f, s, on, '/bare', clientCredentials(f, 'service'))
  },
  {
    name: 'sign',
    label: 'signing ceiling: Fastify + @fastify/jwt sign',
    server: 'ceiling',
    run: async (f, s, on) => await http(f, s, on, '/sign', clientCredentials(f, 'service'))
  },
  {
    name: 'client-credentials',
    label: 'POST /token client_credentials',
    server: 'service',
    run: async (f, s, on) => await http(f, s, on, '/token', clientCredentials(f, on))
  },
  {
    name: 'refresh',
    label: 'POST /token refresh_token',
    server: 'service',
    run: async (f, s, on) => measured(await runLoad(refreshLoad(f, s, on)))
  },
  {
    name: 'argon2',
    label: 'hashing ceiling: argon2id verify alone',
    server: 'argon2',
    run: async (f, s, on) => {
      const argon2 = f.servers[on]
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
    run: async (f, s, on) => measured(await runLoad(passwordLoad(f, s, on)))
  },
  {
    name: 'health-idle',
    label: 'GET /health/live, nothing else (the probe alone)',
    server: 'service',
    run: async (f, s, on) =>
      measured(await runProbe(url(f, on, '/health/live'), f.settings.probeRate, s))
  },
  {
    name: 'health-under-login',
    label: 'GET /health/live while logins saturate',
    server: 'service',
    run: async (f, s, on) => {
      const [logins, probe] = await Promise.all([
        runLoad(passwordLoad(f, s, on)),
        runProbe(url(f, on, '/health/live'), f.settings.probeRate, s)
      ])
      return { ...measured(probe), failed: probe.failed + logins.failed, backgroundRps: logins.rps }
    }
  },
  {
    name: 'jwks',
    label: 'GET /.well-known/jwks.json',
    server: 'service',
    run: async (f, s, on) => await http(f, s, on, '/.well-known/jwks.json', {})
  },
  {
    name: 'introspect',
    label: 'POST /introspect (access token)',
    server: 'service',
    run: async (f, s, on) => {
      const { seed, accessToken } = service(f, on)
      return await http(f, s, on, '/introspect', {
        method: 'POST',
        headers: { ...FORM, authorization: basic(seed.resource.id, seed.resource.secret) },
        body: form({ token: accessToken })
      })
    }
  },
  {
    name: 'direct-verify',
    label: 'host route, @fastify/jwt verify directly',
    server: 'host',
    run: async (f, s, on) => await http(f, s, on, '/direct', { headers: bearer(f.hostToken) })
  },
  {
    name: 'authenticate',
    label: 'host route behind authenticate',
    server: 'host',
    run: async (f, s, on) => await http(f, s, on, '/profile', { headers: bearer(f.hostToken) })
  }
]

/**
 * Waits until no server uses more than a tenth of a CPU: a server keeps working on what was in
 * flight when the load stopped (a login queue holds a second of argon2 work), and that work
 * must not be charged to the next scenario. Resolves how long it waited, in seconds.
 */
export async function settle (fixture: Fixture, timeoutMs = 20_000): Promise<number> {
  const servers = Object.values(fixture.servers)
  const started = performance.now()
  const total = () => servers.reduce((sum, server) => sum + (server.cpuSeconds() ?? 0), 0)
  let before = total()
  while (performance.now() - started < timeoutMs) {
    await sleep(200)
    const now = total()
    if (now - before <= 0.02) break
    before = now
  }
  return (performance.now() - started) / 1000
}

/**
 * Runs a scenario once and adds what the loaded server spent: its peak RSS over the run (when
 * the peak can be reset), CPU time, and the load generator's CPU time.
 */
export async function measure (
  fixture: Fixture, scenario: Scenario, seconds: number
): Promise<Measurement & { peakReset: boolean, settleSeconds: number }> {
  const server = fixture.servers[scenario.server]
  const peakReset = server?.resetPeakRss() === true
  const cpuBefore = server?.cpuSeconds()
  const loadBefore = process.cpuUsage()
  const started = performance.now()

  const measurement = await scenario.run(fixture, seconds, scenario.server)

  const wall = (performance.now() - started) / 1000
  const loadUsed = process.cpuUsage(loadBefore)
  const cpuAfter = server?.cpuSeconds()
  // What was still in flight when the load stopped is finished before anything else runs, and
  // its memory counts for this scenario.
  const settleSeconds = await settle(fixture)
  const exit = server?.exited()
  if (exit !== undefined) throw new Error(`the ${scenario.server} server died: ${exit}`)
  const rssKiB = server?.peakRssKiB()

  const result: Measurement & { peakReset: boolean, settleSeconds: number } = {
    ...measurement,
    peakReset,
    settleSeconds,
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

/** A scenario of the stock service, run again on the variant service right after it. */
export function withVariants (scenarios: Scenario[]): Scenario[] {
  return scenarios.flatMap((scenario) => scenario.server !== 'service'
    ? [scenario]
    : [scenario, {
        ...scenario,
        name: `${scenario.name}+variant`,
        label: `${scenario.label} [variant]`,
        server: 'variant' as const
      }])
}

/** Parses BENCH_VARIANT: space-separated NAME=value settings for the variant service. */
export function variantEnv (settings: BenchSettings): Record<string, string> {
  return Object.fromEntries(settings.variant.map((pair) => {
    const at = pair.indexOf('=')
    return [pair.slice(0, at), pair.slice(at + 1)]
  }))
}

/** Seeds fresh stores, starts the servers asked for, and checks that each answers. */
export async function startFixture (options: FixtureOptions): Promise<Fixture> {
  const { settings, pinning } = options
  const dirs: string[] = []
  const tempDir = (name: string) => {
    const dir = mkdtempSync(join(tmpdir(), `token-issuer-bench-${name}-`))
    dirs.push(dir)
    return dir
  }
  const servers: Partial<Record<ServerName, ServerProcess>> = {}
  const services: Partial<Record<ServiceName, ServiceState>> = {}
  const profileDir = (name: ServerName) =>
    options.profile?.server === name ? { profileDir: options.profile.dir } : {}
  const close = async () => {
    await Promise.all(Object.values(servers).map(async (server) => { await server.stop() }))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }

  const startOne = async (name: ServiceName, env: Record<string, string>) => {
    const dataDir = tempDir(name)
    const seed = await seedService(dataDir, { users: 100, refreshTokens: options.refreshSeeds })
    const server = await startService({
      name,
      pinning,
      dataDir,
      algorithm: settings.algorithm,
      logLevel: settings.logLevel,
      env,
      ...profileDir(name)
    })
    servers[name] = server
    const response = await fetch(`http://127.0.0.1:${server.port}/token`, {
      method: 'POST',
      headers: { ...FORM, authorization: basic(seed.service.id, seed.service.secret) },
      body: form({ grant_type: 'client_credentials' })
    })
    if (response.status !== 200) throw new Error(`${name} client_credentials: ${response.status}`)
    const { access_token: accessToken } = await response.json() as { access_token: string }
    services[name] = { seed, refreshQueue: [...seed.refreshTokens], accessToken }
  }

  try {
    const wanted = options.servers
    // The ceilings send the service's client credentials too, so a seed is needed anyway.
    if (wanted.has('service') || wanted.has('ceiling')) await startOne('service', {})
    if (wanted.has('variant')) await startOne('variant', variantEnv(settings))
    if (wanted.has('ceiling')) {
      servers.ceiling = await startBenchServer('ceiling', 'ceiling.ts', pinning,
        { env: { BENCH_ALGORITHM: settings.algorithm }, ...profileDir('ceiling') })
    }
    if (wanted.has('host')) {
      servers.host = await startBenchServer('host', 'host.ts', pinning,
        { env: { BENCH_DATA_DIR: tempDir('host') }, ...profileDir('host') })
    }
    if (wanted.has('argon2')) {
      servers.argon2 = await startBenchServer('argon2', 'argon2.ts', pinning, profileDir('argon2'))
    }
    return {
      settings,
      servers,
      services,
      hostToken: String(servers.host?.info.token ?? ''),
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}
