import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import Fastify from 'fastify'
import t from 'tap'
import { INITIAL_PASSWORD_FILE, bootstrapFirstUser } from '../../src/bootstrap.js'
import { openStore } from '../../src/store/index.js'
import { build, login } from '../helper.js'

t.test(
  'a fresh store without bootstrap variables gets admin, its password in an owner-only file',
  async (t) => {
    const dataDir = t.testdir()
    const logs: Array<Record<string, unknown>> = []
    const fastify = await build(t, {
      dataDir, logs, env: { BOOTSTRAP_USERNAME: '', BOOTSTRAP_PASSWORD: '' }
    })

    const file = join(dataDir, INITIAL_PASSWORD_FILE)
    t.equal(statSync(file).mode & 0o777, 0o600)
    t.equal(statSync(join(dataDir, 'token-issuer.db')).mode & 0o777, 0o600, 'the database too')
    const password = readFileSync(file, 'utf8').trim()
    t.ok(password.length >= 20)

    t.equal((await login(fastify, 'admin', password)).statusCode, 200)
    const line = logs.find((entry) => entry.passwordFile === file)
    t.ok(line, 'the log says where the password is')
    t.notMatch(JSON.stringify(logs), password, 'and never the password itself')
  }
)

t.test(
  'BOOTSTRAP_USERNAME and BOOTSTRAP_PASSWORD create that user instead, and no file',
  async (t) => {
    const dataDir = t.testdir()
    const fastify = await build(t, { dataDir })

    t.same((await fastify.tokenStore.users.list()).map((user) => user.username), ['user-1'])
    t.throws(() => statSync(join(dataDir, INITIAL_PASSWORD_FILE)), { code: 'ENOENT' })
  }
)

t.test('a store that has users is left alone on the next start', async (t) => {
  const dataDir = t.testdir()
  await (await build(t, { dataDir })).close()

  const again = await build(t, {
    dataDir, env: { BOOTSTRAP_USERNAME: 'other', BOOTSTRAP_PASSWORD: 'another password' }
  })
  t.same((await again.tokenStore.users.list()).map((user) => user.username), ['user-1'])
})

t.test('replicas starting together on one store and one DATA_DIR keep the winner\'s password',
  async (t) => {
    const dataDir = t.testdir()
    const store = await openStore(`sqlite:${join(dataDir, 'token-issuer.db')}`)
    const log = Fastify({ logger: false }).log
    await Promise.all([1, 2, 3].map(async () =>
      await bootstrapFirstUser({ users: store.users, dataDir, log })))
    await store.close()
    t.same(readdirSync(dataDir).filter((name) => name.includes(INITIAL_PASSWORD_FILE)),
      [INITIAL_PASSWORD_FILE], 'one password file, nothing left pending')

    const password = readFileSync(join(dataDir, INITIAL_PASSWORD_FILE), 'utf8').trim()
    const fastify = await build(t, { dataDir })
    t.equal((await login(fastify, 'admin', password)).statusCode, 200, 'and it is admin\'s')
  })

t.test('an admin that cannot be stored stops the start, leaving no password file', async (t) => {
  const dataDir = t.testdir()
  const database = join(dataDir, 'token-issuer.db')
  const store = await openStore(`sqlite:${database}`)
  t.teardown(() => store.close())
  const raw = new SQLite(database)
  raw.exec('create trigger refuse before insert on users ' +
    "begin select raise(abort, 'disk full'); end")
  raw.close()

  await t.rejects(bootstrapFirstUser({ users: store.users, dataDir, log: Fastify().log }),
    { message: /disk full/ })
  t.same(readdirSync(dataDir).filter((name) => name.includes(INITIAL_PASSWORD_FILE)), [],
    'no file names a password that opens nothing')
})
