import { createHmac, randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { tokenVerifier, type TokenVerifierOptions } from '../../plugins/token-verifier.js'
import { build, decodeJwt, login } from '../helper.js'

/**
 * Every test runs a real issuer on a loopback port and a resource server whose verifier reaches
 * it over HTTP; nothing is mocked.
 */

const JWKS_PATH = '/.well-known/jwks.json'
const METADATA_PATH = '/.well-known/oauth-authorization-server'
const CHALLENGE = 'Bearer realm="api"'
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'

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

interface Issuer {
  fastify: FastifyInstance
  origin: string
  port: number
  /** Requests the issuer received, by path. */
  requests: Map<string, number>
}

interface IssuerOptions {
  port?: number
  dataDir?: string
  env?: Record<string, string>
}

/** The real issuer, listening on 127.0.0.1, with its origin as ISSUER (and so as audience). */
async function startIssuer (t: Test, options: IssuerOptions = {}): Promise<Issuer> {
  const port = options.port ?? await freePort()
  const origin = `http://127.0.0.1:${port}`
  const requests = new Map<string, number>()
  const fastify = await build(t, {
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    env: { ISSUER: origin, PORT: String(port), ...options.env }
  }, (issuer) => {
    issuer.addHook('onRequest', async (request) => {
      const path = request.url.split('?')[0] as string
      requests.set(path, (requests.get(path) ?? 0) + 1)
    })
  })
  await fastify.listen({ port, host: '127.0.0.1' })
  return { fastify, origin, port, requests }
}

/** A resource server with the verifier and `GET /resource` behind `authenticate`. */
async function resourceServer (
  t: Test, options: TokenVerifierOptions, logs?: Array<Record<string, unknown>>
): Promise<FastifyInstance> {
  const logger = logs === undefined ? false : { level: 'warn', stream: sink(logs) }
  const app = Fastify({ logger })
  t.teardown(async () => { await app.close() })
  await app.register(tokenVerifier, options)
  app.get('/resource', { preHandler: app.authenticate }, async (request) => {
    return { subject: request.user.sub }
  })
  await app.ready()
  return app
}

function sink (logs: Array<Record<string, unknown>>) {
  return new Writable({
    write (chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') logs.push(JSON.parse(line))
      }
      done()
    }
  })
}

async function accessToken (issuer: Issuer): Promise<string> {
  const response = await login(issuer.fastify)
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.body}`)
  return response.json().access_token
}

async function get (app: FastifyInstance, authorization?: string) {
  return await app.inject({
    url: '/resource',
    headers: authorization === undefined ? {} : { authorization }
  })
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

t.test('a token from /token verifies through the issuer metadata', async (t) => {
  const issuer = await startIssuer(t)
  const app = await resourceServer(t, { issuer: issuer.origin, audience: issuer.origin })
  t.equal(issuer.requests.get(JWKS_PATH), undefined, 'registration fetches nothing')

  const token = await accessToken(issuer)
  const { payload } = decodeJwt(token)
  const claims = await app.verifyAccessToken(token)
  t.match(claims, { iss: issuer.origin, aud: issuer.origin, sub: payload.sub, jti: payload.jti })

  const response = await get(app, `Bearer ${token}`)
  t.equal(response.statusCode, 200)
  t.same(response.json(), { subject: payload.sub }, 'authenticate sets request.user')

  for (let i = 0; i < 5; i++) t.equal((await get(app, `Bearer ${token}`)).statusCode, 200)
  t.equal(issuer.requests.get(METADATA_PATH), 1, 'the metadata is read once')
  t.equal(issuer.requests.get(JWKS_PATH), 1, 'the keys are fetched once, not per request')
})

t.test('concurrent first requests share one fetch of the metadata and the keys', async (t) => {
  const issuer = await startIssuer(t)
  const app = await resourceServer(t, { issuer: issuer.origin, audience: issuer.origin })
  const token = await accessToken(issuer)

  const responses = await Promise.all(
    Array.from({ length: 10 }, async () => await get(app, `Bearer ${token}`)))
  t.ok(responses.every((response) => response.statusCode === 200), 'all pass')
  t.equal(issuer.requests.get(METADATA_PATH), 1)
  t.equal(issuer.requests.get(JWKS_PATH), 1, 'the keys are fetched once, not per request')
})

t.test('the metadata must name the issuer exactly (RFC 8414 §3.3)', async (t) => {
  const issuer = await startIssuer(t)
  const logs: Array<Record<string, unknown>> = []
  // The same server, but not the same string as the tokens' iss and the metadata's issuer.
  const app = await resourceServer(t, { issuer: `${issuer.origin}/`, audience: issuer.origin },
    logs)

  const response = await get(app, `Bearer ${await accessToken(issuer)}`)
  t.equal(response.statusCode, 401)
  t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  t.equal(issuer.requests.get(JWKS_PATH), undefined, 'no key set is taken from it')
  t.match(logs, [{ level: 50, msg: 'could not load the key set' }])
})

t.test('jwksUrl alone verifies, without discovery and without checking iss', async (t) => {
  const issuer = await startIssuer(t)
  const jwksUrl = `${issuer.origin}${JWKS_PATH}`
  const app = await resourceServer(t, { jwksUrl, audience: issuer.origin })

  const token = await accessToken(issuer)
  const response = await get(app, `Bearer ${token}`)
  t.equal(response.statusCode, 200)
  t.same(response.json(), { subject: decodeJwt(token).payload.sub })
  t.equal(issuer.requests.get(METADATA_PATH), undefined, 'no metadata is read')

  // The documented weakness of jwksUrl alone: another iss passes; with issuer too, it does not.
  const foreign = signWithIssuerKey(issuer, { iss: 'https://someone-else.example' })
  t.equal((await get(app, `Bearer ${foreign}`)).statusCode, 200, 'iss is not checked')

  const both = await resourceServer(t, { jwksUrl, issuer: issuer.origin, audience: issuer.origin })
  t.equal((await get(both, `Bearer ${token}`)).statusCode, 200)
  t.equal((await get(both, `Bearer ${foreign}`)).statusCode, 401, 'with issuer, iss is checked')
  t.equal(issuer.requests.get(METADATA_PATH), undefined, 'jwksUrl given: still no metadata')
})

t.test('C18: alg none is refused whatever its case, with or without a signature', async (t) => {
  const issuer = await startIssuer(t)
  const app = await resourceServer(t, { issuer: issuer.origin, audience: issuer.origin })
  const token = await accessToken(issuer)
  const { header, payload } = decodeJwt(token)
  t.equal((await get(app, `Bearer ${token}`)).statusCode, 200, 'the real token passes')

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    const unsigned = `${b64({ alg, typ: 'at+jwt', kid: header.kid })}.${b64(payload)}`
    for (const [name, forged] of [['no signature', `${unsigned}.`], ['junk', `${unsigned}.junk`]]) {
      const response = await get(app, `Bearer ${forged}`)
      t.equal(response.statusCode, 401, `${alg}, ${name}`)
      t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
      await t.rejects(app.verifyAccessToken(forged as string), { code: 'FTI_INVALID_TOKEN' })
    }
  }
})

t.test('C19: HS256 keyed with the public key PEM is refused', async (t) => {
  const issuer = await startIssuer(t)
  const app = await resourceServer(t, { issuer: issuer.origin, audience: issuer.origin })
  const token = await accessToken(issuer)
  const { header, payload } = decodeJwt(token)
  const pem = issuer.fastify.signingKeys.active.verifyingKey.toString()
  t.match(pem, /^-----BEGIN PUBLIC KEY-----/)

  const secrets: Array<[string, string]> = [
    ['the exact PEM', pem],
    ['a leading newline', `\n${pem}`],
    ['a leading BOM', `\uFEFF${pem}`],
    ['a leading comment line', `# comment\n${pem}`]
  ]
  for (const [name, secret] of secrets) {
    const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: header.kid })}.${b64(payload)}`
    const forged = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
    const response = await get(app, `Bearer ${forged}`)
    t.equal(response.statusCode, 401, name)
    t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  }
})

/** A token signed with the issuer's real private key, with our usual claims unless overridden. */
function signWithIssuerKey (
  issuer: Issuer,
  claims: Record<string, unknown> = {},
  // null: no exp at all (undefined would pick the default)
  { expiresIn = 600 as number | null, typ = 'at+jwt' } = {}
): string {
  const { active } = issuer.fastify.signingKeys
  const sign = createSigner({
    key: active.signingKey,
    algorithm: active.algorithm,
    kid: active.kid,
    header: { alg: active.algorithm, typ },
    ...(expiresIn === null ? {} : { expiresIn: expiresIn * 1000 })
  })
  return sign({
    iss: issuer.origin, sub: 'someone', aud: issuer.origin, jti: randomUUID(), ...claims
  })
}

/** The token with header members replaced, its signature kept. */
function withHeader (token: string, members: Record<string, unknown>): string {
  const [header, ...rest] = token.split('.')
  const decoded = JSON.parse(Buffer.from(header as string, 'base64url').toString())
  return [b64({ ...decoded, ...members }), ...rest].join('.')
}

t.test('C22: tokens signed with the real key but wrong claims or typ are refused', async (t) => {
  const issuer = await startIssuer(t)
  const app = await resourceServer(t, { issuer: issuer.origin, audience: issuer.origin })

  const good = signWithIssuerKey(issuer)
  t.equal((await get(app, `Bearer ${good}`)).statusCode, 200, 'control: all claims right')
  t.notOk('exp' in decodeJwt(signWithIssuerKey(issuer, {}, { expiresIn: null })).payload)

  const refused: Array<[string, string]> = [
    ['no exp', signWithIssuerKey(issuer, {}, { expiresIn: null })],
    ['a wrong aud', signWithIssuerKey(issuer, { aud: 'https://other-api.example' })],
    ['a wrong iss', signWithIssuerKey(issuer, { iss: 'https://evil.example' })],
    ['typ JWT', signWithIssuerKey(issuer, {}, { typ: 'JWT' })],
    ['a header alg other than the key\'s', withHeader(good, { alg: 'RS256' })],
    ['no kid', withHeader(good, { kid: undefined })],
    ['expired', signWithIssuerKey(issuer, { iat: 1_000_000 }, { expiresIn: 60 })],
    ['no jti', signWithIssuerKey(issuer, { jti: undefined })],
    ['no sub', signWithIssuerKey(issuer, { sub: undefined })]
  ]
  for (const [name, token] of refused) {
    const response = await get(app, `Bearer ${token}`)
    t.equal(response.statusCode, 401, name)
    t.equal(response.headers['www-authenticate'], INVALID_TOKEN, name)
  }
})

t.test('C25: the Authorization header, well- and ill-formed', async (t) => {
  const issuer = await startIssuer(t)
  const app = await resourceServer(t, { issuer: issuer.origin, audience: issuer.origin })
  const token = await accessToken(issuer)

  const empty = await get(app, 'Bearer ')
  t.equal(empty.statusCode, 400, 'a: Bearer and nothing')
  t.equal(empty.headers['www-authenticate'], 'Bearer realm="api", error="invalid_request"')

  for (const value of ['Bearer abc', 'Bearer a.b']) {
    const response = await get(app, value)
    t.equal(response.statusCode, 401, `b: ${value}`)
    t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  }

  for (const value of [`bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`]) {
    const response = await get(app, value)
    t.equal(response.statusCode, 200, `c, d: ${value.slice(0, 8)}…`)
    t.same(response.json(), { subject: decodeJwt(token).payload.sub })
  }

  const basic = `Basic ${Buffer.from('x:y').toString('base64')}`
  const challenged: Array<[string, string | undefined]> = [
    ['e: Basic', basic], ['e: none', undefined], ['f: another scheme', `AAAAAA ${token}`]
  ]
  for (const [name, value] of challenged) {
    const response = await get(app, value)
    t.equal(response.statusCode, 401, name)
    t.equal(response.headers['www-authenticate'], CHALLENGE, `${name}: no error code`)
  }
})

t.test('a new key is fetched on its unknown kid; the old key still verifies', async (t) => {
  const dataDir = t.testdir()
  const first = await startIssuer(t, { dataDir })
  const app = await resourceServer(t, { issuer: first.origin, audience: first.origin })

  const oldToken = await accessToken(first)
  t.equal(decodeJwt(oldToken).header.alg, 'ES256')
  t.equal((await get(app, `Bearer ${oldToken}`)).statusCode, 200)
  await first.fastify.close()

  const second = await startIssuer(t, {
    dataDir, port: first.port, env: { JWT_ALGORITHM: 'EdDSA' }
  })
  const newToken = await accessToken(second)
  t.equal(decodeJwt(newToken).header.alg, 'EdDSA')
  t.not(decodeJwt(newToken).header.kid, decodeJwt(oldToken).header.kid)

  // Concurrent misses on the new kid share the one refetch, and all pass.
  const responses = await Promise.all(
    Array.from({ length: 5 }, async () => await get(app, `Bearer ${newToken}`)))
  t.same(responses.map((response) => response.statusCode), [200, 200, 200, 200, 200],
    'the new key is found after one refetch')
  t.equal(second.requests.get(JWKS_PATH), 1)
  t.equal((await get(app, `Bearer ${oldToken}`)).statusCode, 200, 'the old key is still published')
  t.equal(second.requests.get(JWKS_PATH), 1, 'no further fetch')
})

t.test('unknown kids cause at most one fetch per cooldown, shared when concurrent',
  async (t) => {
    const issuer = await startIssuer(t)
    const app = await resourceServer(t, { issuer: issuer.origin, audience: issuer.origin })
    const token = await accessToken(issuer)
    t.equal((await get(app, `Bearer ${token}`)).statusCode, 200)
    t.equal(issuer.requests.get(JWKS_PATH), 1)

    const [, payload, signature] = token.split('.')
    const forged = () =>
      `${b64({ alg: 'ES256', typ: 'at+jwt', kid: randomUUID() })}.${payload}.${signature}`

    const concurrent = await Promise.all(
      Array.from({ length: 10 }, async () => await get(app, `Bearer ${forged()}`)))
    const sequential = []
    for (let i = 0; i < 10; i++) sequential.push(await get(app, `Bearer ${forged()}`))
    for (const response of [...concurrent, ...sequential]) {
      t.equal(response.statusCode, 401)
      t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
    }
    t.equal(issuer.requests.get(JWKS_PATH), 2, '20 unknown kids: one extra fetch')
    t.equal((await get(app, `Bearer ${token}`)).statusCode, 200)
    t.equal(issuer.requests.get(JWKS_PATH), 2)
  }
)

t.test('registration does not need the issuer; keys are fetched once it is up', async (t) => {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const logs: Array<Record<string, unknown>> = []
  const app = await resourceServer(t, { issuer: origin, audience: origin, cooldown: 0 }, logs)

  const down = await get(app, 'Bearer a.b.c')
  t.equal(down.statusCode, 401, 'no keys: the token cannot be verified')
  await t.rejects(app.verifyAccessToken('eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.e30.c2ln'),
    { code: 'FTI_INVALID_TOKEN', message: /keys are unavailable/ })
  t.match(logs, [{ level: 50, msg: 'could not load the key set' }])

  const issuer = await startIssuer(t, { port })
  t.equal((await get(app, `Bearer ${await accessToken(issuer)}`)).statusCode, 200)
})

t.test('stale keys are refetched before verifying; a failed refetch keeps them', async (t) => {
  const issuer = await startIssuer(t)
  const logs: Array<Record<string, unknown>> = []
  // maxCacheAge 0: the keys are stale at once, so every verification refetches.
  const app = await resourceServer(t, {
    issuer: issuer.origin, audience: issuer.origin, maxCacheAge: 0, cooldown: 0
  }, logs)
  const token = await accessToken(issuer)

  t.equal((await get(app, `Bearer ${token}`)).statusCode, 200)
  t.equal((await get(app, `Bearer ${token}`)).statusCode, 200)
  t.equal(issuer.requests.get(JWKS_PATH), 2, 'refetched when stale')

  await issuer.fastify.close()
  t.equal((await get(app, `Bearer ${token}`)).statusCode, 200, 'the previous keys still verify')
  t.match(logs, [{ level: 40, msg: 'could not refresh the key set; keeping the previous keys' }])
})

t.test('verifyAccessToken honours a narrower audience and refuses what is not a JWT',
  async (t) => {
    const issuer = await startIssuer(t)
    const app = await resourceServer(t, {
      issuer: issuer.origin, audience: [issuer.origin, 'https://api.example']
    })
    const token = await accessToken(issuer)

    t.match(await app.verifyAccessToken(token), { iss: issuer.origin })
    t.match(await app.verifyAccessToken(token, { audience: issuer.origin }), { iss: issuer.origin })
    await t.rejects(app.verifyAccessToken(token, { audience: 'https://api.example' }),
      { code: 'FTI_INVALID_TOKEN' })
    for (const junk of ['', 'abc', 'a.b', 'a.b.c', `${token}x`]) {
      await t.rejects(app.verifyAccessToken(junk), { code: 'FTI_INVALID_TOKEN' }, junk)
    }
  }
)

t.test('bad options throw at registration, naming the option', async (t) => {
  const issuer = 'http://127.0.0.1:1'
  const cases: Array<[string, unknown, RegExp]> = [
    ['no audience', { issuer }, /^tokenVerifier: audience is required/],
    ['an empty audience', { issuer, audience: [] }, /^tokenVerifier: audience is required/],
    ['neither issuer nor jwksUrl', { audience: 'a' }, /^tokenVerifier: issuer or jwksUrl/],
    ['HS256', { issuer, audience: 'a', algorithms: ['HS256'] },
      /^tokenVerifier: algorithms must not include HS256/],
    ['none', { issuer, audience: 'a', algorithms: ['ES256', 'none'] },
      /^tokenVerifier: algorithms must not include none/],
    ['an unknown algorithm', { issuer, audience: 'a', algorithms: ['PS256'] },
      /^tokenVerifier: algorithms may only include/],
    ['a non-URL issuer', { issuer: 'auth.example.com', audience: 'a' },
      /^tokenVerifier: issuer must be an absolute http\(s\) URL/],
    ['an issuer with a query', { issuer: 'https://a.example/?x=1', audience: 'a' },
      /^tokenVerifier: issuer/],
    ['a non-URL jwksUrl', { jwksUrl: 'keys.json', audience: 'a' }, /^tokenVerifier: jwksUrl/],
    ['a negative cooldown', { issuer, audience: 'a', cooldown: -1 }, /^tokenVerifier: cooldown/],
    ['a zero fetchTimeout', { issuer, audience: 'a', fetchTimeout: 0 },
      /^tokenVerifier: fetchTimeout/],
    ['a quote in the realm', { issuer, audience: 'a', realm: 'a"b' }, /^tokenVerifier: realm/]
  ]
  for (const [name, options, message] of cases) {
    const app = Fastify()
    const register = async () => {
      await app.register(tokenVerifier, options as TokenVerifierOptions)
    }
    await t.rejects(register, { code: 'FTI_CONFIG', message }, name)
    await app.close()
  }
})
