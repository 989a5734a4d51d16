import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { PASSWORD, USERNAME } from '../helper.js'

const server = fileURLToPath(new URL('../../src/server.ts', import.meta.url))
const tsx = import.meta.resolve('tsx/esm')

/** The real server entry in a child process, in a fresh working directory with these files. */
function startServer (t: Test, env: Record<string, string>, files: Record<string, string> = {}) {
  const cwd = t.testdir(files)
  const child = spawn(process.execPath, ['--import', tsx, server], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '', DATA_DIR: cwd, PORT: '0', ISSUER: 'http://127.0.0.1', ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })

  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => { stdout += chunk })
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}

/** Resolves the server's origin once it logs that it listens. */
async function listeningOrigin (run: ReturnType<typeof startServer>): Promise<string> {
  return await new Promise<string>((resolve) => {
    const look = () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout())
      if (match !== null) resolve(match[1] as string)
    }
    run.child.stdout.on('data', look)
    look()
  })
}

t.test(
  'a bad setting stops the process at boot: exit 1 and a message naming the variable',
  async (t) => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ PORT: 'abc' }, /PORT must be a whole number from 0 to 65535/],
      [{ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'too short' }, /JWT_SECRET must be at least 32 bytes/],
      [{ TRUST_PROXY: '10.0.0.0/99' }, /TRUST_PROXY must be/],
      // Node's recursive mkdir never returns under /proc: the start must fail instead.
      [{ DATA_DIR: '/proc/no-such-dir' }, /cannot open the SQLite file \/proc\/no-such-dir/]
    ]

    for (const [env, message] of cases) {
      const run = startServer(t, env)
      const { code } = await run.exited
      t.equal(code, 1, JSON.stringify(env))
      t.match(run.stderr(), message)
      t.notMatch(run.stderr(), /\n\s+at /, 'no stack trace')
    }
  }
)

t.test('settings are read from a .env file in the working directory', async (t) => {
  const run = startServer(t, {}, { '.env': 'JWT_ALGORITHM=HS256\nJWT_SECRET=short\n' })

  const { code } = await run.exited
  t.equal(code, 1)
  t.match(run.stderr(), /JWT_SECRET must be at least 32 bytes/)
})

t.test(
  'the server issues tokens over HTTP, logs none of them, and stops cleanly on SIGTERM',
  async (t) => {
    const run = startServer(t, { BOOTSTRAP_USERNAME: USERNAME, BOOTSTRAP_PASSWORD: PASSWORD })
    const origin = await listeningOrigin(run)

    const response = await fetch(`${origin}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: USERNAME, password: PASSWORD })
    })
    t.equal(response.status, 200)
    const { access_token: token } = await response.json() as { access_token: string }
    await fetch(`${origin}/token?access_token=${token}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: USERNAME, password: 'wrong password' })
    })

    run.child.kill('SIGTERM')
    const { code } = await run.exited
    t.equal(code, 0)
    const logs = run.stdout()
    t.match(logs, /"msg":"login failed"/)
    t.match(logs, /"msg":"closing"/)
    for (const secret of [token, PASSWORD, 'wrong password']) {
      t.notMatch(logs, secret, 'the logs hold no password or token')
    }
  }
)

t.test('SIGTERM under load: readiness fails first, and no accepted request is dropped',
  async (t) => {
    const run = startServer(t, {
      BOOTSTRAP_USERNAME: USERNAME,
      BOOTSTRAP_PASSWORD: PASSWORD,
      SHUTDOWN_DELAY: '1s',
      RATE_LIMIT_MAX: '0',
      LOCKOUT_THRESHOLD: '0'
    })
    const origin = await listeningOrigin(run)
    const login = async () => await fetch(`${origin}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: USERNAME, password: PASSWORD })
    })
    const live = async () => await fetch(`${origin}/health/live`)

    const state = { stopped: false, unready: Infinity }
    const answered = new Map<string, number>()
    const failures: Array<{ code: string, stubborn: boolean }> = []
    const statuses: number[] = []
    const count = (url: string) => answered.set(url, (answered.get(url) ?? 0) + 1)
    // A client behind a load balancer stops sending a moment after readiness fails; a stubborn
    // one goes on until its connections are refused.
    const worker = async (url: string, send: () => Promise<Response>, stubborn = false) => {
      const sending = () => !state.stopped && (stubborn || Date.now() < state.unready + 200)
      while (sending()) {
        try {
          const response = await send()
          await response.arrayBuffer()
          if (response.status !== 200) statuses.push(response.status)
          count(url)
        } catch (error) {
          const code = String((error as { cause?: { code?: string } }).cause?.code)
          failures.push({ code, stubborn })
          if (code === 'ECONNREFUSED') return
        }
      }
    }
    const poll = async () => {
      while (!state.stopped) {
        const response = await fetch(`${origin}/health/ready`).catch(() => undefined)
        if (response === undefined) return
        await response.arrayBuffer()
        count('/health/ready')
        if (response.status === 503 && state.unready === Infinity) state.unready = Date.now()
        await sleep(50)
      }
    }

    const load = [
      ...[1, 2, 3].map(async () => await worker('/token', login)),
      ...[1, 2, 3].map(async () => await worker('/health/live', live)),
      worker('/health/live', live, true),
      poll()
    ]
    await sleep(1000)
    const signalled = Date.now()
    run.child.kill('SIGTERM')
    const { code } = await run.exited
    state.stopped = true
    await Promise.all(load)

    t.equal(code, 0, 'a clean exit')
    t.ok(state.unready >= signalled && state.unready < signalled + 1000,
      'readiness answered 503 first, while the process still served')
    t.same(statuses, [], 'every answer a 200')
    t.same(failures.filter(({ stubborn }) => !stubborn), [],
      'a client that follows readiness never sees a failed request')
    t.ok(failures.some(({ code }) => code === 'ECONNREFUSED'),
      'a stubborn one is refused once the listener closed')

    // Every request the server read, it answered, and every answer reached its client.
    const lines = run.stdout().split('\n').filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { reqId?: string, msg?: string, req?: { url: string } })
    const urls = new Map(lines.filter((line) => line.msg === 'incoming request')
      .map((line) => [line.reqId, line.req?.url as string]))
    const completed = new Map<string, number>()
    for (const line of lines.filter((line) => line.msg === 'request completed')) {
      const url = urls.get(line.reqId) as string
      completed.set(url, (completed.get(url) ?? 0) + 1)
    }
    t.ok((answered.get('/token') ?? 0) > 5, `${answered.get('/token')} logins`)
    t.same(Object.fromEntries(completed), Object.fromEntries(answered),
      'the server completed exactly the requests its clients got answers to')
    t.equal(urls.size, [...completed.values()].reduce((sum, n) => sum + n, 0),
      'and none it took in is left unanswered')
  })
