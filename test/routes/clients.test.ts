import t from 'tap'
import { PASSWORD, USERNAME, basic, build, decodeJwt, post, registerClient } from '../helper.js'

const CC = { grant_type: 'client_credentials' }

t.test('client_credentials: sub and client_id are the client, scope and audience its own',
  async (t) => {
    const fastify = await build(t)
    const secret = await registerClient(fastify, {
      id: 'client-a',
      grantTypes: ['client_credentials'],
      scopes: ['read', 'write'],
      audience: 'api'
    }) as string

    const all = await post(fastify, '/token', CC, basic('client-a', secret))
    t.equal(all.statusCode, 200)
    const body = all.json()
    t.notOk('refresh_token' in body, 'no refresh token for a client')
    t.equal(body.scope, 'read write')
    t.match(decodeJwt(body.access_token).payload,
      { sub: 'client-a', client_id: 'client-a', scope: 'read write', aud: 'api' })

    const narrowed = await post(fastify, '/token',
      { ...CC, scope: 'read' }, basic('client-a', secret))
    t.equal(narrowed.json().scope, 'read')

    const posted = await post(fastify, '/token',
      { ...CC, client_id: 'client-a', client_secret: secret })
    t.equal(posted.statusCode, 200, 'client_secret_post works too')

    const wider = await post(fastify, '/token',
      { ...CC, scope: 'read admin' }, basic('client-a', secret))
    t.equal(wider.statusCode, 400)
    t.equal(wider.json().error, 'invalid_scope')
  })

t.test('failed client authentication: 401 invalid_client with a Basic challenge (C03)',
  async (t) => {
    const fastify = await build(t)
    await registerClient(fastify,
      { id: 'client-a', grantTypes: ['client_credentials'], scopes: [] })

    const wrong = await post(fastify, '/token', CC, basic('client-a', 'wrong'))
    const unknown = await post(fastify, '/token', CC, basic('nobody', 'anything'))
    const posted = await post(fastify, '/token',
      { ...CC, client_id: 'client-a', client_secret: 'wrong' })

    for (const [name, response] of [['a', wrong], ['b', unknown], ['c', posted]] as const) {
      t.equal(response.statusCode, 401, `${name}: status`)
      t.match(response.headers['www-authenticate'], /^Basic realm="[^"]+"/,
        `${name}: challenge`)
      t.same(response.json(),
        { error: 'invalid_client', error_description: 'Client authentication failed' }, name)
      t.equal(response.headers['cache-control'], 'no-store')
    }
  })

t.test('Basic credentials are form-decoded after a split at the first colon (C04)', async (t) => {
  const fastify = await build(t)
  const secret = await registerClient(fastify, {
    id: 'client a/1', grantTypes: ['client_credentials'], scopes: []
  }) as string
  t.match(secret, /^[A-Za-z0-9_-]{43}$/, 'generated secrets need no encoding')

  const encoded = await post(fastify, '/token', CC, basic('client a/1', secret))
  t.equal(encoded.statusCode, 200)

  // The case's own pair: a secret full of reserved characters, encoded by the client.
  const credentials = `client+a%2F1:${encodeURIComponent(secret)}`
  const header = `Basic ${Buffer.from(credentials).toString('base64')}`
  t.equal((await post(fastify, '/token', CC, header)).statusCode, 200)

  const secondColon = `Basic ${Buffer.from(`client+a%2F1:${secret}:extra`).toString('base64')}`
  t.equal((await post(fastify, '/token', CC, secondColon)).statusCode, 401,
    'b: everything after the first colon is the secret')

  for (const header of ['Basic abc def', 'Basic\tabc', 'Basic']) {
    const malformed = await post(fastify, '/token',
      { grant_type: 'password', username: 'user-1', password: 'x' }, header)
    t.equal(malformed.statusCode, 401, `${header}: a malformed Basic header is a failure`)
  }
  const broken = `Basic ${Buffer.from('client+a%2F1:%E0%A4%A').toString('base64')}`
  t.equal((await post(fastify, '/token', CC, broken)).statusCode, 401, 'bad percent-encoding')
  t.equal((await post(fastify, '/token', CC, 'Basic !!!')).statusCode, 401, 'not base64')
})

t.test('one client authentication method per request (C05c)', async (t) => {
  const fastify = await build(t)
  const a = await registerClient(fastify,
    { id: 'client-a', grantTypes: ['client_credentials'], scopes: [] })
  const b = await registerClient(fastify,
    { id: 'client-b', grantTypes: ['client_credentials'], scopes: [] })

  const both = await post(fastify, '/token',
    { ...CC, client_id: 'client-b', client_secret: b as string },
    basic('client-a', a as string))
  t.equal(both.statusCode, 400)
  t.equal(both.json().error, 'invalid_request')

  const secretOnly = await post(fastify, '/token', { ...CC, client_secret: 'x' })
  t.equal(secretOnly.json().error, 'invalid_request', 'a secret without an id')
})

t.test('the grant type is checked before the client, and the client before the grant (C02)',
  async (t) => {
    const fastify = await build(t)
    await registerClient(fastify,
      { id: 'client-a', grantTypes: ['password'], scopes: [], public: true })

    const cases: Array<[Record<string, string>, number, string]> = [
      [{ username: USERNAME, password: PASSWORD, client_id: 'client-a' }, 400, 'invalid_request'],
      [{ grant_type: '', username: USERNAME, password: PASSWORD, client_id: 'client-a' }, 400,
        'invalid_request'],
      [{ grant_type: 'urn:example:unknown', client_id: 'client-a' }, 400, 'unsupported_grant_type'],
      [{ grant_type: 'client_credentials', client_id: 'client-a' }, 400, 'unauthorized_client'],
      [{ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'client-a' }, 400,
        'unauthorized_client'],
      [{ grant_type: 'client_credentials' }, 401, 'invalid_client'],
      [{ grant_type: 'client_credentials', client_id: 'nobody' }, 401, 'invalid_client']
    ]
    for (const [params, status, error] of cases) {
      const response = await post(fastify, '/token', params)
      t.equal(response.statusCode, status, JSON.stringify(params))
      t.equal(response.json().error, error, JSON.stringify(params))
    }

    const login = await post(fastify, '/token',
      { grant_type: 'password', username: USERNAME, password: PASSWORD, client_id: 'client-a' })
    t.equal(login.statusCode, 200, 'the public client logs a user in')
    t.equal(decodeJwt(login.json().access_token).payload.client_id, 'client-a')
  })

t.test('the password grant without a client is a setting', async (t) => {
  const fastify = await build(t, { env: { PASSWORD_GRANT_WITHOUT_CLIENT: 'false' } })
  const secret = await registerClient(fastify, {
    id: 'app', grantTypes: ['password', 'refresh_token'], scopes: ['profile']
  }) as string

  const bare = await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: PASSWORD })
  t.equal(bare.statusCode, 401)
  t.equal(bare.json().error, 'invalid_client')

  const withClient = await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: PASSWORD }, basic('app', secret))
  t.equal(withClient.statusCode, 200)
  t.equal(withClient.json().scope, 'profile')
  t.type(withClient.json().refresh_token, 'string')
})

t.test('scopes without a client, or malformed, are invalid_scope', async (t) => {
  const fastify = await build(t)
  for (const scope of ['read', 'a\u0000b', 'a"b']) {
    const response = await post(fastify, '/token',
      { grant_type: 'password', username: USERNAME, password: PASSWORD, scope })
    t.equal(response.json().error, 'invalid_scope', JSON.stringify(scope))
  }
})

t.test('a client without the refresh_token grant gets no refresh token', async (t) => {
  const fastify = await build(t)
  const secret = await registerClient(fastify, { id: 'app', grantTypes: ['password'], scopes: [] })

  const response = await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: PASSWORD },
    basic('app', secret as string))
  t.equal(response.statusCode, 200)
  t.notOk('refresh_token' in response.json())
})
