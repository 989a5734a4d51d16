/**
 * The benchmark: the real service, the ceilings it is measured against, and a host app using the
 * plugin, each in a child process pinned to one CPU while this process (the load generator) runs
 * on another. Every scenario runs once per round, rounds repeat, and ratios are taken inside
 * each round, so a noisy machine slows both sides of a ratio alike. Writes
 * bench/results/bench.json, BENCHMARKS.md and bench/results/chart.svg.
 *
 *   npm run bench                  # the full run, a few minutes
 *   BENCH_QUICK=1 npm run bench    # a smoke run; results go to bench/results/quick/
 *
 * Settings: BENCH_SECONDS, BENCH_ROUNDS, BENCH_WARMUP_SECONDS, BENCH_CONNECTIONS,
 * BENCH_PROBE_RATE, BENCH_ALGORITHM, BENCH_LOG_LEVEL, BENCH_PIN=0, BENCH_ONLY=a,b, BENCH_OUT.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { load1, machineInfo, setUpPinning } from './lib/machine.js'
import { writeReport, type BenchResult, type ScenarioResult } from './lib/report.js'
import {
  SCENARIOS, measure, settle, startFixture, withVariants, type Measurement, type ServerName
} from './lib/scenarios.js'
import { ROOT, benchSettings } from './lib/settings.js'

const settings = benchSettings()
if (!existsSync(join(ROOT, 'dist', 'src', 'server.js'))) {
  throw new Error('dist/src/server.js is missing: run npm run build (npm run bench does)')
}
const pinning = setUpPinning(settings.pin)
const chosen = settings.only === undefined
  ? SCENARIOS
  : SCENARIOS.filter((scenario) => settings.only?.includes(scenario.name))
const scenarios = settings.variant.length > 0 ? withVariants(chosen) : chosen
if (scenarios.length === 0) {
  throw new Error(`BENCH_ONLY names none of ${SCENARIOS.map((s) => s.name).join(', ')}`)
}

const MiB = (kib: number | undefined) => kib === undefined ? '?' : (kib / 1024).toFixed(0)
const fixed = (value: number, digits = 1) => Number.isNaN(value) ? '-' : value.toFixed(digits)
function line (label: string, m: Measurement): string {
  return `${label.padEnd(30)} ${fixed(m.rps, 0).padStart(7)} req/s  p50 ${fixed(m.p50, 2)} ms` +
    `  p99 ${fixed(m.p99, 2)} ms  rss ${MiB(m.rssKiB)} MiB` +
    `  cpu ${fixed((m.serverCpu ?? NaN) * 100, 0)} %` +
    ` (load generator ${fixed((m.loadCpu ?? NaN) * 100, 0)} %)` +
    (m.failed > 0 ? `  FAILED ${m.failed}` : '')
}

console.log(`pinning: ${pinning.description}`)
if (settings.experiment.length > 0) console.log(`experiment: ${settings.experiment.join(' ')}`)
console.log(`${scenarios.length} scenarios x ${settings.rounds} rounds x ${settings.seconds} s, ` +
  `${settings.connections} connections, ${settings.algorithm}, LOG_LEVEL=${settings.logLevel}`)

const startedAt = new Date()
const loadAtStart = load1()
const fixture = await startFixture({
  settings,
  pinning,
  servers: new Set<ServerName>(scenarios.map((scenario) => scenario.server)),
  refreshSeeds: settings.connections * (settings.rounds + 3) + 100
})

try {
  const idleRssKiB = Object.fromEntries(Object.entries(fixture.servers)
    .map(([name, server]) => [name, server.rssKiB()]))

  await settle(fixture)
  console.log('warm-up')
  for (const scenario of scenarios) {
    const measurement = await measure(fixture, scenario, settings.warmupSeconds)
    console.log(`  ${line(scenario.name, measurement)}`)
  }

  const results: ScenarioResult[] = scenarios.map((scenario) => ({
    name: scenario.name, label: scenario.label, server: scenario.server, rounds: []
  }))
  let peakRssReset = true
  for (let round = 1; round <= settings.rounds; round++) {
    console.log(`round ${round}/${settings.rounds} (load average ${load1().toFixed(2)})`)
    for (const [index, scenario] of scenarios.entries()) {
      const { peakReset, settleSeconds: _, ...measurement } =
        await measure(fixture, scenario, settings.seconds)
      if (!peakReset) peakRssReset = false
      results[index]?.rounds.push(measurement)
      console.log(`  ${line(scenario.name, measurement)}`)
    }
  }

  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: {
      seconds: settings.seconds,
      rounds: settings.rounds,
      warmupSeconds: settings.warmupSeconds,
      connections: settings.connections,
      probeRate: settings.probeRate,
      algorithm: settings.algorithm,
      logLevel: settings.logLevel,
      quick: settings.quick,
      experiment: settings.experiment
    },
    machine: machineInfo(),
    pinning: pinning.description,
    loadAverage: { start: loadAtStart, end: load1() },
    peakRssReset,
    idleRssKiB,
    scenarios: results
  }
  mkdirSync(settings.outDir, { recursive: true })
  writeFileSync(join(settings.outDir, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`)
  const written = writeReport(settings.outDir, settings.official ? ROOT : settings.outDir)
  console.log(`\n${written.targets}\nwrote ${written.files.join(', ')}`)
} finally {
  await fixture.close()
}
