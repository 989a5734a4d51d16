import t from 'tap'
import { build, decodeJwt, post } from '../helper.js'

t.test('fastify.jwt.sign refuses what is not a claims object (C15)', async (t) => {
  const fastify = await build(t)
  const sign = fastify.jwt.sign as (...args: unknown[]) => unknown

  const refused: Array<[string, unknown[]]> = [
    ['a: a bare username with an expiry', ['user-1', { expiresIn: '1d' }]],
    ['b: a bare username', ['user-1']],
    ['d: a Buffer', [Buffer.from('{"sub":"user-1"}')]],
    ['d: a number', [42]],
    ['d: null', [null]],
    ['an array', [['user-1']]],
    ['a class instance', [new Date()]],
    ['no sub', [{ role: 'x' }]],
    ['an empty sub', [{ sub: '' }]],
    ['a claim the signer sets', [{ sub: 'user-1', exp: 1 }]],
    [
      'c: jsonwebtoken order, secret second',
      [{ sub: 'user-1' }, 'some-secret', { expiresIn: '1d' }]
    ],
    ['an option that would change the key', [{ sub: 'user-1' }, { key: 'other' }]],
    ['an option that drops iat', [{ sub: 'user-1' }, { noTimestamp: true }]]
  ]
  for (const [name, args] of refused) {
    t.throws(() => sign(...args), { code: 'FTI_INVALID_CLAIMS' }, name)
  }
  t.throws(() => sign({ sub: 'user-1' }, 'some-secret'), { message: /options must be an object/ },
    'the message says where the key comes from')
})

t.test('fastify.jwt.sign returns an RFC 9068 access token for a claims object', async (t) => {
  const fastify = await build(t)

  const token = await fastify.jwt.sign({ sub: 'user-1', scope: 'read' })
  const { header, payload } = decodeJwt(token)
  t.match(header, { alg: 'ES256', typ: 'at+jwt', kid: String })
  t.match(payload, { sub: 'user-1', scope: 'read', iss: String, aud: String, jti: String })
  t.equal((payload.exp as number) - (payload.iat as number), 900)

  const longer = decodeJwt(await fastify.jwt.sign({ sub: 'user-1' }, { expiresIn: '1d' })).payload
  t.equal((longer.exp as number) - (longer.iat as number), 86400)

  t.match(fastify.jwt.verify(token), { sub: 'user-1' }, 'it verifies with the same plugin')
})

t.test('the signing callback form reports refusals through the callback', async (t) => {
  const fastify = await build(t)
  const sign = fastify.jwt.sign as (...args: unknown[]) => unknown

  const error = await new Promise((resolve) => sign('user-1', (err: Error | null) => resolve(err)))
  t.match(error, { code: 'FTI_INVALID_CLAIMS' })
  const token = await new Promise((resolve) =>
    sign({ sub: 'a' }, {}, (_: unknown, value: string) => resolve(value)))
  t.type(token, 'string')
})

t.test('claims from a parsed body cannot pollute a payload (C09d)', async (t) => {
  const fastify = await build(t)
  const extraClaims = JSON.parse(
    '{"__proto__":{"role":"admin"},"constructor":{"prototype":{"role":"admin"}}}'
  )

  const { payload } = decodeJwt(await fastify.jwt.sign({ sub: 'user-1', ...extraClaims }))
  t.notOk('role' in payload)
  t.notOk(Object.hasOwn(payload, '__proto__'))
  t.notOk(Object.hasOwn(payload, 'constructor'))
})

t.test('issueAccessToken returns the /token body for a subject', async (t) => {
  const fastify = await build(t)

  const body = await fastify.issueAccessToken('service-7',
    { claims: { tenant: 'acme' }, scope: ['read'], refreshToken: true })
  t.match(body, {
    token_type: 'Bearer',
    expires_in: 900,
    access_token: String,
    refresh_token: String,
    scope: 'read'
  })
  t.match(decodeJwt(body.access_token).payload, { sub: 'service-7', tenant: 'acme', scope: 'read' })
  const refreshed = await post(fastify, '/token',
    { grant_type: 'refresh_token', refresh_token: body.refresh_token as string })
  t.equal(refreshed.statusCode, 200, 'its refresh token works at /token')

  const other = await fastify.issueAccessToken('service-7', { audience: 'billing' })
  t.notOk('refresh_token' in other)
  t.equal(decodeJwt(other.access_token).payload.aud, 'billing')
  await t.rejects(fastify.issueAccessToken('service-7', { claims: { iss: 'https://evil.test' } }),
    { code: 'FTI_INVALID_CLAIMS' })
})

t.test('signAccessToken signs exactly the claims given', async (t) => {
  const fastify = await build(t)

  const body = fastify.signAccessToken('service-7', { tenant: 'acme' }, { audience: 'api' })
  t.match(body, { token_type: 'Bearer', expires_in: 900, access_token: String })
  t.match(decodeJwt(body.access_token).payload, { sub: 'service-7', tenant: 'acme', aud: 'api' })
  t.throws(() => fastify.signAccessToken('service-7', { iss: 'https://evil.test' }, {}),
    { code: 'FTI_INVALID_CLAIMS' })
})

t.test('fastify.jwt.verify refuses a token without typ at+jwt, or signed with none', async (t) => {
  const fastify = await build(t)
  const token = await fastify.jwt.sign({ sub: 'user-1' })
  const [header, payload] = token.split('.') as [string, string, string]
  const json = JSON.parse(Buffer.from(header, 'base64url').toString())

  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

  const unsigned = `${encode({ ...json, alg: 'none' })}.${payload}.`
  t.throws(() => fastify.jwt.verify(unsigned))
  const plainJwt = `${encode({ ...json, typ: 'JWT' })}.${payload}.${token.split('.')[2]}`
  t.throws(() => fastify.jwt.verify(plainJwt))
})

t.test('weak or misplaced HS256 secrets stop the start, naming JWT_SECRET (C17)', async (t) => {
  const pemLike = `-----BEGIN PUBLIC KEY-----\n${'A'.repeat(64)}\n-----END PUBLIC KEY-----`
  const secrets = ['secret', 'changeme', '', 'k'.repeat(31), pemLike]

  for (const secret of secrets) {
    await t.rejects(build(t, { env: { JWT_ALGORITHM: 'HS256', JWT_SECRET: secret } }),
      { code: 'FTI_CONFIG', message: /JWT_SECRET/ }, JSON.stringify(secret.slice(0, 12)))
  }
  await t.rejects(build(t, { env: { JWT_ALGORITHM: 'HS384', JWT_SECRET: 'k'.repeat(48) } }),
    { code: 'FTI_CONFIG', message: /JWT_ALGORITHM/ }, 'only the listed algorithms, never none')
  await t.rejects(build(t, { env: { JWT_ALGORITHM: 'none' } }),
    { code: 'FTI_CONFIG', message: /JWT_ALGORITHM/ })
})
