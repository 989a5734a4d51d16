import { createHmac } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { basic, build, login, post, protectedApp, registerClient } from '../helper.js'

type App = Awaited<ReturnType<typeof build>>

const ISSUER = 'http://localhost:3000'
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function get (fastify: App, authorization?: string) {
  return await fastify.inject({
    url: '/resource',
    headers: authorization === undefined ? {} : { authorization }
  })
}

function claims (overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000)
  return {
    sub: 'user-1', iss: ISSUER, aud: ISSUER, iat: now, exp: now + 600, jti: 'j-1', ...overrides
  }
}

/** Signed with the service's real private key, with whatever claims and header we choose. */
function signedWithOurKey (fastify: App, payload: Record<string, unknown>, typ = 'at+jwt') {
  const { active } = fastify.signingKeys
  const sign = createSigner({
    key: active.signingKey,
    algorithm: active.algorithm,
    kid: active.kid,
    header: { alg: active.algorithm, typ }
  })
  return sign(payload)
}

t.test('authenticate admits our access tokens and sets request.user', async (t) => {
  const fastify = await protectedApp(t)
  const token = (await login(fastify)).json().access_token

  const response = await get(fastify, `Bearer ${token}`)
  t.equal(response.statusCode, 200)
  t.match(response.json(), { preferred_username: 'user-1', iss: ISSUER })
})

t.test('alg none is refused in every spelling (C18)', async (t) => {
  const fastify = await protectedApp(t)
  const kid = fastify.signingKeys.active.kid
  const payload = b64(claims({ role: 'admin' }))

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    for (const signature of ['', 'junk']) {
      const forged = `${b64({ alg, typ: 'at+jwt', kid })}.${payload}.${signature}`
      const response = await get(fastify, `Bearer ${forged}`)
      t.equal(response.statusCode, 401, `${alg} ${signature}`)
      t.equal(response.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token"')
    }
  }
})

t.test('HS256 keyed with our public key is refused (C19)', async (t) => {
  const fastify = await protectedApp(t)
  const pem = fastify.signingKeys.active.verifyingKey as string
  const header = b64({ alg: 'HS256', typ: 'at+jwt', kid: fastify.signingKeys.active.kid })
  const payload = b64(claims({ role: 'admin' }))

  for (const secret of [pem, `\n${pem}`, `\ufeff${pem}`, `# comment\n${pem}`]) {
    const signature = createHmac('sha256', secret).update(`${header}.${payload}`)
      .digest('base64url')
    const response = await get(fastify, `Bearer ${header}.${payload}.${signature}`)
    t.equal(response.statusCode, 401, JSON.stringify(secret.slice(0, 12)))
  }
})

t.test('tokens missing a required claim, or not ours, are refused (C22)', async (t) => {
  const fastify = await protectedApp(t)
  const { exp, ...noExp } = claims()
  const cases: Array<[string, string]> = [
    ['no exp', signedWithOurKey(fastify, noExp)],
    ['no jti', signedWithOurKey(fastify, { ...claims(), jti: undefined })],
    ['another audience', signedWithOurKey(fastify, claims({ aud: 'another-api' }))],
    ['another issuer', signedWithOurKey(fastify, claims({ iss: 'https://evil.test' }))],
    ['expired', signedWithOurKey(fastify, claims({ exp: Math.floor(Date.now() / 1000) - 60 }))],
    ['not yet valid',
      signedWithOurKey(fastify, claims({ nbf: Math.floor(Date.now() / 1000) + 60 }))],
    ['typ JWT', signedWithOurKey(fastify, claims(), 'JWT')]
  ]
  t.ok(exp)

  const control = signedWithOurKey(fastify, claims())
  t.equal((await get(fastify, `Bearer ${control}`)).statusCode, 200, 'the same forge, all claims')
  for (const [name, token] of cases) {
    t.equal((await get(fastify, `Bearer ${token}`)).statusCode, 401, name)
  }
  const skewed = signedWithOurKey(fastify, claims({ nbf: Math.floor(Date.now() / 1000) + 3 }))
  t.equal((await get(fastify, `Bearer ${skewed}`)).statusCode, 200, 'within the clock tolerance')
})

t.test('Authorization headers, well-formed or not (C25)', async (t) => {
  const fastify = await protectedApp(t)
  const token = (await login(fastify)).json().access_token
  const challenge = 'Bearer realm="api"'

  const cases: Array<[string | undefined, number, string]> = [
    ['Bearer ', 400, `${challenge}, error="invalid_request"`],
    ['Bearer', 400, `${challenge}, error="invalid_request"`],
    ['Bearer a b', 400, `${challenge}, error="invalid_request"`],
    [`Bearer\t${token}`, 400, `${challenge}, error="invalid_request"`],
    [`Bearer \t${token}`, 400, `${challenge}, error="invalid_request"`],
    ['Bearer abc', 401, `${challenge}, error="invalid_token"`],
    ['Bearer a.b', 401, `${challenge}, error="invalid_token"`],
    [`bearer ${token}`, 200, ''],
    [`BEARER ${token}`, 200, ''],
    [`Bearer  ${token}`, 200, ''],
    [`Basic ${Buffer.from('x:y').toString('base64')}`, 401, challenge],
    [undefined, 401, challenge],
    [`AAAAAA ${token}`, 401, challenge]
  ]
  for (const [authorization, status, header] of cases) {
    const response = await get(fastify, authorization)
    t.equal(response.statusCode, status, String(authorization).slice(0, 12))
    if (status !== 200) t.equal(response.headers['www-authenticate'], header)
  }
})

t.test('an app-wide authenticate hook leaves the token endpoints alone (C25g)', async (t) => {
  const fastify = await build(t, {}, (app) => {
    app.addHook('onRequest', app.authenticate)
    app.get('/resource', async (request) => request.user)
  })
  const secret = await registerClient(fastify,
    { id: 'client-a', grantTypes: ['client_credentials'], scopes: [] }) as string

  const issued = await post(fastify, '/token', { grant_type: 'client_credentials' },
    basic('client-a', secret))
  t.equal(issued.statusCode, 200)
  t.equal((await fastify.inject({ url: '/.well-known/jwks.json' })).statusCode, 200)
  t.equal((await get(fastify)).statusCode, 401, 'the host routes are protected')
})

t.test('authenticate honours revocation', async (t) => {
  const fastify = await protectedApp(t)
  const token = (await login(fastify)).json().access_token

  t.equal((await get(fastify, `Bearer ${token}`)).statusCode, 200)
  await post(fastify, '/revoke', { token })
  t.equal((await get(fastify, `Bearer ${token}`)).statusCode, 401)
})
