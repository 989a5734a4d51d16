import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { SharedDenyList } from '../../src/deny-list.js'
import { SharedLockout } from '../../src/lockout.js'
import { SharedRedis } from '../../src/redis.js'
import { openStore } from '../../src/store/index.js'
import {
  PASSWORD, REDIS_TEST_URL, USERNAME, build, login, ownRedisServer, post, redisPrefixFor,
  redisUnavailable, registerClient, basic, skipWithout, freePort
} from '../helper.js'

const quiet = { info: () => {}, warn: () => {} }
const POLICY = { threshold: 5, duration: 30, maxDuration: 900 }

/** A connection as a replica has it, up before the test goes on. */
async function replicaRedis (t: Test, url: string, prefix: string): Promise<SharedRedis> {
  const redis = await SharedRedis.create(url, prefix, quiet)
  t.teardown(async () => { await redis.close() })
  const up = new Promise((resolve) => redis.once('up', resolve))
  redis.connect()
  await up
  return redis
}

async function until (condition: () => boolean | Promise<boolean>, what: string) {
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (await condition()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting until ${what}`)
}

t.test('with Redis', async (t) => {
  const reason = await redisUnavailable()
  if (reason !== undefined) return skipWithout(t, reason)

  t.test('lockout failures add up across replicas, and a success resets them', async (t) => {
    const prefix = redisPrefixFor(t)
    const [a, b] = [
      new SharedLockout(POLICY, await replicaRedis(t, REDIS_TEST_URL, prefix)),
      new SharedLockout(POLICY, await replicaRedis(t, REDIS_TEST_URL, prefix))
    ] as const

    const fail = async (lockout: SharedLockout) => {
      const attempt = await lockout.attempt('alice')
      return attempt.refused ? attempt : await attempt.settle('failure')
    }
    for (const lockout of [a, b, a, b]) t.equal(await fail(lockout), 0)
    t.equal(await fail(b), 30, 'the fifth failure, wherever it happens, locks')
    t.match(await a.attempt('alice'), { refused: true, retryAfter: 30, busy: false },
      'on every replica')

    const other = await b.attempt('bob')
    t.equal(other.refused, false, 'per username')
    if (!other.refused) await other.settle('success')
  })

  t.test('attempts under way count against the threshold on every replica; only failures lock',
    async (t) => {
      const prefix = redisPrefixFor(t)
      const [a, b] = [
        new SharedLockout(POLICY, await replicaRedis(t, REDIS_TEST_URL, prefix)),
        new SharedLockout(POLICY, await replicaRedis(t, REDIS_TEST_URL, prefix))
      ] as const
      const under = await Promise.all([a, b, a, b, a].map(async (lockout) =>
        await lockout.attempt('carol')))
      t.ok(under.every((attempt) => !attempt.refused), 'five may be checked at once')
      t.match(await b.attempt('carol'), { refused: true, busy: true, retryAfter: 1 },
        'a sixth waits for one of them')

      for (const attempt of under) if (!attempt.refused) await attempt.settle('success')
      const after = await a.attempt('carol')
      t.equal(after.refused, false, 'right passwords lock nobody')
      if (!after.refused) t.equal(await after.settle('error'), 0, 'nor do unanswered attempts')
    })

  t.test('a revocation on one replica is seen by another; entries expire with their tokens',
    async (t) => {
      const prefix = redisPrefixFor(t)
      const url = `sqlite:${t.testdir()}/tokens.db`
      const store = await openStore(url)
      t.teardown(() => store.close())
      const replica = async () => new SharedDenyList(store.revokedTokens,
        await replicaRedis(t, REDIS_TEST_URL, prefix))
      const [a, b] = [await replica(), await replica()]
      t.teardown(() => { a.close(); b.close() })
      await until(() => a.synced && b.synced, 'both have copied the store')

      await a.add('jti-1', new Date(Date.now() + 60_000))
      await a.add('jti-short', new Date(Date.now() + 300))
      t.ok(await b.has('jti-1'))
      t.notOk(await b.has('jti-2'))

      const raw = new Redis(REDIS_TEST_URL)
      t.teardown(() => { raw.disconnect() })
      t.ok(await raw.exists(`${prefix}revoked:jti-1`), 'kept under the prefix, in Redis')
      await sleep(400)
      t.equal(await raw.exists(`${prefix}revoked:jti-short`), 0, 'gone when its token expired')
    })
})

t.test('when Redis goes away, tokens are still issued; when it returns, it is used again',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    const logs: Array<Record<string, unknown>> = []
    const env = { REDIS_URL: redis.url, LOCKOUT_THRESHOLD: '3', LOCKOUT_DURATION: '1m' }
    const fastify = await build(t, { logs, env })
    const ready = async () => (await fastify.inject('/health/ready')).json()
    const healthy = { status: 'ready', checks: { store: true, signingKey: true, redis: true } }
    t.same(await ready(), healthy)
    const secret = await registerClient(fastify,
      { id: 'rs', grantTypes: ['client_credentials'], scopes: [] }) as string
    const introspect = async (token: string) =>
      (await post(fastify, '/introspect', { token }, basic('rs', secret))).json().active
    const revoked = (await login(fastify)).json().access_token
    await post(fastify, '/revoke', { token: revoked })

    await redis.stop()
    await until(async () => (await ready()).status === 'degraded', 'readiness shows the outage')
    const during = await fastify.inject('/health/ready')
    t.equal(during.statusCode, 200, 'degraded, still in service')
    t.same(during.json().checks, { store: true, signingKey: true, redis: false })
    t.equal((await login(fastify)).statusCode, 200, 'logins go on')
    t.equal(await introspect(revoked), false, 'the deny list is read from the store')
    for (let attempt = 0; attempt < 3; attempt++) {
      await login(fastify, 'mallory', 'wrong password')
    }
    t.equal((await login(fastify, 'mallory', 'wrong password')).json().error_description,
      'Too many failed logins for this username; try again later',
      'lockout counts in the process meanwhile')
    t.ok(logs.some((line) => line.msg === 'redis unavailable: falling back to this process and ' +
      'the store'), 'the outage is logged')

    await redis.start()
    await until(async () => (await ready()).status === 'ready', 'Redis is used again')
    const raw = new Redis(redis.url)
    t.teardown(() => { raw.disconnect() })
    const claims = fastify.jwt.decode<{ jti: string }>(revoked)
    t.equal(await raw.exists(`token-issuer:revoked:${claims?.jti}`), 1,
      'the restarted, empty Redis got the deny list back from the store')
    t.equal(await introspect(revoked), false)
    t.equal((await login(fastify, USERNAME, PASSWORD)).statusCode, 200)
  })

t.test('a Redis that stops answering is noticed, and used again once it answers', async (t) => {
  const redis = await ownRedisServer(t)
  if (typeof redis === 'string') return skipWithout(t, redis)
  const fastify = await build(t, { env: { REDIS_URL: redis.url } })
  const status = async () => (await fastify.inject('/health/ready')).json().status

  redis.pause()
  await until(async () => await status() === 'degraded', 'the heartbeat notices the stall')
  const started = Date.now()
  t.equal((await login(fastify)).statusCode, 200)
  t.ok(Date.now() - started < 400, 'logins no longer wait on the stalled Redis')

  redis.resume()
  await until(async () => await status() === 'ready', 'Redis answers again')
})

t.test('a lock holds through a Redis outage and an emptied Redis', async (t) => {
  const redis = await ownRedisServer(t)
  if (typeof redis === 'string') return skipWithout(t, redis)
  const env = { REDIS_URL: redis.url, LOCKOUT_THRESHOLD: '3', LOCKOUT_DURATION: '1m' }
  const fastify = await build(t, { env })
  const lockedOut = async () => /Too many failed logins/
    .test((await login(fastify)).json().error_description ?? '')

  for (let attempt = 0; attempt < 3; attempt++) await login(fastify, USERNAME, 'wrong password')
  t.ok(await lockedOut(), 'locked in Redis')

  await redis.stop()
  await until(async () => (await fastify.inject('/health/ready')).json().status === 'degraded',
    'the outage is seen')
  t.ok(await lockedOut(), 'still locked while Redis is away')

  await redis.start()
  await until(async () => (await fastify.inject('/health/ready')).json().status === 'ready',
    'Redis is back, empty')
  t.ok(await lockedOut(), 'and still locked after it came back without the lock')
})

t.test('failures Redis could not hear, admitted before it stalled, still count here',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 },
      await replicaRedis(t, redis.url, redisPrefixFor(t)))
    const admitted = [await lockout.attempt('dave'), await lockout.attempt('dave')]
    t.ok(admitted.every((attempt) => !attempt.refused), 'both admitted by Redis')

    redis.pause()
    t.teardown(() => { redis.resume() })
    const locks = []
    for (const attempt of admitted) {
      if (!attempt.refused) locks.push(await attempt.settle('failure'))
    }
    t.same(locks, [0, 30], 'the second failure locks, counted in this process')
    t.match(await lockout.attempt('dave'), { refused: true, busy: false, retryAfter: 30 },
      'and the lock holds while Redis is away')
  })

t.test('when Redis stalls, this process goes on from the failures Redis had counted',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 },
      await replicaRedis(t, redis.url, redisPrefixFor(t)))
    const first = await lockout.attempt('erin')
    t.equal(first.refused ? -1 : await first.settle('failure'), 0, 'one failure, in Redis')

    redis.pause()
    t.teardown(() => { redis.resume() })
    const second = await lockout.attempt('erin')
    t.equal(second.refused, false, 'admitted by this process once Redis does not answer')
    t.equal(second.refused ? -1 : await second.settle('failure'), 30,
      'and its failure is the second: it locks')
  })

t.test('when Redis stalls, attempts it admitted still count here as under way', async (t) => {
  const redis = await ownRedisServer(t)
  if (typeof redis === 'string') return skipWithout(t, redis)
  const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 },
    await replicaRedis(t, redis.url, redisPrefixFor(t)))
  const running = [await lockout.attempt('fred'), await lockout.attempt('fred')]
  t.ok(running.every((attempt) => !attempt.refused), 'two admitted by Redis')

  redis.pause()
  t.teardown(() => { redis.resume() })
  t.match(await lockout.attempt('fred'), { refused: true, busy: true },
    'a third waits, though Redis cannot say so')
})

t.test('an attempt a stalled Redis admits after its caller gave up is removed when it is back',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    const prefix = redisPrefixFor(t)
    const shared = await replicaRedis(t, redis.url, prefix)
    const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 }, shared)
    const first = await lockout.attempt('gail')
    if (!first.refused) await first.settle('failure')

    redis.pause()
    const meanwhile = await lockout.attempt('gail')
    t.equal(meanwhile.refused, false, 'admitted here while Redis does not answer')
    if (!meanwhile.refused) await meanwhile.settle('error')
    redis.resume()
    await until(() => shared.up, 'Redis is back')

    const raw = new Redis(redis.url, { keyPrefix: prefix })
    t.teardown(() => { raw.disconnect() })
    await until(async () => await raw.zcard('lockout:under-way:gail') === 0,
      'the attempt Redis ran late is removed')
    const after = await lockout.attempt('gail')
    t.equal(after.refused, false, 'so the username is not busy for the next 30 s')
    if (!after.refused) await after.settle('success')
  })

t.test('a lock set here while Redis was away holds once Redis is back', async (t) => {
  const redis = await ownRedisServer(t)
  if (typeof redis === 'string') return skipWithout(t, redis)
  const shared = await replicaRedis(t, redis.url, redisPrefixFor(t))
  const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 }, shared)

  redis.pause()
  for (const expected of [0, 30]) {
    const attempt = await lockout.attempt('hank')
    t.equal(attempt.refused ? -1 : await attempt.settle('failure'), expected)
  }
  redis.resume()
  await until(() => shared.up, 'Redis is back')
  t.match(await lockout.attempt('hank'), { refused: true, busy: false, retryAfter: 30 },
    'Redis never heard of it, and the lock holds')
})

t.test('a burst during a stall: attempts settling against the stalled Redis still count',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 },
      await replicaRedis(t, redis.url, redisPrefixFor(t)))
    const running = [await lockout.attempt('ivy'), await lockout.attempt('ivy')]
    redis.pause()
    t.teardown(() => { redis.resume() })
    // A third arrives, then both settle against the stalled Redis: its admit times out first,
    // while theirs are still waiting.
    const third = lockout.attempt('ivy')
    const settling = running.map(async (attempt) =>
      attempt.refused ? -1 : await attempt.settle('failure'))
    t.match(await third, { refused: true, busy: true }, 'no third check while two are settling')
    t.same((await Promise.all(settling)).sort(), [0, 30], 'and their two failures lock')
  })

t.test('failures checked here while Redis stalled reach Redis once it answers', async (t) => {
  const redis = await ownRedisServer(t)
  if (typeof redis === 'string') return skipWithout(t, redis)
  const shared = await replicaRedis(t, redis.url, redisPrefixFor(t))
  const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 }, shared)

  redis.pause()
  const stalled = await lockout.attempt('jack')
  t.equal(stalled.refused ? -1 : await stalled.settle('failure'), 0, 'one failure, here only')
  redis.resume()
  await until(() => shared.up, 'Redis is back')

  const next = await lockout.attempt('jack')
  t.equal(next.refused ? -1 : await next.settle('failure'), 30,
    'the next failure is the second in Redis too: it locks')
})

t.test('a right password accepted while Redis stalled clears the count in Redis too',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    const shared = await replicaRedis(t, redis.url, redisPrefixFor(t))
    const lockout = new SharedLockout({ threshold: 2, duration: 30, maxDuration: 900 }, shared)
    const first = await lockout.attempt('kate')
    t.equal(first.refused ? -1 : await first.settle('failure'), 0, 'one failure in Redis')

    redis.pause()
    const right = await lockout.attempt('kate')
    t.equal(right.refused ? -1 : await right.settle('success'), 0, 'a success, here only')
    redis.resume()
    await until(() => shared.up, 'Redis is back')

    const next = await lockout.attempt('kate')
    t.equal(next.refused ? -1 : await next.settle('failure'), 0,
      'the next failure is the first again, not the second')
  })

t.test('a failure whose settling timed out is not counted twice once Redis runs it',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    const shared = await replicaRedis(t, redis.url, redisPrefixFor(t))
    const lockout = new SharedLockout({ threshold: 3, duration: 30, maxDuration: 900 }, shared)
    const first = await lockout.attempt('liam')
    redis.pause()
    t.equal(first.refused ? -1 : await first.settle('failure'), 0, 'settled here, timed out there')
    redis.resume()
    await until(() => shared.up, 'Redis is back')

    const second = await lockout.attempt('liam')
    t.equal(second.refused ? -1 : await second.settle('failure'), 0,
      'two failures, below the threshold of three: no lock')
  })

t.test('a REDIS_URL whose database that Redis lacks stops the start, naming the variable',
  async (t) => {
    const redis = await ownRedisServer(t)
    if (typeof redis === 'string') return skipWithout(t, redis)
    await t.rejects(build(t, { env: { REDIS_URL: `${redis.url}/99` } }),
      { code: 'FTI_CONFIG', message: /^REDIS_URL names a database this Redis does not have/ })
  })

t.test('REDIS_URL credentials that Redis refuses stop the start, naming the variable',
  async (t) => {
    const redis = await ownRedisServer(t, ['--requirepass', 'right-pass-phrase'])
    if (typeof redis === 'string') return skipWithout(t, redis)
    const port = new URL(redis.url).port
    for (const [url, reason] of [
      [`redis://127.0.0.1:${port}`, 'NOAUTH'],
      [`redis://:wrong-pass-phrase@127.0.0.1:${port}`, 'WRONGPASS'],
      [`redis://nobody:wrong-pass-phrase@127.0.0.1:${port}`, 'WRONGPASS']
    ] as const) {
      const logs: Array<Record<string, unknown>> = []
      const error = await build(t, { env: { REDIS_URL: url }, logs }).then(() => undefined,
        (error: Error) => error)
      t.notOk(logs.some((line) => /redis unavailable/.test(String(line.msg))),
        'no word of falling back: the start stops')
      t.match(error, {
        code: 'FTI_CONFIG',
        message: new RegExp('^REDIS_URL has credentials ' +
        `this Redis refuses \\(${reason}\\)`)
      }, url)
      t.notMatch(error?.message, /wrong-pass-phrase/, 'without the password')
    }
    const right = `redis://:right-pass-phrase@127.0.0.1:${port}`
    const fastify = await build(t, { env: { REDIS_URL: right } })
    t.equal((await fastify.inject('/health/ready')).json().status, 'ready', 'the right one works')
  })

t.test('credentials refused by a Redis that comes up after the service are logged',
  async (t) => {
    const redis = await ownRedisServer(t, ['--requirepass', 'right-pass-phrase'])
    if (typeof redis === 'string') return skipWithout(t, redis)
    await redis.stop()
    const logs: Array<Record<string, unknown>> = []
    const fastify = await build(t, { env: { REDIS_URL: redis.url }, logs })
    t.equal((await fastify.inject('/health/ready')).json().status, 'degraded')

    await redis.start()
    const refused = () => logs.filter((line) => line.msg === 'redis refuses this configuration')
    for (let waited = 0; refused().length === 0 && waited < 5000; waited += 100) await sleep(100)
    t.match(refused(), [{ reason: /^REDIS_URL has credentials this Redis refuses \(NOAUTH\)/ }],
      'said once, with the reason')
    await sleep(1000)
    t.equal(refused().length, 1, 'not at every reconnection')
    t.equal((await fastify.inject('/health/ready')).json().status, 'degraded', 'still without it')
  })

t.test('the logs name the Redis without its credentials, however they were typed', async (t) => {
  const port = await freePort()
  for (const url of [`redis://hunter2@127.0.0.1:${port}`,
    `redis://app:hunter2@127.0.0.1:${port}/1`]) {
    const logs: Array<Record<string, unknown>> = []
    const fastify = await build(t, { env: { REDIS_URL: url }, logs })
    t.equal((await fastify.inject('/health/ready')).json().status, 'degraded', 'nobody listens')
    const warning = logs.find((line) => line.msg === 'redis unavailable: falling back to this ' +
      'process and the store')
    t.match(warning?.redis, /^redis:\/\/\*\*\*(:\*\*\*)?@127\.0\.0\.1:\d+/, url)
    t.notMatch(JSON.stringify(logs), /hunter2/, 'the secret is in no line')
    await fastify.close()
  }
})
