import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { MachineInfo } from './machine.js'
import type { Measurement, ServerName } from './scenarios.js'
import { ROOT, type BenchSettings } from './settings.js'
import { max, median, min, spread } from './stats.js'
import { chartSvg } from './chart.js'
import { renderGrowth, type GrowthResult } from './growth-report.js'

export interface ScenarioResult {
  name: string
  label: string
  server: ServerName
  rounds: Measurement[]
}

/** What bench/run.ts writes to bench.json, and the report is rendered from. */
export interface BenchResult {
  startedAt: string
  finishedAt: string
  /** As the run had them; results without `experiment` still render. */
  settings: Pick<BenchSettings, 'seconds' | 'rounds' | 'warmupSeconds' | 'connections' |
    'probeRate' | 'algorithm' | 'logLevel' | 'quick'> & { experiment?: string[] }
  machine: MachineInfo
  pinning: string
  loadAverage: { start: number, end: number }
  /** Whether each round's peak RSS was its own (clear_refs), not the peak since start. */
  peakRssReset: boolean
  idleRssKiB: Record<string, number | undefined>
  scenarios: ScenarioResult[]
}

/** A scenario's medians over its rounds. */
export interface Summary {
  name: string
  label: string
  server: ServerName
  rps: number
  p50: number
  p99: number
  worstP99: number
  rssMiB: number
  /** Coefficient of variation of req/s over rounds. */
  spread: number
  failed: number
  backgroundRps?: number
  /** Server CPU over wall time, median. */
  serverCpu: number
  /** Server CPU µs per answer, median. */
  cpuUs: number
  /** Load generator CPU over wall time, median. */
  loadCpu: number
}

/** JSON has no NaN: what was not measured comes back as null. */
const value = (v: number | null | undefined) => typeof v === 'number' ? v : NaN

export function summarise (scenario: ScenarioResult): Summary {
  const rounds = scenario.rounds.map((round) => ({
    ...round, rps: value(round.rps), p50: value(round.p50), p99: value(round.p99)
  }))
  const background = rounds.map((round) => round.backgroundRps)
    .filter((value): value is number => value !== undefined)
  return {
    name: scenario.name,
    label: scenario.label,
    server: scenario.server,
    rps: median(rounds.map((round) => round.rps)),
    p50: median(rounds.map((round) => round.p50)),
    p99: median(rounds.map((round) => round.p99)),
    worstP99: max(rounds.map((round) => round.p99).filter((value) => !Number.isNaN(value))),
    rssMiB: max(rounds.map((round) => round.rssKiB ?? NaN).filter((v) => !Number.isNaN(v))) / 1024,
    spread: spread(rounds.map((round) => round.rps)),
    failed: rounds.reduce((sum, round) => sum + round.failed, 0),
    serverCpu: median(rounds.map((round) => value(round.serverCpu))),
    cpuUs: median(rounds.map((round) => value(round.cpuUsPerRequest))),
    loadCpu: median(rounds.map((round) => value(round.loadCpu))),
    ...(background.length === 0 ? {} : { backgroundRps: median(background) })
  }
}

interface RatioDefinition {
  label: string
  numerator: string
  denominator: string
  /** The lowest acceptable ratio, when this ratio is a target. */
  target?: number
  /** Use the probe's background login rate as the numerator. */
  background?: boolean
  /** A ratio of p99 latencies, not of req/s. */
  latency?: boolean
}

const RATIOS: RatioDefinition[] = [
  {
    label: 'client_credentials `/token` / signing ceiling',
    numerator: 'client-credentials',
    denominator: 'sign',
    target: 0.75
  },
  {
    label: 'refresh_token `/token` / signing ceiling',
    numerator: 'refresh',
    denominator: 'sign',
    target: 0.5
  },
  {
    label: 'password `/token` / hashing ceiling',
    numerator: 'password',
    denominator: 'argon2',
    target: 0.9
  },
  {
    label: 'route behind `authenticate` / route calling @fastify/jwt verify',
    numerator: 'authenticate',
    denominator: 'direct-verify',
    target: 0.8
  },
  { label: 'signing ceiling / framework ceiling', numerator: 'sign', denominator: 'bare' },
  {
    label: 'client_credentials `/token` / framework ceiling',
    numerator: 'client-credentials',
    denominator: 'bare'
  },
  {
    label: 'refresh_token / client_credentials `/token`',
    numerator: 'refresh',
    denominator: 'client-credentials'
  },
  {
    label: '`/health/live` p99 while logins saturate / with nothing else',
    numerator: 'health-under-login',
    denominator: 'health-idle',
    latency: true
  },
  {
    label: 'logins with the health probe running / logins alone',
    numerator: 'health-under-login',
    denominator: 'password',
    background: true
  }
]

export interface Ratio {
  label: string
  median: number
  low: number
  high: number
  /** The same ratio from server CPU time per answer (denominator's cost / numerator's). */
  byCpu: number
  target?: number
}

/** Ratios of req/s taken inside each round, then the median over rounds. */
export function ratios (result: BenchResult): Ratio[] {
  const byName = new Map(result.scenarios.map((scenario) => [scenario.name, scenario]))
  // With a variant service: its own ratios to the ceilings, and its req/s over the stock one's.
  const variants: RatioDefinition[] = [
    ...RATIOS.filter((definition) => byName.has(`${definition.numerator}+variant`))
      .map((definition) => ({
        ...definition,
        label: `${definition.label} [variant]`,
        numerator: `${definition.numerator}+variant`,
        denominator: byName.has(`${definition.denominator}+variant`)
          ? `${definition.denominator}+variant`
          : definition.denominator
      })),
    ...result.scenarios
      // The health probe runs at a fixed rate: its req/s say nothing.
      .filter((scenario) => scenario.name.endsWith('+variant') &&
        !scenario.name.startsWith('health-'))
      .map((scenario) => ({
        label: `${scenario.label.replace(/ \[variant\]$/, '')}: variant / stock service`,
        numerator: scenario.name,
        denominator: scenario.name.replace(/\+variant$/, '')
      }))
  ]
  return [...RATIOS, ...variants].flatMap((definition) => {
    const top = byName.get(definition.numerator)
    const bottom = byName.get(definition.denominator)
    if (top === undefined || bottom === undefined) return []
    const values = top.rounds.map((round, i) => {
      if (definition.latency === true) return value(round.p99) / value(bottom.rounds[i]?.p99)
      const rate = definition.background === true ? round.backgroundRps ?? NaN : round.rps
      return rate / (bottom.rounds[i]?.rps ?? NaN)
    }).filter((value) => Number.isFinite(value))
    const byCpu = definition.background === true || definition.latency === true
      ? []
      : top.rounds.map((round, i) =>
        value(bottom.rounds[i]?.cpuUsPerRequest) / value(round.cpuUsPerRequest))
        .filter((value) => Number.isFinite(value))
    return [{
      label: definition.label,
      median: median(values),
      low: min(values),
      high: max(values),
      byCpu: median(byCpu),
      ...(definition.target === undefined ? {} : { target: definition.target })
    }]
  })
}

export interface Target {
  path: string
  target: string
  measured: string
  met: boolean | undefined
}

const HEALTH_P99_MS = 10
const PEAK_RSS_MIB = 150

export function targets (result: BenchResult): Target[] {
  const summaries = new Map(result.scenarios.map((s) => [s.name, summarise(s)]))
  const ratioList = ratios(result)
  const ratioTarget = (path: string, label: string, against: string): Target => {
    const ratio = ratioList.find((r) => r.label === label)
    if (ratio === undefined || ratio.target === undefined) {
      return { path, target: '', measured: 'not measured', met: undefined }
    }
    return {
      path,
      target: `≥ ${ratio.target} × ${against}`,
      measured: `${ratio.median.toFixed(2)} × ` +
        `(rounds ${ratio.low.toFixed(2)}–${ratio.high.toFixed(2)})`,
      met: ratio.median >= ratio.target
    }
  }
  const health = summaries.get('health-under-login')
  const service = [...summaries.values()].filter((s) => s.server === 'service' &&
    !Number.isNaN(s.rssMiB))
  const peak = service.reduce<Summary | undefined>(
    (top, s) => top === undefined || s.rssMiB > top.rssMiB ? s : top, undefined)

  return [
    ratioTarget('client_credentials `/token`', RATIOS[0]?.label ?? '', 'the signing ceiling'),
    ratioTarget('refresh_token `/token` (SQLite)', RATIOS[1]?.label ?? '', 'the signing ceiling'),
    ratioTarget('password `/token`', RATIOS[2]?.label ?? '', 'the hashing ceiling'),
    health === undefined
      ? { path: '`/health/live` p99', target: '', measured: 'not measured', met: undefined }
      : {
          path: '`/health/live` p99 while logins saturate',
          target: `≤ ${HEALTH_P99_MS} ms`,
          measured: `${health.p99.toFixed(2)} ms (worst round ${health.worstP99.toFixed(2)} ms)`,
          met: health.p99 <= HEALTH_P99_MS
        },
    ratioTarget('route behind `authenticate`', RATIOS[3]?.label ?? '',
      'a route calling @fastify/jwt verify'),
    peak === undefined
      ? { path: 'peak RSS under load', target: '', measured: 'not measured', met: undefined }
      : {
          path: 'peak RSS of the service under load',
          target: `≤ ${PEAK_RSS_MIB} MiB`,
          measured: `${peak.rssMiB.toFixed(0)} MiB (highest in a ${peak.name} round; ` +
            `${((result.idleRssKiB.service ?? NaN) / 1024).toFixed(0)} MiB idle after start)`,
          met: peak.rssMiB <= PEAK_RSS_MIB
        }
  ]
}

const verdict = (met: boolean | undefined) => met === undefined ? '–' : met ? 'met' : 'missed'
const num = (value: number, digits: number) =>
  Number.isNaN(value)
    ? '–'
    : value.toLocaleString('en-US', {
      minimumFractionDigits: digits, maximumFractionDigits: digits
    })

export function targetsTable (result: BenchResult): string {
  return [
    '| path | target | measured | verdict |',
    '| --- | --- | --- | --- |',
    ...targets(result).map((t) => `| ${t.path} | ${t.target} | ${t.measured} | ${verdict(t.met)} |`)
  ].join('\n')
}

function resultsTable (result: BenchResult): string {
  const rows = result.scenarios.map(summarise).map((s) => {
    const rps = s.backgroundRps === undefined
      ? num(s.rps, 0)
      : `${num(s.rps, 0)} (probe; ${num(s.backgroundRps, 1)} logins/s)`
    return `| ${s.label} | ${s.server} | ${rps} | ${num(s.p50, 2)} | ${num(s.p99, 2)} | ` +
      `${num(s.rssMiB, 0)} | ${num(s.serverCpu * 100, 0)} % | ${num(s.cpuUs, 0)} | ` +
      `${num(s.loadCpu * 100, 0)} % | ${num(s.spread * 100, 0)} % | ${s.failed} |`
  })
  return [
    '| endpoint | process | req/s | p50 ms | p99 ms | peak RSS MiB | server CPU | ' +
      'CPU µs / answer | load generator CPU | spread | failed |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows
  ].join('\n')
}

function ratiosTable (result: BenchResult): string {
  return [
    '| ratio of req/s (or as named), per round | median | lowest round | highest round | ' +
      'from CPU µs / answer | target |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...ratios(result).map((r) => `| ${r.label} | ${r.median.toFixed(3)} | ${r.low.toFixed(3)} | ` +
      `${r.high.toFixed(3)} | ${num(r.byCpu, 3)} | ` +
      `${r.target === undefined ? '' : `≥ ${r.target}`} |`)
  ].join('\n')
}

function machineSection (result: BenchResult): string {
  const m = result.machine
  const versions = Object.entries(m.versions).map(([name, version]) => `${name} ${version}`)
  const s = result.settings
  const idle = Object.entries(result.idleRssKiB)
    .map(([name, kib]) => `${name} ${kib === undefined ? '?' : (kib / 1024).toFixed(0)} MiB`)
  return [
    `- Date: ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC ` +
      `(${Math.round((Date.parse(result.finishedAt) - Date.parse(result.startedAt)) / 1000)} s)`,
    `- Commit: ${m.commit}${m.dirty ? ' (with uncommitted changes)' : ''}`,
    `- CPU: ${m.cpuModel}, ${m.cpus} cores; ${m.memoryGiB} GiB; Linux ${m.kernel}`,
    `- Node.js ${m.node}; ${versions.join(', ')}`,
    `- Pinning: ${result.pinning}`,
    `- Load: ${s.rounds} rounds × ${s.seconds} s per scenario after ${s.warmupSeconds} s of ` +
      `warm-up, ${s.connections} connections (autocannon, one request in flight each); ` +
      `health probe at ${s.probeRate} req/s`,
    '- Service: the built server (dist/src/server.js) on a fresh SQLite file, ' +
      `JWT_ALGORITHM=${s.algorithm}, LOG_LEVEL=${s.logLevel}, RATE_LIMIT_MAX=0, ` +
      `LOCKOUT_THRESHOLD=0, UV_THREADPOOL_SIZE=${m.threadPoolSize}`,
    `- Idle RSS after start: ${idle.join(', ')}`,
    ...(s.experiment === undefined || s.experiment.length === 0
      ? []
      : [`- **Experiment, not the stock service:** ${s.experiment.join(' ')}`]),
    `- Other work on the machine: 1-minute load average ${result.loadAverage.start.toFixed(2)} ` +
      `at the start, ${result.loadAverage.end.toFixed(2)} at the end, on ${m.cpus} CPUs` +
      (result.peakRssReset ? '' : '; peak RSS could not be reset per round: it is since start')
  ].join('\n')
}

/**
 * Writes the report (BENCHMARKS.md in `reportDir`) and the chart from the results in
 * `resultsDir`: bench.json, and growth.json when bench/growth.ts has written one.
 */
export function writeReport (
  resultsDir: string, reportDir: string
): { files: string[], targets: string } {
  const benchFile = join(resultsDir, 'bench.json')
  const growthFile = join(resultsDir, 'growth.json')
  const bench = existsSync(benchFile)
    ? JSON.parse(readFileSync(benchFile, 'utf8')) as BenchResult
    : undefined
  const growth = existsSync(growthFile)
    ? JSON.parse(readFileSync(growthFile, 'utf8')) as GrowthResult
    : undefined

  const chartFile = join(resultsDir, 'chart.svg')
  const reportFile = join(reportDir, 'BENCHMARKS.md')
  const chartLink = relative(reportDir, chartFile)
  const readme = relative(reportDir, join(ROOT, 'bench', 'README.md'))
  const sections = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (and `npm run bench:growth` for the store growth section) ' +
      `from \`${relative(ROOT, resultsDir) || '.'}/*.json\`; do not edit by hand. ` +
      `How the harness works: [bench/README.md](${readme}).`,
    ''
  ]
  const files: string[] = []
  if (bench !== undefined) {
    writeFileSync(chartFile, chartSvg(bench.scenarios.map(summarise)))
    files.push(chartFile)
    sections.push(
      '## Targets', '', targetsTable(bench), '',
      'Ratios are of req/s measured in the same round, the median over rounds: the scenarios ' +
        'run in alternation, so whatever else the machine does slows both sides of a ratio alike.',
      '',
      '## Results', '', resultsTable(bench), '',
      'Medians over rounds. Latencies are of 2xx answers as the load generator saw them, with ' +
        'every connection busy (so they include queueing); the health probe sends one request ' +
        'at a time at a fixed rate. Peak RSS is the largest VmHWM of the process in any round. ' +
        'Server CPU: CPU time of all its threads over wall time (100 % is one CPU); below ' +
        'about 90 % the server was not the bottleneck (other work on its CPU, or the load ' +
        'generator). CPU µs / answer is less sensitive to the machine\'s noise than req/s; ' +
        'for the hashing ceiling and the password grant it includes the argon2 threads. ' +
        'Spread: coefficient of variation of req/s over rounds. Failed: non-2xx answers and ' +
        'errors, summed over rounds (any makes the row suspect).',
      '',
      `![req/s and p99 by endpoint](${chartLink})`, '',
      '## Ratios', '', ratiosTable(bench), '',
      '## Machine and settings', '', machineSection(bench), '')
  }
  if (growth !== undefined) sections.push(renderGrowth(growth), '')
  // The analysis of what misses its target is written by hand, next to the harness.
  const gaps = join(ROOT, 'bench', 'gaps.md')
  if (bench !== undefined && existsSync(gaps)) sections.push(readFileSync(gaps, 'utf8').trim(), '')
  const profileDir = join(resultsDir, 'profiles')
  const profiles = existsSync(profileDir)
    ? readdirSync(profileDir).filter((file) => file.endsWith('.txt')).sort()
    : []
  if (profiles.length > 0) {
    sections.push('## CPU profiles', '',
      'Where the main thread of a server spends its time under the same load ' +
        '(`npm run bench:profile -- <scenario>`), taken separately from the run above:', '',
      ...profiles.map((file) =>
        `- [${file.replace(/\.txt$/, '')}](${relative(reportDir, join(profileDir, file))})`),
      '')
  }
  writeFileSync(reportFile, sections.join('\n'))
  files.push(reportFile)
  return {
    files: files.map((file) => relative(ROOT, file)),
    targets: bench === undefined ? '' : targetsTable(bench)
  }
}
