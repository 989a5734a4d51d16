import t from 'tap'
import { PASSWORD, USERNAME, basic, build, login, post, registerClient } from '../helper.js'

type App = Awaited<ReturnType<typeof build>>

async function metrics (fastify: App): Promise<string> {
  const response = await fastify.inject('/metrics')
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  return response.body
}

/** The value of one sample, such as `name{label="x"}`, or undefined when it is absent. */
function sample (text: string, name: string): number | undefined {
  const line = text.split('\n').find((row) => row.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

t.test('/metrics counts tokens by grant, errors by code, reuse, lockouts and hashing',
  async (t) => {
    const fastify = await build(t, {
      env: { REFRESH_GRACE_PERIOD: '0', LOCKOUT_THRESHOLD: '2', LOCKOUT_DURATION: '1m' }
    })
    const secret = await registerClient(fastify,
      { id: 'svc', grantTypes: ['client_credentials'], scopes: [] }) as string

    const refreshToken = (await login(fastify)).json().refresh_token
    await post(fastify, '/token', { grant_type: 'client_credentials' }, basic('svc', secret))
    await post(fastify, '/token', { grant_type: 'refresh_token', refresh_token: refreshToken })
    await post(fastify, '/token', { grant_type: 'refresh_token', refresh_token: refreshToken })
    await login(fastify, 'mallory', 'wrong')
    await login(fastify, 'mallory', 'wrong')
    await login(fastify, 'mallory', 'wrong')
    await post(fastify, '/token', { grant_type: 'urn:example:unknown' })

    const text = await metrics(fastify)
    t.equal(sample(text, 'token_issuer_tokens_issued_total{grant="password"}'), 1)
    t.equal(sample(text, 'token_issuer_tokens_issued_total{grant="client_credentials"}'), 1)
    t.equal(sample(text, 'token_issuer_tokens_issued_total{grant="refresh_token"}'), 1)
    t.equal(sample(text,
      'token_issuer_oauth_errors_total{endpoint="/token",error="invalid_grant"}'), 4,
    'a reused refresh token, two wrong passwords and one locked')
    t.equal(sample(text,
      'token_issuer_oauth_errors_total{endpoint="/token",error="unsupported_grant_type"}'), 1)
    t.equal(sample(text, 'token_issuer_refresh_reuse_total'), 1)
    t.equal(sample(text, 'token_issuer_lockouts_total'), 1)
    t.equal(sample(text, 'token_issuer_password_verify_seconds_count'), 3,
      'one login and two wrong passwords were hashed; the locked attempt was not')
    t.ok((sample(text, 'token_issuer_signing_key_age_seconds') ?? -1) >= 0, 'the key age')
    t.ok((sample(text, 'token_issuer_http_request_duration_seconds_count' +
      '{method="POST",route="/token",status_code="200"}') ?? 0) >= 3, 'latency by route')
    t.match(text, /^process_resident_memory_bytes \d+/m, 'and the process itself')
    t.notMatch(text, /token_issuer_redis_up/, 'no Redis gauge without a Redis')
    t.notMatch(text, new RegExp(`${USERNAME}|${PASSWORD}|mallory`), 'no user in any label')
  })

t.test('two issuers in one process count apart', async (t) => {
  const first = await build(t)
  const second = await build(t)
  await login(first)
  t.equal(sample(await metrics(first), 'token_issuer_tokens_issued_total{grant="password"}'), 1)
  t.equal(sample(await metrics(second), 'token_issuer_tokens_issued_total{grant="password"}'),
    undefined)
})

t.test('METRICS_ENABLED=false serves no /metrics', async (t) => {
  const fastify = await build(t, { env: { METRICS_ENABLED: 'false' } })
  t.equal((await fastify.inject('/metrics')).statusCode, 404)
})
