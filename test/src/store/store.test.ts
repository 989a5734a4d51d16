import { join } from 'node:path'
import t from 'tap'
import { openStore } from '../../../src/store/index.js'
import { migrate, openDatabase } from '../../../src/store/database.js'
import { hashRefreshToken, startFamily } from '../../../src/refresh.js'

t.test('migrations run once on a new SQLite file and are a no-op after', async (t) => {
  const url = `sqlite:${join(t.testdir(), 'nested', 'tokens.db')}`

  const db = await openDatabase(url)
  t.same(await migrate(db), [], 'already at the latest version')
  await db.destroy()

  const reopened = await openStore(url)
  t.teardown(() => reopened.close())
  t.equal(await reopened.users.count(), 0)
})

t.test('users: unique by username, updated in place, removed', async (t) => {
  const store = await openStore(`sqlite:${join(t.testdir(), 'tokens.db')}`)
  t.teardown(() => store.close())

  const created = await store.users.create('alice', 'hash-1')
  t.match(created, { username: 'alice', passwordHash: 'hash-1', disabled: false, id: String })
  t.equal(await store.users.create('alice', 'hash-2'), undefined, 'a taken username')

  t.ok(await store.users.setPasswordHash('alice', 'hash-3'))
  t.ok(await store.users.setDisabled('alice', true))
  t.match(await store.users.find('alice'),
    { passwordHash: 'hash-3', disabled: true, id: created?.id })
  t.notOk(await store.users.setDisabled('nobody', true))

  t.ok(await store.users.remove('alice'))
  t.notOk(await store.users.remove('alice'))
  t.equal(await store.users.find('alice'), undefined)
})

t.test('a URL that is not sqlite: is refused, naming DATABASE_URL', async (t) => {
  await t.rejects(openStore('postgres://localhost/test'),
    { code: 'FTI_CONFIG', message: /DATABASE_URL/ })
  await t.rejects(openStore('sqlite:'), { code: 'FTI_CONFIG', message: /DATABASE_URL/ })
})

t.test('purging deletes expired families with their tokens, and expired deny-list entries',
  async (t) => {
    const store = await openStore(`sqlite:${join(t.testdir(), 'tokens.db')}`)
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
