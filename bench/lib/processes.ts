import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { pinned, type Pinning } from './machine.js'
import { ROOT } from './settings.js'

/** A server under load, in a child process of its own. */
export interface ServerProcess {
  name: string
  pid: number
  port: number
  /** What the server said when it was ready (IPC servers). */
  info: Record<string, unknown>
  /** The peak resident set (VmHWM) since start or the last reset, in KiB. */
  peakRssKiB: () => number | undefined
  /** The resident set now (VmRSS), in KiB. */
  rssKiB: () => number | undefined
  /** CPU time used so far by all its threads (user + system), in seconds. */
  cpuSeconds: () => number | undefined
  /** Starts a new peak from the current resident set (clear_refs 5); false when not allowed. */
  resetPeakRss: () => boolean
  /** Why it exited, with the end of its standard error, if it has exited. */
  exited: () => string | undefined
  /** Sends an IPC message and resolves the next answer that is not `ready`. */
  request: <T>(message: object) => Promise<T>
  /** SIGTERM, then SIGKILL after 10 s; resolves once it exited. */
  stop: () => Promise<void>
}

export interface StartOptions {
  name: string
  pinning: Pinning
  /** Node arguments: flags, then the script. */
  args: string[]
  env?: Record<string, string>
  cwd?: string
  /** Writes a CPU profile (node --cpu-prof) into this directory when the process exits. */
  profileDir?: string
  /** Resolves once the server answers: the port to load, and what it said. */
  ready: (child: ChildProcess) => Promise<{ port: number, info: Record<string, unknown> }>
}

function statusField (pid: number, field: string): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const value = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(status)?.[1]
    return value === undefined ? undefined : Number(value)
  } catch {
    return undefined
  }
}

/** Clock ticks per second, the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

function cpuSecondsOf (pid: number): number | undefined {
  try {
    // The command name, in parentheses, may hold spaces: count fields after its closing one.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

export async function startServer (options: StartOptions): Promise<ServerProcess> {
  const nodeArgs = [
    ...(options.profileDir === undefined
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', options.profileDir]),
    ...options.args
  ]
  const [command, args] = pinned(options.pinning, process.execPath, nodeArgs)
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    // As the image runs, for every server alike (see the Dockerfile).
    env: { MALLOC_MMAP_THRESHOLD_: '131072', ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc']
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`${options.name} exited (${signal ?? code}) before it was ready:\n${stderr}`)
  })

  const { port, info } = await Promise.race([options.ready(child), exited])
  exited.catch(() => {})
  const pid = child.pid as number
  let exit: string | undefined
  child.on('exit', (code, signal) => {
    exit = `${options.name} (pid ${pid}) exited with ${signal ?? `code ${code}`}:\n${stderr}`
  })

  return {
    name: options.name,
    pid,
    port,
    info,
    peakRssKiB: () => statusField(pid, 'VmHWM'),
    rssKiB: () => statusField(pid, 'VmRSS'),
    cpuSeconds: () => cpuSecondsOf(pid),
    exited: () => exit,
    resetPeakRss: () => {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5')
        return true
      } catch {
        return false
      }
    },
    request: async <T>(message: object): Promise<T> => {
      const answer = new Promise<T>((resolve, reject) => {
        const onMessage = (reply: { type?: string, message?: string }) => {
          if (reply.type === 'ready') return
          child.off('message', onMessage)
          if (reply.type === 'error') reject(new Error(`${options.name}: ${reply.message}`))
          else resolve(reply as T)
        }
        child.on('message', onMessage)
      })
      child.send(message)
      return await answer
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const gone = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
      await gone
      clearTimeout(timer)
    }
  }
}

/** Waits for the server's `ready` IPC message. */
export async function readyMessage (
  child: ChildProcess
): Promise<{ port: number, info: Record<string, unknown> }> {
  return await new Promise((resolve) => {
    const onMessage = (message: { type?: string, port?: number }) => {
      if (message.type !== 'ready') return
      child.off('message', onMessage)
      resolve({ port: message.port ?? 0, info: message })
    }
    child.on('message', onMessage)
  })
}

/** Polls a URL until it answers 200. */
export async function httpReady (url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url)
      await response.arrayBuffer()
      if (response.status === 200) return
    } catch {}
    await sleep(50)
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s`)
}

/** A TCP port nobody listens on right now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

/** A benchmark server from bench/servers/, run as TypeScript through tsx. */
export async function startBenchServer (
  name: string, file: string, pinning: Pinning,
  options: { env?: Record<string, string>, profileDir?: string } = {}
): Promise<ServerProcess> {
  return await startServer({
    name,
    pinning,
    args: ['--import', 'tsx', join(ROOT, 'bench', 'servers', file)],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.profileDir === undefined ? {} : { profileDir: options.profileDir }),
    ready: readyMessage
  })
}

export interface ServiceOptions {
  /** How the benchmark calls it: service, or variant. */
  name?: string
  pinning: Pinning
  dataDir: string
  algorithm: string
  logLevel: string
  env?: Record<string, string>
  profileDir?: string
}

/**
 * Extra Node.js arguments for the service: BENCH_SERVICE_NODE_ARGS (space-separated), and
 * BENCH_SERVICE_PRELOAD, a TypeScript module (path from the repository root) imported first,
 * such as bench/experiments/sqlite.ts, to try a change without editing the service.
 */
function serviceNodeArgs (env: Record<string, string | undefined>): string[] {
  const args = (env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '')
  const preload = env.BENCH_SERVICE_PRELOAD
  if (preload === undefined || preload === '') return args
  return [...args, '--import', import.meta.resolve('tsx'),
    '--import', pathToFileURL(resolve(ROOT, preload)).href]
}

/**
 * The real service: the built server entry (dist/src/server.js, what `npm start` runs), with
 * rate limits and lockout off, on the SQLite store in `dataDir`. Its working directory is the
 * data directory, so no `.env` of the checkout is read.
 */
export async function startService (options: ServiceOptions): Promise<ServerProcess> {
  const port = await freePort()
  return await startServer({
    name: options.name ?? 'service',
    pinning: options.pinning,
    // The Node.js flags that npm start and the image give the service.
    args: ['--max-semi-space-size=2', '--max-old-space-size=256',
      ...serviceNodeArgs({ ...process.env, ...options.env }),
      join(ROOT, 'dist', 'src', 'server.js')],
    cwd: options.dataDir,
    env: {
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: options.dataDir,
      LOG_LEVEL: options.logLevel,
      JWT_ALGORITHM: options.algorithm,
      RATE_LIMIT_MAX: '0',
      LOCKOUT_THRESHOLD: '0',
      ...(options.algorithm === 'HS256' ? { JWT_SECRET: randomBytes(48).toString('base64') } : {}),
      ...options.env
    },
    ...(options.profileDir === undefined ? {} : { profileDir: options.profileDir }),
    ready: async () => {
      await httpReady(`http://127.0.0.1:${port}/health/ready`)
      return { port, info: {} }
    }
  })
}
