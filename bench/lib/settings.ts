import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** What a benchmark run does, from the environment (BENCH_*). */
export interface BenchSettings {
  /** BENCH_QUICK=1: a smoke run, short and written apart from the committed results. */
  quick: boolean
  /** Seconds of load per scenario and round (BENCH_SECONDS). */
  seconds: number
  /** Rounds; every scenario runs once per round, in the same order (BENCH_ROUNDS). */
  rounds: number
  /** Seconds of unrecorded load per scenario before the first round (BENCH_WARMUP_SECONDS). */
  warmupSeconds: number
  /** autocannon connections (BENCH_CONNECTIONS). */
  connections: number
  /** Requests per second of the /health/live probe while logins saturate (BENCH_PROBE_RATE). */
  probeRate: number
  /** JWT_ALGORITHM of the service and of the signing ceiling (BENCH_ALGORITHM). */
  algorithm: string
  /** LOG_LEVEL of the service (BENCH_LOG_LEVEL). */
  logLevel: string
  /** BENCH_PIN=0 turns CPU pinning off. */
  pin: boolean
  /** BENCH_ONLY: comma-separated scenario names to run (ratios need both sides). */
  only: string[] | undefined
  /**
   * BENCH_VARIANT: space-separated NAME=value settings for a second service, loaded right after
   * the stock one in every round (its scenarios are named with +variant).
   */
  variant: string[]
  /** Settings that change the service or its runtime (a preload, glibc or libuv tuning). */
  experiment: string[]
  /**
   * Where results go (BENCH_OUT): bench/results, or bench/results/quick in quick mode, or
   * bench/results/experiment when an experiment is set, so neither overwrites the committed run.
   */
  outDir: string
  /** Whether BENCHMARKS.md at the root is written: only for a plain full run. */
  official: boolean
}

const EXPERIMENT = /^(BENCH_SERVICE_|BENCH_SQLITE_|MALLOC_|UV_THREADPOOL_SIZE$)/

/** A setting that counts something (seconds, rounds, connections): a whole number, at least 1. */
export function wholeFrom (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN
  if (!(value >= 1)) throw new Error(`${name} must be a whole number of at least 1 (got ${raw})`)
  return value
}

export function benchSettings (): BenchSettings {
  const quick = process.env.BENCH_QUICK === '1'
  const only = process.env.BENCH_ONLY
  const experiment = Object.entries(process.env)
    .filter(([name, value]) => EXPERIMENT.test(name) && value !== undefined && value !== '')
    .map(([name, value]) => `${name}=${value}`)
    .sort()
  const variant = (process.env.BENCH_VARIANT ?? '').split(' ').filter((pair) => pair !== '')
  for (const pair of variant) {
    if (!/^[A-Z_][A-Z0-9_]*=/.test(pair)) throw new Error(`BENCH_VARIANT: ${pair} is no NAME=value`)
  }
  if (variant.length > 0) experiment.push(`BENCH_VARIANT=${variant.join(' ')}`)
  const apart = quick ? 'quick' : experiment.length > 0 ? 'experiment' : ''
  return {
    quick,
    seconds: wholeFrom('BENCH_SECONDS', quick ? 1 : 3),
    rounds: wholeFrom('BENCH_ROUNDS', quick ? 2 : 6),
    warmupSeconds: wholeFrom('BENCH_WARMUP_SECONDS', 1),
    connections: wholeFrom('BENCH_CONNECTIONS', 32),
    probeRate: wholeFrom('BENCH_PROBE_RATE', 200),
    algorithm: process.env.BENCH_ALGORITHM ?? 'ES256',
    logLevel: process.env.BENCH_LOG_LEVEL ?? 'warn',
    pin: process.env.BENCH_PIN !== '0',
    only: only === undefined || only === '' ? undefined : only.split(',').map((s) => s.trim()),
    variant,
    experiment,
    outDir: process.env.BENCH_OUT ?? join(ROOT, 'bench', 'results', apart),
    official: apart === '' && process.env.BENCH_OUT === undefined
  }
}
