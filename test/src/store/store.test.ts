import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import t from 'tap'
import { openStore } from '../../../src/store/index.js'
import {
  POSTGRES_QUERY_TIMEOUT_MS, isStoreUnavailable, migrate, openDatabase
} from '../../../src/store/database.js'
import { hashRefreshToken, startFamily } from '../../../src/refresh.js'
import {
  POSTGRES_TEST_URL, onEachEngine, postgresBehindProxy, postgresUnavailable, postgresUrlFor,
  skipWithout
} from '../../helper.js'

onEachEngine(t, 'migrations run once and are a no-op after', async (t, url) => {
  const db = await openDatabase(url)
  t.same(await migrate(db), [], 'already at the latest version')
  await db.destroy()

  const reopened = await openStore(url)
  t.teardown(() => reopened.close())
  t.equal(await reopened.users.count(), 0)
})

onEachEngine(t, 'replicas opening one new database at once migrate it once', async (t, url) => {
  const stores = await Promise.all([1, 2, 3].map(async () => await openStore(url)))
  t.teardown(async () => { await Promise.all(stores.map(async (store) => await store.close())) })

  await Promise.all(stores.map(async (store, index) => {
    t.ok(await store.users.create(`user-${index}`, 'hash'))
  }))
  t.equal(await stores[0]?.users.count(), 3, 'one schema, seen by all')
})

t.test('a new SQLite file is created with its directories', async (t) => {
  const store = await openStore(`sqlite:${join(t.testdir(), 'nested', 'deeper', 'tokens.db')}`)
  t.teardown(() => store.close())
  t.equal(await store.users.count(), 0)
})

onEachEngine(t, 'users: unique by username, updated in place, removed', async (t, url) => {
  const store = await openStore(url)
  t.teardown(() => store.close())

  const created = await store.users.create('alice', 'hash-1')
  t.match(created, { username: 'alice', passwordHash: 'hash-1', disabled: false, id: String })
  t.equal(await store.users.create('alice', 'hash-2'), undefined, 'a taken username')

  t.ok(await store.users.setPasswordHash('alice', 'hash-3'))
  t.ok(await store.users.setDisabled('alice', true))
  t.match(await store.users.find('alice'),
    { passwordHash: 'hash-3', disabled: true, id: created?.id })
  t.notOk(await store.users.setDisabled('nobody', true))
  t.equal(await store.users.count(), 1)

  t.ok(await store.users.remove('alice'))
  t.notOk(await store.users.remove('alice'))
  t.equal(await store.users.find('alice'), undefined)
})

onEachEngine(t, 'clients: unique by id, secret replaced, removed', async (t, url) => {
  const store = await openStore(url)
  t.teardown(() => store.close())
  const client = {
    id: 'billing',
    secretHash: 'h1',
    grantTypes: ['client_credentials'],
    scopes: ['a', 'b'],
    audience: null
  }

  t.ok(await store.clients.create(client))
  t.notOk(await store.clients.create(client), 'a taken id')
  t.ok(await store.clients.setSecretHash('billing', 'h2'))
  t.match(await store.clients.find('billing'), { secretHash: 'h2', scopes: ['a', 'b'] })
  t.same((await store.clients.list()).map((row) => row.id), ['billing'])
  t.ok(await store.clients.remove('billing'))
  t.equal(await store.clients.find('billing'), undefined)
})

onEachEngine(t, 'refresh rotation is one conditional update: one winner among racers',
  async (t, url) => {
    const store = await openStore(url)
    t.teardown(() => store.close())
    const policy = { ttl: 60, familyTtl: 3600, gracePeriod: 5 }
    const start = { subject: 's', userId: null, clientId: null, scope: null, claims: {} }
    const token = await startFamily(store.refreshTokens, policy, start)
    const found = await store.refreshTokens.findByHash(hashRefreshToken(token))
    const { family, token: parent } = found ?? t.fail('no token') as never

    const now = new Date().toISOString()
    const wins = await Promise.all(Array.from({ length: 10 }, async (_, index) =>
      await store.refreshTokens.rotate(family.id, parent.id, {
        id: `successor-${index}`,
        tokenHash: `hash-${index}`,
        parentId: parent.id,
        createdAt: now,
        expiresAt: now
      }, 'sealed')))

    t.equal(wins.filter(Boolean).length, 1, 'exactly one rotation succeeds')
    const tokens = await store.refreshTokens.tokensOf(family.id)
    t.equal(tokens.length, 2, 'the parent and one successor')
  })

onEachEngine(t, 'purging deletes expired families with their tokens, and expired deny-list entries',
  async (t, url) => {
    const store = await openStore(url)
    t.teardown(() => store.close())
    const policy = { ttl: 60, familyTtl: 3600, gracePeriod: 5 }
    const start = { subject: 's', userId: null, clientId: null, scope: null, claims: {} }
    const twoHoursAgo = new Date(Date.now() - 7200_000)
    const old = await startFamily(store.refreshTokens, policy, start, twoHoursAgo)
    const fresh = await startFamily(store.refreshTokens, policy, start)
    await store.revokedTokens.add('gone', new Date(Date.now() - 1000))
    await store.revokedTokens.add('kept', new Date(Date.now() + 60_000))

    t.same(await store.purgeExpired(), { families: 1, revokedTokens: 1 })
    t.equal(await store.refreshTokens.findByHash(hashRefreshToken(old)), undefined)
    t.ok(await store.refreshTokens.findByHash(hashRefreshToken(fresh)))
    t.notOk(await store.revokedTokens.has('gone'))
    t.ok(await store.revokedTokens.has('kept'))
  })

t.test('a DATABASE_URL of another kind is refused, naming the variable', async (t) => {
  await t.rejects(openStore('mysql://localhost/test'),
    { code: 'FTI_CONFIG', message: /DATABASE_URL must start with sqlite: .* or postgres:\/\// })
  await t.rejects(openStore('sqlite:'), { code: 'FTI_CONFIG', message: /DATABASE_URL/ })
  const badEscape = await openStore('postgres://app:hunter%ZZ@127.0.0.1/test').catch((e) => e)
  t.match(badEscape, {
    code: 'FTI_CONFIG',
    message: /^DATABASE_URL has a user name or password with a bad percent-escape/
  })
  t.notMatch(badEscape.message, /hunter/, 'without the password')
  await t.rejects(openStore(`${POSTGRES_TEST_URL}?schema=Robert'); drop table users`),
    { code: 'FTI_CONFIG', message: /DATABASE_URL schema must be/ })
})

t.test('an unreachable PostgreSQL stops the start naming DATABASE_URL, without its password',
  async (t) => {
    // Port 1 on loopback refuses at once.
    const error = await openStore('postgres://tokens:s3cr3t-pw@127.0.0.1:1/tokens')
      .then(() => undefined, (error: Error & { code?: string }) => error)
    t.match(error, { code: 'FTI_CONFIG', message: /DATABASE_URL: ECONNREFUSED/ })
    t.notMatch(error?.message, /s3cr3t-pw/, 'the password is not repeated')
    t.match(error?.message, /postgres:\/\/tokens:\*\*\*@127\.0\.0\.1:1\/tokens/)

    const query = await openStore('postgres://tokens@127.0.0.1:1/tokens?password=s3cr3t-pw')
      .then(() => undefined, (error: Error) => error)
    t.notMatch(query?.message, /s3cr3t-pw/, 'nor one given as ?password=')
    t.match(query?.message, /password=\*\*\*/)
  })

t.test('store failures that a retry may cure are told apart from the rest', async (t) => {
  for (const code of ['SQLITE_BUSY', 'ECONNREFUSED', '57P01', '08006', '40001']) {
    t.ok(isStoreUnavailable({ code }), code)
  }
  t.ok(isStoreUnavailable({ message: 'Connection terminated unexpectedly' }))
  t.ok(isStoreUnavailable({
    message: 'Client has encountered a connection error and is not queryable'
  }), 'a pooled connection that already broke')
  for (const code of ['23505', 'SQLITE_CONSTRAINT', undefined]) {
    t.notOk(isStoreUnavailable({ code }), String(code))
  }
})

t.test('two issuers keep apart in two schemas of one PostgreSQL database', async (t) => {
  const reason = await postgresUnavailable()
  if (reason !== undefined) return skipWithout(t, reason)
  const [first, second] = [await openStore(postgresUrlFor(t)), await openStore(postgresUrlFor(t))]
  t.teardown(async () => { await first.close(); await second.close() })

  await first.users.create('only-in-first', 'hash')
  t.equal(await second.users.find('only-in-first'), undefined, 'each has tables of its own')
  t.equal(await second.users.count(), 0)
})

t.test('the PostgreSQL schema of a URL is created when missing', async (t) => {
  const reason = await postgresUnavailable()
  if (reason !== undefined) return skipWithout(t, reason)
  const url = postgresUrlFor(t)

  const store = await openStore(url)
  t.teardown(() => store.close())
  await store.users.create('in-schema', 'hash')
  const other = await openStore(url)
  t.teardown(() => other.close())
  t.ok(await other.users.find('in-schema'), 'a second connection finds the same tables')
})

t.test('PostgreSQL going away mid-query fails the query, never the process, and comes back',
  async (t) => {
    const reason = await postgresUnavailable()
    if (reason !== undefined) return skipWithout(t, reason)
    const { proxy, databaseUrl: url } = await postgresBehindProxy(t)
    const db = await openDatabase(url)
    t.teardown(() => db.destroy())
    const store = await openStore(url)
    t.teardown(() => store.close())
    t.equal(await store.users.count(), 0)

    // Connections reset while queries run on them (a failover, a restart).
    const running = Promise.all([1, 2, 3].map(async () =>
      await sql`select pg_sleep(0.3)`.execute(db).then(() => 'done', (error) => error)))
    await sleep(100)
    proxy.cut()
    const failures = await running
    t.ok(failures.every((failure) => failure !== 'done' && isStoreUnavailable(failure)),
      'each query fails with an error that answers 503')
    await t.rejects(store.users.count(), 'refused while the server is away')

    proxy.restore()
    t.equal(await store.users.count(), 0, 'and works again once it is back')

    // A server that stops answering on open connections (a partition, a frozen host).
    proxy.freeze()
    const started = Date.now()
    const frozen = await store.users.count().then(() => undefined, (error: Error) => error)
    t.ok(frozen !== undefined && isStoreUnavailable(frozen), String(frozen?.message))
    t.ok(Date.now() - started < POSTGRES_QUERY_TIMEOUT_MS + 1500, 'within the query timeout')
    proxy.restore()
  })

onEachEngine(t, 'a purge works through a backlog larger than a batch', async (t, url) => {
  const store = await openStore(url)
  t.teardown(() => store.close())
  const policy = { ttl: 60, familyTtl: 3600, gracePeriod: 5 }
  const start = { subject: 's', userId: null, clientId: null, scope: null, claims: {} }
  const longAgo = new Date(Date.now() - 7200_000)
  for (let i = 0; i < 1200; i++) {
    await startFamily(store.refreshTokens, policy, start, longAgo)
    await store.revokedTokens.add(`gone-${i}`, longAgo)
  }
  await startFamily(store.refreshTokens, policy, start)

  t.same(await store.purgeExpired(), { families: 1200, revokedTokens: 1200 })
  t.same(await store.purgeExpired(), { families: 0, revokedTokens: 0 }, 'nothing left to purge')
})
