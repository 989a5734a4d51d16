import { createRemoteJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { hashRefreshToken } from '../src/refresh.js'
import {
  PASSWORD, REDIS_TEST_URL, USERNAME, basic, build, postgresUnavailable, postgresUrlFor,
  redisPrefixFor, redisUnavailable, registerClient, skipWithout
} from './helper.js'

const ISSUER = 'https://auth.example.test'

t.test('three replicas on one PostgreSQL and one Redis act as one issuer', async (t) => {
  const reason = await postgresUnavailable() ?? await redisUnavailable()
  if (reason !== undefined) return skipWithout(t, reason)

  const env = {
    DATABASE_URL: postgresUrlFor(t),
    REDIS_URL: REDIS_TEST_URL,
    REDIS_KEY_PREFIX: redisPrefixFor(t),
    ISSUER,
    LOCKOUT_THRESHOLD: '5',
    LOCKOUT_DURATION: '1m',
    RATE_LIMIT_MAX: '1000'
  }
  // Started together: migrations, the first signing key and the first user race, and agree.
  const replicas = await Promise.all([1, 2, 3].map(async () => {
    const fastify = await build(t, { env })
    await fastify.listen({ host: '127.0.0.1', port: 0 })
    return fastify
  }))
  const [a, b, c] = replicas as [typeof replicas[0], typeof replicas[0], typeof replicas[0]]
  const origin = (replica: typeof a) => replica.listeningOrigin
  const post = async (replica: typeof a, url: string, params: Record<string, string>,
    authorization?: string) => {
    const response = await fetch(`${origin(replica)}${url}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(authorization === undefined ? {} : { authorization })
      },
      body: new URLSearchParams(params)
    })
    const text = await response.text()
    return {
      status: response.status,
      body: text === '' ? {} : JSON.parse(text),
      remaining: Number(response.headers.get('x-ratelimit-remaining'))
    }
  }
  const login = async (replica: typeof a, password = PASSWORD) =>
    await post(replica, '/token', { grant_type: 'password', username: USERNAME, password })

  t.test('a token from one verifies through the key set of another', async (t) => {
    const kids = new Set(replicas.map((replica) => replica.signingKeys.active.kid))
    t.equal(kids.size, 1, 'one signing key for all')
    const { body } = await login(a)
    const keys = createRemoteJWKSet(new URL('/.well-known/jwks.json', origin(b)))
    const { payload } = await jwtVerify(body.access_token, keys,
      { issuer: ISSUER, audience: ISSUER, typ: 'at+jwt' })
    t.equal(payload.preferred_username, USERNAME)
  })

  t.test('a refresh token from one is refreshed on another', async (t) => {
    const { body } = await login(a)
    const refreshed = await post(b, '/token',
      { grant_type: 'refresh_token', refresh_token: body.refresh_token })
    t.equal(refreshed.status, 200)
    t.not(refreshed.body.refresh_token, body.refresh_token)
  })

  t.test('ten parallel refreshes of one token spread over all three yield one successor',
    async (t) => {
      const { body } = await login(a)
      const answers = await Promise.all(Array.from({ length: 10 }, async (_, index) =>
        await post(replicas[index % 3] as typeof a, '/token',
          { grant_type: 'refresh_token', refresh_token: body.refresh_token })))

      t.same(answers.map((answer) => answer.status), Array(10).fill(200),
        'inside the grace window every one is answered')
      t.equal(new Set(answers.map((answer) => answer.body.refresh_token)).size, 1,
        'all with the same successor')
      const store = c.tokenStore.refreshTokens
      const found = await store.findByHash(hashRefreshToken(body.refresh_token))
      const tokens = await store.tokensOf(found?.family.id ?? '')
      t.equal(tokens.filter((token) => token.consumed_at === null).length, 1, 'one live token')
    })

  t.test('a revocation on one is seen by introspection on another', async (t) => {
    const secret = await registerClient(a,
      { id: 'rs', grantTypes: ['client_credentials'], scopes: [] }) as string
    const { body } = await login(b)
    const before = await post(c, '/introspect', { token: body.access_token }, basic('rs', secret))
    t.equal(before.body.active, true)

    t.equal((await post(a, '/revoke', { token: body.access_token })).status, 200)
    const after = await post(c, '/introspect', { token: body.access_token }, basic('rs', secret))
    t.same(after.body, { active: false })
    await t.rejects(b.verifyAccessToken(body.access_token), { code: 'FTI_INVALID_TOKEN' },
      'and authenticate on the third refuses it too')
  })

  t.test('rate-limit counters are shared: one budget per address over all replicas',
    async (t) => {
      const remaining = []
      for (const replica of [a, b, c, a]) {
        remaining.push((await post(replica, '/revoke', { token: 'nothing' })).remaining)
      }
      const first = remaining[0] as number
      t.ok(first < 1000, `${first} left of 1000`)
      t.same(remaining, [first, first - 1, first - 2, first - 3], 'each request counts once')
    })

  t.test('lockout counts add up across replicas', async (t) => {
    for (const replica of [a, b, a, b]) {
      t.equal((await login(replica, 'wrong password')).body.error_description,
        'The username or password is incorrect')
    }
    t.equal((await login(c, 'wrong password')).body.error_description,
      'The username or password is incorrect', 'the fifth attempt is checked, and locks')
    const locked = await login(a)
    t.equal(locked.status, 400)
    t.match(locked.body.error_description, /Too many failed logins/,
      'five failures over three replicas lock the username on all of them')
  })
})
