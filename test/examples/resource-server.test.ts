import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { buildResourceServer } from '../../examples/resource-server.js'
import { build, decodeJwt, login } from '../helper.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const EXAMPLE = fileURLToPath(new URL('../../examples/resource-server.ts', import.meta.url))

/** A port nothing listens on, for now. */
async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A real issuer on a loopback port, whose ISSUER (and so audience) is its own origin. */
async function startIssuer (t: Test) {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const fastify = await build(t, { env: { ISSUER: origin, PORT: String(port) } })
  await fastify.listen({ port, host: '127.0.0.1' })
  const token: string = (await login(fastify)).json().access_token
  return { fastify, origin, token }
}

t.test('the example resource server answers GET /resource with the token subject',
  async (t) => {
    const issuer = await startIssuer(t)
    const app = buildResourceServer({ issuer: issuer.origin })
    t.teardown(async () => { await app.close() })

    const ok = await app.inject({
      url: '/resource', headers: { authorization: `Bearer ${issuer.token}` }
    })
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), { subject: decodeJwt(issuer.token).payload.sub })

    const none = await app.inject({ url: '/resource' })
    t.equal(none.statusCode, 401)
    t.equal(none.headers['www-authenticate'], 'Bearer realm="api"')

    const forged = await app.inject({
      url: '/resource', headers: { authorization: `Bearer ${issuer.token.slice(0, -4)}AAAA` }
    })
    t.equal(forged.statusCode, 401)
    t.equal(forged.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token"')
  }
)

t.test('the audience must match: tokens for the issuer are refused by another audience',
  async (t) => {
    const issuer = await startIssuer(t)
    const app = buildResourceServer({ issuer: issuer.origin, audience: 'https://api.example' })
    t.teardown(async () => { await app.close() })

    const response = await app.inject({
      url: '/resource', headers: { authorization: `Bearer ${issuer.token}` }
    })
    t.equal(response.statusCode, 401)
  }
)

t.test('run directly, it listens on PORT and verifies against ISSUER', async (t) => {
  const issuer = await startIssuer(t)
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', EXAMPLE], {
    cwd: ROOT,
    env: {
      ...process.env,
      ISSUER: issuer.origin,
      AUDIENCE: issuer.origin,
      PORT: String(port),
      LOG_LEVEL: 'info'
    },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })

  // Ready once it logs that it listens.
  let output = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Server listening')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)))
  })

  const base = `http://127.0.0.1:${port}/resource`
  const ok = await fetch(base, { headers: { authorization: `Bearer ${issuer.token}` } })
  t.equal(ok.status, 200)
  t.same(await ok.json(), { subject: decodeJwt(issuer.token).payload.sub })
  const none = await fetch(base)
  t.equal(none.status, 401)
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="api"')

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'it stops cleanly on SIGTERM')
})
