import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { PASSWORD, USERNAME, basic, build, login, post, registerClient } from '../helper.js'

type App = Awaited<ReturnType<typeof build>>

async function setup (t: Test) {
  const fastify = await build(t)
  const rs = await registerClient(fastify,
    { id: 'resource-server', grantTypes: ['client_credentials'], scopes: [] }) as string
  const app = await registerClient(fastify,
    { id: 'app', grantTypes: ['password', 'refresh_token'], scopes: ['read'] }) as string
  return { fastify, rs: basic('resource-server', rs), app: basic('app', app) }
}

/** A token signed with our own key an hour ago, expired for 59 minutes. */
function expiredToken (fastify: App): string {
  const { active } = fastify.signingKeys
  const sign = createSigner({
    key: active.signingKey,
    algorithm: active.algorithm,
    kid: active.kid,
    header: { alg: active.algorithm, typ: 'at+jwt' },
    iss: 'http://localhost:3000',
    aud: 'http://localhost:3000',
    clockTimestamp: Date.now() - 3600_000,
    expiresIn: 60_000
  })
  return sign({ sub: 'x', jti: 'expired' })
}

async function introspect (fastify: App, token: string, authorization: string) {
  return await post(fastify, '/introspect', { token }, authorization)
}

t.test('introspection describes active tokens with the standard members (RFC 7662)', async (t) => {
  const { fastify, rs, app } = await setup(t)
  const issued = (await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: PASSWORD }, app)).json()

  const access = await introspect(fastify, issued.access_token, rs)
  t.equal(access.statusCode, 200)
  t.equal(access.headers['cache-control'], 'no-store')
  t.match(access.json(), {
    active: true,
    token_type: 'Bearer',
    scope: 'read',
    client_id: 'app',
    username: USERNAME,
    sub: String,
    aud: 'http://localhost:3000',
    iss: 'http://localhost:3000',
    exp: Number,
    iat: Number,
    jti: String
  })

  const refresh = await introspect(fastify, issued.refresh_token, app)
  t.match(refresh.json(),
    { active: true, token_type: 'refresh_token', client_id: 'app', scope: 'read' })
  t.same((await introspect(fastify, issued.refresh_token, rs)).json(), { active: false },
    'another client learns nothing of a refresh token')
})

t.test('introspection: inactive for unknown, foreign, expired or revoked tokens', async (t) => {
  const { fastify, rs } = await setup(t)
  const other = await build(t)
  const foreign = (await login(other)).json().access_token
  const expired = expiredToken(fastify)
  const issued = (await login(fastify)).json()
  await post(fastify, '/revoke', { token: issued.access_token })

  for (const [name, token] of [
    ['unknown', 'nonsense'], ['foreign', foreign], ['expired', expired],
    ['revoked', issued.access_token]
  ]) {
    t.same((await introspect(fastify, token as string, rs)).json(), { active: false }, name)
  }
})

t.test('introspection needs a client with a secret', async (t) => {
  const { fastify } = await setup(t)
  await registerClient(fastify, { id: 'spa', grantTypes: ['password'], scopes: [], public: true })
  const token = (await login(fastify)).json().access_token

  for (const params of [{ token }, { token, client_id: 'spa' }] as Array<Record<string, string>>) {
    const response = await post(fastify, '/introspect', params)
    t.equal(response.statusCode, 401)
    t.equal(response.json().error, 'invalid_client')
    t.ok(response.headers['www-authenticate'])
  }
  const clientFirst = await post(fastify, '/introspect', { token: '' },
    basic('resource-server', 'x'))
  t.equal(clientFirst.statusCode, 401, 'the client first')
})

t.test('revocation (RFC 7009): 200 for anything, and revoked tokens stop working', async (t) => {
  const { fastify, rs, app } = await setup(t)
  const issued = (await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: PASSWORD }, app)).json()

  t.equal((await post(fastify, '/revoke', { token: 'unknown' })).statusCode, 200, 'unknown')
  t.equal((await post(fastify, '/revoke', { token: issued.refresh_token })).statusCode, 200,
    'another client\'s token')
  t.match((await introspect(fastify, issued.refresh_token, app)).json(), { active: true },
    'is left alone')

  t.equal((await post(fastify, '/revoke', { token: issued.access_token }, app)).statusCode, 200)
  t.same((await introspect(fastify, issued.access_token, rs)).json(), { active: false })
  await t.rejects(fastify.verifyAccessToken(issued.access_token), { code: 'FTI_INVALID_TOKEN' })

  const response = await post(fastify, '/revoke',
    { token: issued.refresh_token, token_type_hint: 'refresh_token' }, app)
  t.equal(response.statusCode, 200)
  t.equal(response.body, '')
  t.same((await introspect(fastify, issued.refresh_token, app)).json(), { active: false })
  t.equal((await post(fastify, '/revoke', { token: issued.refresh_token }, app)).statusCode, 200,
    'already revoked')

  const missing = await post(fastify, '/revoke', {})
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'invalid_request')
})

t.test('a refresh token issued to no client may be revoked by whoever holds it', async (t) => {
  const { fastify, app } = await setup(t)
  const token = (await login(fastify)).json().refresh_token

  t.equal((await post(fastify, '/revoke', { token }, app)).statusCode, 200)
  const refreshed = await post(fastify, '/token',
    { grant_type: 'refresh_token', refresh_token: token })
  t.equal(refreshed.json().error, 'invalid_grant')
})

t.test('metadata (RFC 8414) names the endpoints, grants, methods and scopes', async (t) => {
  const { fastify } = await setup(t)

  const response = await fastify.inject({ url: '/.well-known/oauth-authorization-server' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), {
    issuer: 'http://localhost:3000',
    token_endpoint: 'http://localhost:3000/token',
    jwks_uri: 'http://localhost:3000/.well-known/jwks.json',
    revocation_endpoint: 'http://localhost:3000/revoke',
    introspection_endpoint: 'http://localhost:3000/introspect',
    grant_types_supported: ['password', 'client_credentials', 'refresh_token'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: [
      'client_secret_basic', 'client_secret_post', 'none'
    ],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: ['read']
  })
})

t.test('a revoked access token stays revoked after a restart', async (t) => {
  const dataDir = t.testdir()
  const first = await build(t, { dataDir })
  const token = (await login(first)).json().access_token
  t.equal((await post(first, '/revoke', { token })).statusCode, 200)
  await t.rejects(first.verifyAccessToken(token), { code: 'FTI_INVALID_TOKEN' })
  await first.close()

  const again = await build(t, { dataDir })
  await t.rejects(again.verifyAccessToken(token), { message: /revoked/ },
    'the deny list held in memory is read back from the store at start')
  t.ok(await again.verifyAccessToken((await login(again)).json().access_token), 'others pass')
})
