import { Agent, get } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { percentile } from './stats.js'

/** One autocannon run: what to send, how hard, for how long. */
export interface LoadOptions {
  url: string
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** Per-request bodies and response hooks (refresh token chains, rotating users). */
  requests?: autocannon.Request[]
  connections: number
  seconds: number
  /** A fixed request rate over all connections (a latency probe), instead of as fast as it can. */
  overallRate?: number
}

/** What one run measured. Latencies are of 2xx answers, in milliseconds, from our own samples. */
export interface LoadResult {
  /** 2xx answers per second. */
  rps: number
  ok: number
  /** Answers other than 2xx, connection errors and timeouts: any of them spoils the run. */
  failed: number
  statusCodes: Record<string, number>
  p50: number
  p99: number
  mean: number
  max: number
  seconds: number
}

/**
 * Runs autocannon and records every response time itself: autocannon's histogram keeps whole
 * milliseconds, too coarse for sub-millisecond routes.
 */
export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = []
  const statusCodes: Record<string, number> = {}

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: options.url,
      method: options.method ?? 'GET',
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.requests === undefined ? {} : { requests: options.requests }),
      connections: options.connections,
      duration: options.seconds,
      ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
      timeout: 30
    }, (error, result) => {
      if (error !== null && error !== undefined) reject(error)
      else resolve(result)
    })
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
    })
  })

  const failed = Object.entries(statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .reduce((sum, [, count]) => sum + count, 0) + result.errors
  return summarise(latencies, failed, statusCodes, result.duration)
}

/** The result of a run from the latencies of its 2xx answers (each one an answer that counts). */
function summarise (
  latencies: number[], failed: number, statusCodes: Record<string, number>, seconds: number
): LoadResult {
  latencies.sort((a, b) => a - b)
  return {
    rps: latencies.length / seconds,
    ok: latencies.length,
    failed,
    statusCodes,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    mean: latencies.reduce((sum, value) => sum + value, 0) / Math.max(latencies.length, 1),
    max: latencies.at(-1) ?? NaN,
    seconds
  }
}

/**
 * A latency probe: one GET at a time, started every 1/rate s (or at once when the previous answer
 * came later), on one kept-alive connection, so its own load stays small and even.
 */
export async function runProbe (url: string, rate: number, seconds: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const latencies: number[] = []
  const statusCodes: Record<string, number> = {}
  const interval = 1000 / rate
  const started = performance.now()
  const end = started + seconds * 1000
  let failed = 0
  let next = started

  while (performance.now() < end) {
    const sent = performance.now()
    try {
      const status = await getStatus(url, agent)
      const elapsed = performance.now() - sent
      statusCodes[status] = (statusCodes[status] ?? 0) + 1
      if (status >= 200 && status < 300) latencies.push(elapsed)
      else failed++
    } catch {
      failed++
    }
    next += interval
    const wait = next - performance.now()
    if (wait > 0) await sleep(wait)
    else next = performance.now()
  }
  agent.destroy()

  return summarise(latencies, failed, statusCodes, (performance.now() - started) / 1000)
}

async function getStatus (url: string, agent: Agent): Promise<number> {
  return await new Promise((resolve, reject) => {
    get(url, { agent }, (response) => {
      response.resume()
      response.on('end', () => { resolve(response.statusCode ?? 0) })
      response.on('error', reject)
    }).on('error', reject)
  })
}
