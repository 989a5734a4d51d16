import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './settings.js'

/** Where the servers and the load generator run. */
export interface Pinning {
  pinned: boolean
  /** The CPU every server process is pinned to. */
  serverCpu?: number
  /** The CPU this process (the load generator) is pinned to. */
  loadCpu?: number
  /** What happened, in words, for the report. */
  description: string
}

/** The CPUs this process may run on (Cpus_allowed_list), or every CPU when unreadable. */
export function allowedCpus (): number[] {
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1]
    if (list !== undefined) {
      return list.split(',').flatMap((part) => {
        const [from, to] = part.split('-').map(Number) as [number, number | undefined]
        const last = to ?? from
        return Array.from({ length: last - from + 1 }, (_, i) => from + i)
      })
    }
  } catch {}
  return cpus().map((_, i) => i)
}

function hasTaskset (): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0
}

/**
 * Pins this process (every thread: `taskset -a`) to one CPU and reserves another for the
 * servers, when there are two CPUs and taskset. Servers are started through `pinned()`.
 */
export function setUpPinning (enabled: boolean): Pinning {
  if (!enabled) return { pinned: false, description: 'no: turned off (BENCH_PIN=0)' }
  const allowed = allowedCpus()
  if (allowed.length < 2) {
    return { pinned: false, description: `no: only ${allowed.length} CPU available` }
  }
  if (!hasTaskset()) return { pinned: false, description: 'no: taskset (util-linux) not found' }

  const [serverCpu, loadCpu] = allowed as [number, number]
  try {
    const args = ['-a', '-cp', String(loadCpu), String(process.pid)]
    execFileSync('taskset', args, { stdio: 'ignore' })
  } catch (error) {
    return { pinned: false, description: `no: taskset failed (${(error as Error).message})` }
  }
  return {
    pinned: true,
    serverCpu,
    loadCpu,
    description: `yes: servers on CPU ${serverCpu}, load generator on CPU ${loadCpu} (taskset)`
  }
}

/** The command line that runs `command` on the servers' CPU, when pinning. */
export function pinned (pinning: Pinning, command: string, args: string[]): [string, string[]] {
  if (!pinning.pinned || pinning.serverCpu === undefined) return [command, args]
  return ['taskset', ['-c', String(pinning.serverCpu), command, ...args]]
}

function packageVersion (name: string): string {
  try {
    const text = readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')
    return (JSON.parse(text) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function git (args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

export interface MachineInfo {
  cpuModel: string
  cpus: number
  memoryGiB: number
  kernel: string
  node: string
  versions: Record<string, string>
  commit: string
  /** Files under src/, plugins/, routes/ or bench/ changed since the commit. */
  dirty: boolean
  threadPoolSize: number
}

export function machineInfo (): MachineInfo {
  const status = git(['status', '--porcelain', '--', 'src', 'plugins', 'routes', 'bench'])
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    versions: Object.fromEntries(['fastify', '@fastify/jwt', 'fast-jwt', 'argon2',
      'better-sqlite3', 'kysely', 'autocannon'].map((name) => [name, packageVersion(name)])),
    commit: git(['rev-parse', '--short', 'HEAD']),
    // Results committed with the run do not make it dirty.
    dirty: status.split('\n').some((line) => line !== '' && !line.includes('bench/results')),
    threadPoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4)
  }
}

/** The 1-minute load average: how busy the machine was, other work included. */
export function load1 (): number {
  return loadavg()[0] ?? 0
}
