import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import tokenIssuer, { type TokenIssuerOptions } from '../../src/index.js'
import { decodeJwt, form, FORM } from '../helper.js'

const ISSUER = 'https://host.example.test/auth'

/** A host app of its own, with the plugin under /auth and a user lookup of its own. */
async function hostApp (t: Test, options: Partial<TokenIssuerOptions> = {}) {
  const host = Fastify()
  t.teardown(async () => { await host.close() })
  await host.register(tokenIssuer, {
    prefix: '/auth',
    issuer: ISSUER,
    databaseUrl: `sqlite:${join(t.testdir(), 'tokens.db')}`,
    verifyCredentials: async (username, password) =>
      username === 'ada' && password === 'analytical engine'
        ? { subject: 'person:ada', claims: { role: 'admin' } }
        : undefined,
    ...options
  })
  host.get('/me', { preHandler: host.authenticate }, async (request) => request.user)
  await host.ready()
  return host
}

async function loginAda (host: FastifyInstance, url = '/auth/token') {
  return await host.inject({
    method: 'POST',
    url,
    headers: FORM,
    payload: form({ grant_type: 'password', username: 'ada', password: 'analytical engine' })
  })
}

t.test('a host app registers the plugin under a prefix with its own user lookup', async (t) => {
  const host = await hostApp(t)

  const response = await loginAda(host)
  t.equal(response.statusCode, 200)
  const { access_token: token, refresh_token: refresh } = response.json()
  t.match(decodeJwt(token).payload, { sub: 'person:ada', role: 'admin', iss: ISSUER, aud: ISSUER })

  const me = await host.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  t.match(me.json(), { sub: 'person:ada', role: 'admin' }, 'request.user holds the claims')
  t.equal((await host.inject({ url: '/me' })).statusCode, 401)

  const wrong = await host.inject({
    method: 'POST',
    url: '/auth/token',
    headers: FORM,
    payload: form({ grant_type: 'password', username: 'ada', password: 'difference engine' })
  })
  t.equal(wrong.json().error, 'invalid_grant')

  const refreshed = await host.inject({
    method: 'POST',
    url: '/auth/token',
    headers: FORM,
    payload: form({ grant_type: 'refresh_token', refresh_token: refresh })
  })
  t.match(decodeJwt(refreshed.json().access_token).payload, { sub: 'person:ada', role: 'admin' },
    'the lookup claims carry over to refreshes')

  t.equal((await loginAda(host, '/token')).statusCode, 404, 'nothing outside the prefix')
  t.equal((await host.inject({ url: '/auth/.well-known/jwks.json' })).statusCode, 200)
  const metadata = (await host.inject({ url: '/auth/.well-known/oauth-authorization-server' }))
    .json()
  t.equal(metadata.token_endpoint, `${ISSUER}/token`)
})

t.test('the claims hook adds claims to every token, but never registered ones', async (t) => {
  const contexts: unknown[] = []
  const host = await hostApp(t, {
    claims: (context) => {
      contexts.push(context)
      return {
        tenant: 'acme',
        iss: 'https://evil.test',
        sub: 'root',
        aud: 'x',
        exp: 1,
        jti: 'j',
        iat: 1,
        client_id: 'other',
        scope: 'admin'
      }
    }
  })

  const { payload } = decodeJwt((await loginAda(host)).json().access_token)
  t.match(payload, { tenant: 'acme', iss: ISSUER, sub: 'person:ada', aud: ISSUER })
  t.not(payload.exp, 1)
  t.not(payload.jti, 'j')
  t.notOk('client_id' in payload)
  t.notOk('scope' in payload)
  t.match(contexts, [{ subject: 'person:ada', grantType: 'password' }])

  const issued = await host.issueAccessToken('service:7')
  t.match(decodeJwt(issued.access_token).payload, { tenant: 'acme', sub: 'service:7' },
    'issueAccessToken runs the hook too')
})

t.test('routes: false only decorates', async (t) => {
  const host = await hostApp(t, { routes: false })

  t.equal((await loginAda(host)).statusCode, 404)
  const { access_token: token } = await host.issueAccessToken('person:ada')
  const me = await host.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  t.type(host.jwt.sign, 'function')
})

t.test('two registrations with different issuers share nothing', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  for (const name of ['one', 'two']) {
    await app.register(async (scope) => {
      await scope.register(tokenIssuer, {
        issuer: `https://${name}.example.test`,
        databaseUrl: `sqlite:${join(t.testdir(), `${name}.db`)}`
      })
      scope.get('/me', { preHandler: scope.authenticate }, async (request) => request.user)
      scope.get('/issue', async () => await scope.issueAccessToken(`user-of-${name}`))
    }, { prefix: `/${name}` })
  }
  await app.ready()

  const one = (await app.inject({ url: '/one/issue' })).json().access_token
  const two = (await app.inject({ url: '/two/issue' })).json().access_token
  t.not(decodeJwt(one).header.kid, decodeJwt(two).header.kid, 'each has its own key')
  const me = async (prefix: string, token: string) =>
    (await app.inject({ url: `${prefix}/me`, headers: { authorization: `Bearer ${token}` } }))
      .statusCode
  t.equal(await me('/one', one), 200)
  t.equal(await me('/two', two), 200)
  t.equal(await me('/one', two), 401, 'a token of one issuer is nothing to the other')
  t.equal(await me('/two', one), 401)
})

t.test('registering twice in one scope fails loudly instead of mixing state', async (t) => {
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  const databaseUrl = `sqlite:${join(t.testdir(), 'tokens.db')}`
  await app.register(tokenIssuer, { issuer: 'https://a.example.test', databaseUrl })
  app.register(tokenIssuer, { issuer: 'https://b.example.test', databaseUrl })
  await t.rejects(async () => { await app.ready() }, { code: 'FST_ERR_DEC_ALREADY_PRESENT' })
})

t.test('bad options fail the registration, naming the option', async (t) => {
  const databaseUrl = 'sqlite::memory:'
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ databaseUrl }, /issuer is required/],
    [{ issuer: 'auth.example.test', databaseUrl }, /issuer must be an absolute/],
    [{ issuer: ISSUER }, /databaseUrl is required/],
    [{ issuer: ISSUER, databaseUrl, algorithm: 'none' }, /algorithm must be one of/],
    [{ issuer: ISSUER, databaseUrl, algorithm: 'HS256', secret: 'short' },
      /secret must be at least/],
    [{ issuer: ISSUER, databaseUrl, secret: 'x'.repeat(40) }, /secret is only used with/],
    [{ issuer: ISSUER, databaseUrl, accessTokenTtl: '-1' }, /accessTokenTtl must be/],
    [{ issuer: ISSUER, databaseUrl, accessTokenTtl: 1.5 }, /accessTokenTtl must be/],
    [{ issuer: ISSUER, databaseUrl, refreshGracePeriod: '1h' }, /refreshGracePeriod must be/],
    [{ issuer: ISSUER, databaseUrl, routes: 'no' }, /routes must be true or false/],
    [{ issuer: ISSUER, databaseUrl, verifyCredentials: 'x' },
      /verifyCredentials must be a function/],
    [{ issuer: ISSUER, databaseUrl, claims: {} }, /claims must be a function/],
    [{ issuer: ISSUER, databaseUrl, realm: 'a"b' }, /realm must be/],
    [{ issuer: ISSUER, databaseUrl: 'mysql://x' }, /DATABASE_URL|databaseUrl/]
  ]

  for (const [options, message] of cases) {
    const app = Fastify()
    app.register(tokenIssuer, options as unknown as TokenIssuerOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'FTI_CONFIG', message },
      JSON.stringify(options))
    await app.close()
  }
})

t.test('registered claims from the host lookup are ignored too', async (t) => {
  const host = await hostApp(t, {
    verifyCredentials: async () => ({
      subject: 'person:ada', claims: { scope: 'admin', client_id: 'root', exp: 1, role: 'admin' }
    })
  })
  const response = await loginAda(host)
  t.equal(response.statusCode, 200)
  const { payload } = decodeJwt(response.json().access_token)
  t.match(payload, { sub: 'person:ada', role: 'admin' })
  t.notOk('scope' in payload)
  t.notOk('client_id' in payload)
  t.not(payload.exp, 1)
})

t.test('an issuer with a path serves its metadata where RFC 8414 puts it', async (t) => {
  const host = await hostApp(t)
  const standard = await host.inject({ url: '/.well-known/oauth-authorization-server/auth' })
  t.equal(standard.statusCode, 200)
  t.equal(standard.json().issuer, ISSUER)
})

t.test('a host lookup that breaks its contract is a server error, not a token', async (t) => {
  const host = await hostApp(t, {
    verifyCredentials: async () => ({ subject: '' })
  })
  const response = await loginAda(host)
  t.equal(response.statusCode, 500)
  t.same(response.json(),
    { error: 'server_error', error_description: 'The server could not handle the request' })
})
