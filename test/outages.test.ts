import t from 'tap'
import {
  build, login, postgresBehindProxy, postgresUnavailable, skipWithout
} from './helper.js'

t.test('with PostgreSQL away every route answers 503 in the error shape, then recovers',
  async (t) => {
    const reason = await postgresUnavailable()
    if (reason !== undefined) return skipWithout(t, reason)
    const { proxy, databaseUrl } = await postgresBehindProxy(t)
    const fastify = await build(t, { databaseUrl })
    t.equal((await login(fastify)).statusCode, 200)

    proxy.cut()
    for (const [name, request] of [
      ['the token endpoint', () => login(fastify)],
      ['the metadata', () => fastify.inject('/.well-known/oauth-authorization-server')],
      ['readiness', () => fastify.inject('/health/ready')]
    ] as const) {
      const response = await request()
      t.equal(response.statusCode, 503, name)
      t.notMatch(response.body, /ECONNRESET|ECONNREFUSED|stack|pg\//, `${name}: nothing internal`)
    }
    const metadata = await fastify.inject('/.well-known/oauth-authorization-server')
    t.same(metadata.json(), {
      error: 'temporarily_unavailable',
      error_description: 'The store is unavailable; try again shortly'
    })
    t.equal(metadata.headers['retry-after'], '1')
    t.equal((await fastify.inject('/.well-known/jwks.json')).statusCode, 200,
      'the key set needs no store')

    for (let attempt = 0; attempt < 6; attempt++) {
      t.equal((await login(fastify)).statusCode, 503, 'a login the store cannot answer')
    }

    proxy.restore()
    t.equal((await login(fastify)).statusCode, 200,
      'back once PostgreSQL is, and the unanswered logins did not lock the username')
    t.equal((await fastify.inject('/health/ready')).statusCode, 200)
  })

t.test('a PostgreSQL that accepts connections and never answers stops the start, naming ' +
  'DATABASE_URL', async (t) => {
  const reason = await postgresUnavailable()
  if (reason !== undefined) return skipWithout(t, reason)
  const { proxy, databaseUrl } = await postgresBehindProxy(t)
  proxy.freeze()
  const started = Date.now()
  await t.rejects(build(t, { databaseUrl }), {
    code: 'FTI_CONFIG',
    message: /^cannot use the PostgreSQL database .* named by DATABASE_URL: Connection terminated/
  })
  t.ok(Date.now() - started < 15_000, 'within a connection timeout or two')
})

t.test('an outage is logged once per 10 s, not once per request', async (t) => {
  const reason = await postgresUnavailable()
  if (reason !== undefined) return skipWithout(t, reason)
  const { proxy, databaseUrl } = await postgresBehindProxy(t)
  const logs: Array<Record<string, unknown>> = []
  const fastify = await build(t, { databaseUrl, logs })

  proxy.cut()
  for (let request = 0; request < 20; request++) {
    t.equal((await fastify.inject('/.well-known/oauth-authorization-server')).statusCode, 503)
    await fastify.inject('/health/ready')
  }
  const errors = logs.filter((line) => line.level === 50)
  t.equal(errors.length, 1, 'one line for forty failed requests')
  t.match(errors[0], { msg: /^store (unavailable|unreachable)$/, err: { message: String } })
  proxy.restore()
})
