/**
 * Store growth: does a login or a refresh get slower on a big store? Two services run at once,
 * one on a store of 100 users, one on 100,000 users and 1,000,000 refresh tokens, and their
 * latencies are measured in alternation. Also checks that the purge at start deletes expired
 * refresh token families and deny-list entries, and times one purge on the big store.
 * Writes bench/results/growth.json and the growth section of BENCHMARKS.md.
 *
 *   npm run bench:growth                  # a minute or two, most of it seeding
 *   BENCH_QUICK=1 npm run bench:growth    # a tenth of the rows, into bench/results/quick/
 *
 * Settings: BENCH_SECONDS, BENCH_ROUNDS, BENCH_GROWTH_CONNECTIONS (1: latency, not throughput),
 * BENCH_GROWTH_USERS, BENCH_GROWTH_TOKENS, and those of bench/run.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bulkSeed, purgeCounts } from './lib/bulk-seed.js'
import type { GrowthLatency, GrowthResult } from './lib/growth-report.js'
import { runLoad, type LoadOptions } from './lib/load.js'
import { load1, machineInfo, setUpPinning } from './lib/machine.js'
import { startService, type ServerProcess } from './lib/processes.js'
import { writeReport } from './lib/report.js'
import { databaseUrlIn, seedService } from './lib/seed.js'
import { ROOT, benchSettings, wholeFrom } from './lib/settings.js'
import { passwordRequest, refreshRequest } from './lib/token-requests.js'
import { openStore } from '../src/store/index.js'

const settings = benchSettings()
const scale = settings.quick ? 10 : 1
const users = wholeFrom('BENCH_GROWTH_USERS', 100_000 / scale)
const tokens = wholeFrom('BENCH_GROWTH_TOKENS', 1_000_000 / scale)
const connections = wholeFrom('BENCH_GROWTH_CONNECTIONS', 1)
const expiredFamilies = 10_000 / scale
const deadFamilies = 5_000 / scale
const deniedEach = 50_000 / scale
const pinning = setUpPinning(settings.pin)
const dbFile = (dir: string) => databaseUrlIn(dir).slice('sqlite:'.length)

const startedAt = new Date()
const loadAtStart = load1()
const smallDir = mkdtempSync(join(tmpdir(), 'token-issuer-growth-small-'))
const largeDir = mkdtempSync(join(tmpdir(), 'token-issuer-growth-large-'))
const servers: ServerProcess[] = []

function loginLoad (port: number, usernames: string[], client: string): LoadOptions {
  const pick = () => usernames[Math.floor(Math.random() * usernames.length)] as string
  return {
    url: `http://127.0.0.1:${port}/token`,
    connections,
    seconds: settings.seconds,
    requests: [passwordRequest(pick, client)]
  }
}

/** Refreshes chained through a queue of live tokens, as in bench/run.ts: none is used twice. */
function refreshLoad (port: number, queue: string[], client: string): LoadOptions {
  return {
    url: `http://127.0.0.1:${port}/token`,
    connections,
    seconds: settings.seconds,
    requests: [refreshRequest(queue, client)]
  }
}

async function latency (options: LoadOptions): Promise<GrowthLatency> {
  const result = await runLoad(options)
  // Without one good answer there is no latency to report, and a results file must not say so.
  if (result.ok === 0) {
    throw new Error(`no request to ${options.url} succeeded: ${JSON.stringify(result.statusCodes)}`)
  }
  return { p50: result.p50, p99: result.p99, rps: result.rps, failed: result.failed }
}

try {
  const seeds = connections * (settings.rounds + 2) + 100
  const small = await seedService(smallDir, { users: 100, refreshTokens: seeds })
  const large = await seedService(largeDir, { users: 100, refreshTokens: 0 })
  console.log(`seeding ${users.toLocaleString('en-US')} users and ` +
    `${tokens.toLocaleString('en-US')} refresh tokens`)
  const seedStarted = performance.now()
  const bulk = bulkSeed(dbFile(largeDir), large.web.id, large.web.scope, {
    users: users - 100,
    refreshTokens: tokens,
    expiredFamilies,
    deadFamilies,
    deniedEach,
    samples: seeds
  })
  const seedSeconds = (performance.now() - seedStarted) / 1000
  const databaseMiB = statSync(dbFile(largeDir)).size / 2 ** 20
  const seeded = purgeCounts(dbFile(largeDir))
  console.log(`seeded in ${seedSeconds.toFixed(1)} s, ${databaseMiB.toFixed(0)} MiB`)

  const service = async (dataDir: string) => {
    const server = await startService({
      pinning, dataDir, algorithm: settings.algorithm, logLevel: settings.logLevel
    })
    servers.push(server)
    return server
  }
  const smallServer = await service(smallDir)
  // The service purges when it is ready, before it answers /health/ready.
  const largeServer = await service(largeDir)
  const afterStart = purgeCounts(dbFile(largeDir))

  const smallQueue = [...small.refreshTokens]
  const largeQueue = [...bulk.liveTokens]
  const login: GrowthResult['login'] = []
  const refresh: GrowthResult['refresh'] = []
  const show = (name: string, l: GrowthLatency) => `${name} p50 ${l.p50.toFixed(2)} ms ` +
    `p99 ${l.p99.toFixed(2)} ms${l.failed > 0 ? ` FAILED ${l.failed}` : ''}`
  for (let round = 0; round <= settings.rounds; round++) {
    const pairs = [
      await latency(loginLoad(smallServer.port, small.usernames, small.web.id)),
      await latency(loginLoad(largeServer.port, bulk.usernames, large.web.id))
    ] as [GrowthLatency, GrowthLatency]
    const refreshes = [
      await latency(refreshLoad(smallServer.port, smallQueue, small.web.id)),
      await latency(refreshLoad(largeServer.port, largeQueue, large.web.id))
    ] as [GrowthLatency, GrowthLatency]
    // Round 0 warms both services up and is not recorded.
    if (round > 0) {
      login.push(pairs)
      refresh.push(refreshes)
    }
    console.log(`${round === 0 ? 'warm-up' : `round ${round}/${settings.rounds}`}: ` +
      `login ${show('small', pairs[0])}, ${show('large', pairs[1])}; ` +
      `refresh ${show('small', refreshes[0])}, ${show('large', refreshes[1])}`)
  }
  await Promise.all(servers.map(async (server) => { await server.stop() }))

  // One purge with a backlog like the one seeded, and one with nothing to delete, in this
  // process: the same store code the service runs hourly.
  bulkSeed(dbFile(largeDir), large.web.id, large.web.scope, {
    users: 0, refreshTokens: 0, expiredFamilies, deadFamilies: 0, deniedEach, samples: 0
  })
  const store = await openStore(databaseUrlIn(largeDir))
  let purgeMs = 0
  let idlePurgeMs = 0
  try {
    let started = performance.now()
    await store.purgeExpired()
    purgeMs = performance.now() - started
    started = performance.now()
    await store.purgeExpired()
    idlePurgeMs = performance.now() - started
  } finally {
    await store.close()
  }

  const result: GrowthResult = {
    startedAt: startedAt.toISOString(),
    commit: machineInfo().commit,
    pinning: pinning.description,
    experiment: settings.experiment,
    rounds: settings.rounds,
    seconds: settings.seconds,
    connections,
    loadAverage: { start: loadAtStart, end: load1() },
    small: { users: 100, refreshTokens: seeds },
    large: { users, refreshTokens: tokens, families: bulk.families, seedSeconds, databaseMiB },
    login,
    refresh,
    purge: { seeded, afterStart, purgeMs, idlePurgeMs }
  }
  mkdirSync(settings.outDir, { recursive: true })
  writeFileSync(join(settings.outDir, 'growth.json'), `${JSON.stringify(result, null, 2)}\n`)
  const written = writeReport(settings.outDir, settings.official ? ROOT : settings.outDir)
  console.log(`purge: ${JSON.stringify(afterStart)}; one purge ${purgeMs.toFixed(0)} ms, ` +
    `idle ${idlePurgeMs.toFixed(0)} ms\nwrote ${written.files.join(', ')}`)
} finally {
  await Promise.all(servers.map(async (server) => { await server.stop() }))
  rmSync(smallDir, { recursive: true, force: true })
  rmSync(largeDir, { recursive: true, force: true })
}
