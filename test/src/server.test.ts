import { spawn } from 'node:child_process'
import { once } from 'node:events'
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
    const origin = await new Promise<string>((resolve) => {
      run.child.stdout.on('data', () => {
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout())
        if (match !== null) resolve(match[1] as string)
      })
    })

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
