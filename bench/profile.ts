/**
 * Profiles the server of one scenario with node --cpu-prof while loading it as the benchmark
 * does, then summarises where its main thread spent the time.
 *
 *   npm run bench:profile -- client-credentials [seconds]
 *   npm run bench:profile -- bench/results/profiles/refresh.cpuprofile   # summarise again
 *
 * Writes bench/results/profiles/<scenario>.txt (the summary) and keeps the raw .cpuprofile
 * next to it (not committed; open it in Chrome DevTools or speedscope).
 */
import {
  existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync
} from 'node:fs'
import { join } from 'node:path'
import { summariseProfile, type CpuProfile } from './lib/cpuprofile.js'
import { load1, setUpPinning } from './lib/machine.js'
import { SCENARIOS, measure, startFixture } from './lib/scenarios.js'
import { ROOT, benchSettings } from './lib/settings.js'

const name = process.argv[2]
const seconds = Number(process.argv[3] ?? 10)
if (name?.endsWith('.cpuprofile') === true) {
  // A profile taken before: summarise it again, keeping the load line of its summary.
  const profile = JSON.parse(readFileSync(name, 'utf8')) as CpuProfile
  const summaryFile = name.replace(/\.cpuprofile$/, '.txt')
  const before = existsSync(summaryFile) ? readFileSync(summaryFile, 'utf8').split('\n') : []
  const title = before[0]?.replace(/^# /, '') ?? name
  const load = before.filter((line) => line.startsWith('load while profiled'))
  const summary = [summariseProfile(profile, title), ...load, ''].join('\n')
  writeFileSync(summaryFile, summary)
  console.log(summary)
  process.exit(0)
}
const scenario = SCENARIOS.find((candidate) => candidate.name === name)
if (scenario === undefined) {
  console.error(`usage: npm run bench:profile -- <${SCENARIOS.map((s) => s.name).join('|')}> ` +
    '[seconds]')
  process.exit(2)
}

const settings = benchSettings()
const pinning = setUpPinning(settings.pin)
const outDir = join(ROOT, 'bench', 'results', 'profiles',
  settings.experiment.length > 0 ? 'experiment' : '')
const rawDir = join(outDir, `${scenario.name}.tmp`)
rmSync(rawDir, { recursive: true, force: true })
mkdirSync(rawDir, { recursive: true })

const fixture = await startFixture({
  settings,
  pinning,
  servers: new Set([scenario.server]),
  refreshSeeds: settings.connections * 4 + 100,
  profile: { server: scenario.server, dir: rawDir }
})
let measured
try {
  await measure(fixture, scenario, 1)
  measured = await measure(fixture, scenario, seconds)
} finally {
  await fixture.close()
}

const file = readdirSync(rawDir).find((entry) => entry.endsWith('.cpuprofile'))
if (file === undefined) throw new Error(`${scenario.server} wrote no profile into ${rawDir}`)
const profile = JSON.parse(readFileSync(join(rawDir, file), 'utf8')) as CpuProfile
const summary = [
  summariseProfile(profile,
    `${scenario.label}: the ${scenario.server} process under load, ${new Date().toISOString()}`),
  `load while profiled: ${measured.rps.toFixed(0)} req/s, p50 ${measured.p50.toFixed(2)} ms, ` +
    `p99 ${measured.p99.toFixed(2)} ms, ${measured.failed} failed, server CPU ` +
    `${((measured.serverCpu ?? NaN) * 100).toFixed(0)} %, ` +
    `${(measured.cpuUsPerRequest ?? NaN).toFixed(0)} µs CPU per answer, load generator CPU ` +
    `${((measured.loadCpu ?? NaN) * 100).toFixed(0)} %; pinning: ` +
    `${pinning.description}; load average ${load1().toFixed(2)}` +
    (settings.experiment.length > 0 ? `; experiment: ${settings.experiment.join(' ')}` : ''),
  ''
].join('\n')
renameSync(join(rawDir, file), join(outDir, `${scenario.name}.cpuprofile`))
rmSync(rawDir, { recursive: true, force: true })
writeFileSync(join(outDir, `${scenario.name}.txt`), summary)
console.log(summary)
