import { Readable, Writable } from 'node:stream'
import t from 'tap'
import { runCli } from '../../src/cli.js'
import { openPrivateKey } from '../../src/key-encryption.js'
import { PUBLICATION_LEAD_SECONDS } from '../../src/keys.js'
import { basic, build, decodeJwt, login, post } from '../helper.js'

function collector () {
  let text = ''
  const stream = new Writable({
    write (chunk, _encoding, done) {
      text += chunk.toString()
      done()
    }
  })
  return { stream, text: () => text }
}

async function cli (dataDir: string, argv: string[], input = '', env: Record<string, string> = {}) {
  const stdout = collector()
  const stderr = collector()
  const code = await runCli(argv, {
    stdin: Readable.from([input]),
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: { DATA_DIR: dataDir, ...env }
  })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

t.test('users add reads the password from standard input, and the user can log in', async (t) => {
  const dataDir = t.testdir()

  const added = await cli(dataDir, ['users', 'add', 'Alice', '--json'],
    'wonderland rabbit\nignored\n')
  t.equal(added.code, 0, added.stderr)
  t.match(JSON.parse(added.stdout), { username: 'alice', id: String })

  const fastify = await build(t, { dataDir })
  t.equal((await login(fastify, 'alice', 'wonderland rabbit')).statusCode, 200)
})

t.test('the user commands, end to end on one SQLite file', async (t) => {
  const dataDir = t.testdir()
  t.equal((await cli(dataDir, ['users', 'add', 'bob'], 'first password\n')).code, 0)

  const listed = JSON.parse((await cli(dataDir, ['users', 'list', '--json'])).stdout)
  t.match(listed, [{ username: 'bob', disabled: false }])
  t.notOk('passwordHash' in listed[0], 'no hash in the listing')
  t.match((await cli(dataDir, ['users', 'list'])).stdout, /^bob\tenabled\t/)

  t.equal((await cli(dataDir, ['users', 'passwd', 'BOB'], 'second password\n')).code, 0)
  t.equal((await cli(dataDir, ['users', 'disable', 'bob'])).code, 0)

  const fastify = await build(t, { dataDir })
  t.equal((await login(fastify, 'bob', 'second password')).statusCode, 400, 'disabled')
  await fastify.close()

  t.equal((await cli(dataDir, ['users', 'enable', 'bob'])).code, 0)
  const again = await build(t, { dataDir })
  t.equal((await login(again, 'bob', 'first password')).statusCode, 400, 'the old password is gone')
  t.equal((await login(again, 'bob', 'second password')).statusCode, 200)
  await again.close()

  t.equal((await cli(dataDir, ['users', 'remove', 'bob'])).code, 0)
  t.same(JSON.parse((await cli(dataDir, ['users', 'list', '--json'])).stdout), [])
})

t.test('keys list shows the signing keys without private parts', async (t) => {
  const dataDir = t.testdir()
  await (await build(t, { dataDir })).close()

  const { code, stdout } = await cli(dataDir, ['keys', 'list', '--json'])
  t.equal(code, 0)
  const keys = JSON.parse(stdout)
  t.match(keys, [{ kid: String, algorithm: 'ES256', state: 'active', createdAt: String }])
  t.notMatch(stdout, /PRIVATE|"d"/)
})

t.test('keys rotate publishes the next key at once; it signs after the lead time', async (t) => {
  const dataDir = t.testdir()
  const fastify = await build(t, { dataDir })
  const current = fastify.signingKeys.active.kid

  const rotated = await cli(dataDir, ['keys', 'rotate', '--json'])
  t.equal(rotated.code, 0, rotated.stderr)
  const next = JSON.parse(rotated.stdout)
  t.match(next, { kid: String, algorithm: 'ES256', replaces: { kid: current, retiresAt: String } })
  const lead = Date.parse(next.activatesAt) - Date.now()
  t.ok(lead > 300_000 && lead <= PUBLICATION_LEAD_SECONDS * 1000,
    'it signs only after verifiers caching the key set for 300 s have seen it')

  await fastify.signingKeys.refresh()
  const published = (await fastify.inject('/.well-known/jwks.json')).json().keys
  t.same(published.map((key: { kid: string }) => key.kid), [current, next.kid],
    'the running service publishes it once it reads the keys again')
  t.equal(decodeJwt((await login(fastify)).json().access_token).header.kid, current,
    'and still signs with the current key')

  const listed = JSON.parse((await cli(dataDir, ['keys', 'list', '--json'])).stdout)
  t.same(listed.map((key: { state: string }) => key.state), ['active', 'pending'])
  const again = await cli(dataDir, ['keys', 'rotate'])
  t.equal(again.code, 1, 'one rotation at a time')
  t.match(again.stderr, /already scheduled/)
})

t.test('keys rotate keeps encrypted keys encrypted', async (t) => {
  const dataDir = t.testdir()
  const KEY_ENCRYPTION_SECRET = 'Vb4yQ9rT2kLm8XpN3sJd7WfH1gZc6AeU'
  const fastify = await build(t, { dataDir, env: { KEY_ENCRYPTION_SECRET } })
  const storedInClear = async () => (await fastify.tokenStore.signingKeys.list())
    .filter((key) => !key.privateKeyPem.startsWith('enc:v1:')).map((key) => key.kid)

  const refused = await cli(dataDir, ['keys', 'rotate'])
  t.equal(refused.code, 1, 'without the secret, refused')
  t.match(refused.stderr, /KEY_ENCRYPTION_SECRET is required: the stored signing keys are/)
  t.equal((await fastify.tokenStore.signingKeys.list()).length, 1, 'and nothing stored')

  const wrong = await cli(dataDir, ['keys', 'rotate'], '',
    { KEY_ENCRYPTION_SECRET: KEY_ENCRYPTION_SECRET.replace('V', 'W') })
  t.equal(wrong.code, 1, 'with a secret that does not open them, refused')
  t.match(wrong.stderr, /KEY_ENCRYPTION_SECRET does not open the stored signing keys/)
  t.equal((await fastify.tokenStore.signingKeys.list()).length, 1, 'and nothing stored')

  const rotated = await cli(dataDir, ['keys', 'rotate'], '', { KEY_ENCRYPTION_SECRET })
  t.equal(rotated.code, 0, rotated.stderr)
  t.same(await storedInClear(), [], 'with it, the new key is stored encrypted')

  // A key stored in clear by other means is encrypted when the service next reads the keys.
  const [, pending] = await fastify.tokenStore.signingKeys.list()
  const secret = Buffer.from(KEY_ENCRYPTION_SECRET)
  await fastify.tokenStore.signingKeys.setPrivateKey(pending?.kid ?? '',
    await openPrivateKey(pending?.privateKeyPem ?? '', secret))
  t.same(await storedInClear(), [pending?.kid])
  await fastify.signingKeys.refresh()
  t.same(await storedInClear(), [], 'sealed by the next refresh')
})

t.test('keys rotate does not encrypt a key beside keys stored in clear', async (t) => {
  const dataDir = t.testdir()
  await (await build(t, { dataDir })).close()
  const KEY_ENCRYPTION_SECRET = 'Vb4yQ9rT2kLm8XpN3sJd7WfH1gZc6AeU'
  const refused = await cli(dataDir, ['keys', 'rotate'], '', { KEY_ENCRYPTION_SECRET })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /KEY_ENCRYPTION_SECRET is set, but the stored signing keys are not/)
  const fastify = await build(t, { dataDir })
  t.equal((await fastify.tokenStore.signingKeys.list()).length, 1, 'nothing stored')
})

t.test('keys rotate leaves the first key to the service', async (t) => {
  const dataDir = t.testdir()
  const refused = await cli(dataDir, ['keys', 'rotate'], '',
    { KEY_ENCRYPTION_SECRET: 'Vb4yQ9rT2kLm8XpN3sJd7WfH1gZc6AeU' })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /No signing keys yet: start the service once/)
  const fastify = await build(t, { dataDir })
  t.equal((await login(fastify)).statusCode, 200, 'which then starts without the secret')
})

t.test('keys rotate refuses HS256, whose key is JWT_SECRET', async (t) => {
  const stderr = collector()
  const code = await runCli(['keys', 'rotate'], {
    stdin: Readable.from(['']),
    stdout: collector().stream,
    stderr: stderr.stream,
    env: {
      DATA_DIR: t.testdir(), JWT_ALGORITHM: 'HS256', JWT_SECRET: 'q3Zr9vX2pL7mN4tB8wK1yH6cJ0sF5dGa'
    }
  })
  t.equal(code, 1)
  t.match(stderr.text(), /JWT_SECRET/)

  const listed = await cli(t.testdir(), ['keys', 'list'], '',
    { JWT_ALGORITHM: 'HS256', JWT_SECRET: 'q3Zr9vX2pL7mN4tB8wK1yH6cJ0sF5dGa' })
  t.equal(listed.stdout, 'JWT_ALGORITHM is HS256: tokens are signed with JWT_SECRET, and no ' +
    'stored key signs\n', 'keys list says what signs')
})

t.test('mistakes exit non-zero with a message, and passwords are never arguments', async (t) => {
  const dataDir = t.testdir()
  await cli(dataDir, ['users', 'add', 'carol'], 'carol password\n')

  const cases: Array<[string[], string, number, RegExp]> = [
    [['users', 'add', 'dave', '--password', 'secret123'], '', 2,
      /^token-issuer: Unknown or malformed option --password\n/],
    [['users', 'add', 'dave', '--json', '--password=secret123'], '', 2,
      /^\{"error":"usage","message":"Unknown or malformed option --password"\}\n$/],
    [['clients', 'add', 'x', '--grant'], '', 2, /malformed option --grant/],
    [['users', 'add'], 'x\n', 2, /A username is required/],
    [['users', 'frobnicate'], '', 2, /Unknown command/],
    [['users', 'add', 'carol'], 'carol password\n', 1, /already exists/],
    [['users', 'add', 'dave'], 'short\n', 1, /at least 8/],
    [['users', 'add', 'dave'], '', 1, /No password on standard input/],
    [['users', 'passwd', 'nobody'], 'whatever password\n', 1, /No such user: nobody/],
    [['users', 'remove', 'nobody'], '', 1, /No such user/],
    [['users', 'add', 'two words'], 'a good password\n', 1, /without spaces/]
  ]
  for (const [argv, input, code, message] of cases) {
    const result = await cli(dataDir, argv, input)
    t.equal(result.code, code, argv.join(' '))
    t.match(result.stderr, message, argv.join(' '))
    t.notMatch(result.stderr, /secret123/, 'a value is never repeated')
  }
})

t.test('a bad setting stops the CLI too, naming the variable', async (t) => {
  const stderr = collector()
  const code = await runCli(['users', 'list'], {
    stdin: Readable.from(['']),
    stdout: collector().stream,
    stderr: stderr.stream,
    env: { DATABASE_URL: 'mysql://localhost/tokens' }
  })
  t.equal(code, 1)
  t.match(stderr.text(), /DATABASE_URL/)
})

t.test('clients: add prints the secret once, rotate-secret replaces it, remove ends it',
  async (t) => {
    const dataDir = t.testdir()
    const added = await cli(dataDir, ['clients', 'add', 'billing', '--grant', 'client_credentials',
      '--grant', 'refresh_token', '--scope', 'invoices:read', '--scope', 'invoices:write',
      '--audience', 'https://billing.example.test', '--json'])
    t.equal(added.code, 0, added.stderr)
    const client = JSON.parse(added.stdout)
    t.match(client, {
      client_id: 'billing',
      public: false,
      grant_types: ['client_credentials', 'refresh_token'],
      scopes: ['invoices:read', 'invoices:write'],
      audience: 'https://billing.example.test',
      client_secret: /^[A-Za-z0-9_-]{43}$/
    })

    const listed = await cli(dataDir, ['clients', 'list', '--json'])
    t.notMatch(listed.stdout, client.client_secret, 'the list never shows a secret')
    t.notMatch(listed.stdout, /hmac-sha256/, 'nor its hash')
    t.match((await cli(dataDir, ['clients', 'list'])).stdout, /^billing\tconfidential\t/)

    const rotated = JSON.parse(
      (await cli(dataDir, ['clients', 'rotate-secret', 'billing', '--json'])).stdout)
    const fastify = await build(t, { dataDir })
    const cc = { grant_type: 'client_credentials' }
    const oldSecret = await post(fastify, '/token', cc, basic('billing', client.client_secret))
    t.equal(oldSecret.statusCode, 401, 'the old secret no longer works')
    const issued = await post(fastify, '/token', cc, basic('billing', rotated.client_secret))
    t.equal(issued.statusCode, 200)
    t.match(decodeJwt(issued.json().access_token).payload, { aud: 'https://billing.example.test' })
    await fastify.close()

    t.equal((await cli(dataDir, ['clients', 'remove', 'billing'])).code, 0)
    t.same(JSON.parse((await cli(dataDir, ['clients', 'list', '--json'])).stdout), [])
  })

t.test('clients: mistakes are refused with a message', async (t) => {
  const dataDir = t.testdir()
  await cli(dataDir, ['clients', 'add', 'spa', '--grant', 'password', '--public'])

  const cases: Array<[string[], number, RegExp]> = [
    [['clients', 'add', 'x'], 1, /at least one --grant/],
    [['clients', 'add', 'x', '--grant', 'implicit'], 1, /Unknown grant implicit/],
    [['clients', 'add', 'x', '--grant', 'client_credentials', '--public'], 1,
      /public client cannot/],
    [['clients', 'add', 'x', '--grant', 'password', '--scope', 'a"b'], 1, /Invalid scope/],
    [['clients', 'add', 'spa', '--grant', 'password'], 1, /already exists/],
    [['clients', 'rotate-secret', 'spa'], 1, /public/],
    [['clients', 'rotate-secret', 'nobody'], 1, /No such client/],
    [['clients', 'remove', 'nobody'], 1, /No such client/],
    [['clients', 'add'], 2, /A client id is required/]
  ]
  for (const [argv, code, message] of cases) {
    const result = await cli(dataDir, argv)
    t.equal(result.code, code, argv.join(' '))
    t.match(result.stderr, message, argv.join(' '))
  }
})
