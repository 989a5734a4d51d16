import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import SQLite from 'better-sqlite3'
import t from 'tap'
import { trustProxyFunction } from '../src/config.js'
import {
  FORM, JSON_HEADERS, PASSWORD, USERNAME, basic, build, form, login, post, protectedApp,
  rawExchange, registerClient
} from './helper.js'

t.test('thirty wrong passwords: locked before the thirtieth, the right one works after',
  async (t) => {
    const logs: Array<Record<string, unknown>> = []
    const env = { LOCKOUT_DURATION: '1s', LOCKOUT_MAX_DURATION: '2s' }
    const fastify = await build(t, { logs, env })

    const answers = []
    for (let i = 0; i < 30; i++) answers.push(await login(fastify, USERNAME, `wrong ${i}`))
    const locked = answers.findIndex((answer) =>
      answer.json().error_description.includes('Too many'))
    t.ok(locked >= 0 && locked < 29, `locked at attempt ${locked + 1}`)
    t.equal(locked, 5, 'after LOCKOUT_THRESHOLD (5) failures')
    const lockedAnswer = answers[locked]
    t.equal(lockedAnswer?.statusCode, 400)
    t.equal(lockedAnswer?.json().error, 'invalid_grant')
    t.match(lockedAnswer?.headers['retry-after'], /^\d+$/)
    t.equal((await login(fastify)).statusCode, 400, 'even the right password waits')

    await sleep(2100)
    t.equal((await login(fastify)).statusCode, 200, 'and works once the lock has passed')
    t.equal((await login(fastify, USERNAME, 'wrong again')).json().error_description,
      'The username or password is incorrect', 'a success resets the count')

    const warnings = logs.filter((line) => line.level === 40 && line.username === USERNAME)
    t.ok(warnings.some((line) => line.msg === 'login failed' && line.ip === '127.0.0.1'))
    t.ok(warnings.some((line) => line.msg === 'login refused: username locked'))
    t.notMatch(JSON.stringify(logs), /wrong \d/, 'never the password')
  })

t.test('parallel guesses cannot outrun the lockout: at most the threshold are checked',
  async (t) => {
    const fastify = await build(t)

    const answers = await Promise.all(Array.from({ length: 60 }, async (_, i) =>
      await login(fastify, USERNAME, `guess ${i}`)))
    const descriptions = answers.map((answer) => answer.json().error_description)
    const checked = descriptions.filter((text) => text === 'The username or password is incorrect')
    t.equal(checked.length, 5, 'LOCKOUT_THRESHOLD (5) passwords were checked, no more')
    t.equal(descriptions.filter((text) => /^Too many (failed )?logins/.test(text)).length, 55,
      'the others were refused: five were under way')
    t.match((await login(fastify)).json().error_description, /Too many failed logins/,
      'the five failures locked the username: the right password waits too')
  })

t.test('a burst of right passwords locks nobody', async (t) => {
  const fastify = await build(t)

  const answers = await Promise.all(Array.from({ length: 20 }, async () => await login(fastify)))
  const codes = answers.map((answer) => answer.statusCode)
  t.ok(codes.filter((code) => code === 200).length >= 5, `${codes.join(' ')}`)
  t.same(answers.filter((answer) => answer.statusCode !== 200)
    .map((answer) => answer.json().error_description),
  Array(codes.filter((code) => code !== 200).length)
    .fill('Too many logins at once for this username; try again shortly'),
  'the rest were asked to come back in a moment, not locked')
  t.equal((await login(fastify)).statusCode, 200, 'and the next login goes through')
})

t.test('unknown usernames are locked alike, so a lock tells nothing', async (t) => {
  const fastify = await build(t)
  const lastOf = async (username: string) => {
    let answer
    for (let i = 0; i < 6; i++) answer = await login(fastify, username, 'wrong')
    return answer?.json()
  }
  t.same(await lastOf('no-such-user'), await lastOf(USERNAME))
})

t.test('rate limits: 429 in the OAuth shape with Retry-After, per client address', async (t) => {
  const fastify = await build(t, { env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' } })

  const codes = []
  let last
  for (let i = 0; i < 4; i++) {
    last = await post(fastify, '/revoke', { token: 'x' })
    codes.push(last.statusCode)
  }
  t.same(codes, [200, 200, 200, 429])
  t.equal(last?.json().error, 'invalid_request')
  t.match(last?.json().error_description, /Too many requests/)
  t.match(last?.headers['retry-after'], /^\d+$/)
  t.equal(last?.headers['cache-control'], 'no-store')

  const other = await fastify.inject({
    method: 'POST', url: '/token', headers: FORM, remoteAddress: '10.0.0.9', payload: 'x=1'
  })
  t.equal(other.statusCode, 400, 'another address has its own budget')
  t.equal((await fastify.inject({ url: '/health/live' })).statusCode, 200, 'health is not limited')
})

t.test('TRUST_PROXY decides which forwarded addresses count', async (t) => {
  t.equal(trustProxyFunction(false)('10.0.0.1', 0), false)
  t.equal(trustProxyFunction(true)('203.0.113.9', 5), true)
  t.equal(trustProxyFunction(1)('203.0.113.9', 0), true)
  t.equal(trustProxyFunction(1)('203.0.113.9', 1), false)
  const list = trustProxyFunction(['10.0.0.0/8', 'loopback'])
  t.equal(list('10.1.2.3', 0), true)
  t.equal(list('127.0.0.1', 0), true)
  t.equal(list('203.0.113.9', 0), false)
  await t.rejects(build(t, { env: { TRUST_PROXY: 'the load balancer' } }),
    { code: 'FTI_CONFIG', message: /^TRUST_PROXY must be/ })
})

t.test('CORS: off by default; named origins get a correct preflight on /token (C10)', async (t) => {
  const preflight = {
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization, content-type'
  }
  const closed = await build(t)
  const none = await closed.inject({
    method: 'OPTIONS', url: '/token', headers: { origin: 'https://app.example.test', ...preflight }
  })
  t.notOk(none.headers['access-control-allow-origin'], 'off by default')
  t.not(none.statusCode, 401)
  t.ok(none.statusCode < 500)

  const fastify = await build(t, { env: { CORS_ORIGINS: 'https://app.example.test' } })
  const allowed = await fastify.inject({
    method: 'OPTIONS', url: '/token', headers: { origin: 'https://app.example.test', ...preflight }
  })
  t.equal(allowed.statusCode, 204, 'a: no authentication asked')
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.test')
  t.match(allowed.headers['access-control-allow-methods'], /POST/)
  t.match(allowed.headers['access-control-allow-headers'], /authorization/)
  t.match(allowed.headers['access-control-allow-headers'], /content-type/)
  t.match(allowed.headers.vary, /Origin/)
  t.notOk(allowed.headers['access-control-allow-credentials'], 'never credentials')

  const evil = await fastify.inject({
    method: 'OPTIONS', url: '/token', headers: { origin: 'https://evil.example.test', ...preflight }
  })
  t.notOk(evil.headers['access-control-allow-origin'], 'b: not for other origins')
  t.ok(evil.statusCode < 500 && evil.statusCode !== 401)

  await t.rejects(build(t, { env: { CORS_ORIGINS: '*' } }), { message: /^CORS_ORIGINS must/ })
})

t.test('security headers for an API', async (t) => {
  const fastify = await build(t)
  const response = await login(fastify)
  t.equal(response.headers['x-content-type-options'], 'nosniff')
  t.equal(response.headers['x-frame-options'], 'SAMEORIGIN')
  t.match(response.headers['strict-transport-security'], /max-age=/)
  t.equal(response.headers['referrer-policy'], 'no-referrer')
})

t.test('input limits: parameters, charsets, Unicode, lengths', async (t) => {
  const fastify = await build(t)
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, 'x']))
  const cases: Array<[string, Record<string, string>, string, string]> = [
    ['too many parameters', FORM, form({ grant_type: 'password', ...many }), 'invalid_request'],
    ['a latin-1 body', { 'content-type': 'application/x-www-form-urlencoded; charset=ISO-8859-1' },
      'grant_type=password&username=user-1&password=caf%E9', 'invalid_request'],
    ['a latin-1 JSON body', { 'content-type': 'application/json; charset=latin1' }, '{}',
      'invalid_request'],
    ['a lone surrogate', JSON_HEADERS,
      `{"grant_type":"password","username":"${USERNAME}","password":"pass\\ud800word"}`,
      'invalid_request'],
    ['a very long username', FORM, form({
      grant_type: 'password',
      username: 'u'.repeat(500),
      password: 'x'
    }), 'invalid_request']
  ]
  for (const [name, headers, payload, error] of cases) {
    const response = await fastify.inject({ method: 'POST', url: '/token', headers, payload })
    t.equal(response.statusCode, 400, name)
    t.equal(response.json().error, error, name)
  }
  const utf8 = await fastify.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset="utf-8"' },
    payload: form({ grant_type: 'password', username: USERNAME, password: PASSWORD })
  })
  t.equal(utf8.statusCode, 200, 'UTF-8, quoted or not, is fine')
  t.equal((await login(fastify, 'ＵＳＥＲ－１')).statusCode, 200, 'fullwidth forms are mapped')
})

t.test('malformed encodings are refused, never read as some other password', async (t) => {
  const fastify = await build(t)
  const raw = async (payload: string | Buffer, headers: Record<string, string> = FORM) =>
    await fastify.inject({ method: 'POST', url: '/token', headers, payload })
  const prefix = `grant_type=password&username=${USERNAME}&password=`
  const cases: Array<[string, string | Buffer, Record<string, string>?]> = [
    ['raw bytes that are not UTF-8', Buffer.concat([Buffer.from(prefix), Buffer.from([0xff])])],
    ['raw bytes that are not UTF-8, in JSON', Buffer.concat([
      Buffer.from(`{"grant_type":"password","username":"${USERNAME}","password":"abc`),
      Buffer.from([0xff]), Buffer.from('"}')]), JSON_HEADERS],
    ['a percent-escape of no UTF-8 byte sequence', `${prefix}abcdefgh%FF`],
    ['an escaped lone surrogate', `${prefix}%ED%A0%80`],
    ['a cut-off escape', `${prefix}abc%2`],
    ['U+FFFD itself, escaped in JSON', JSON.stringify(
      { grant_type: 'password', username: USERNAME, password: 'abcdefgh\ufffd' }), JSON_HEADERS]
  ]
  for (const [name, payload, headers] of cases) {
    const response = await raw(payload, headers)
    t.equal(response.statusCode, 400, name)
    t.equal(response.json().error, 'invalid_request', name)
  }
  t.equal((await raw(`${prefix}${encodeURIComponent(PASSWORD)}`)).statusCode, 200,
    'a well-formed body still works')
})

t.test('a Basic header must be strict base64 of UTF-8', async (t) => {
  const fastify = await build(t)
  const secret = await registerClient(fastify,
    { id: 'svc', grantTypes: ['client_credentials'], scopes: [] }) as string
  const good = basic('svc', secret)
  const token = async (authorization: string) =>
    await post(fastify, '/token', { grant_type: 'client_credentials' }, authorization)

  t.equal((await token(good)).statusCode, 200)
  const notUtf8 = Buffer.from([0x73, 0x76, 0x63, 0x3a, 0xff]).toString('base64')
  const cases: Array<[string, string]> = [
    ['trailing junk', `${good}@@`],
    ['base64url characters', good.replace(/\+/g, '-').replace(/\//g, '_') + '-_'],
    ['missing padding', good.replace(/=+$/, '')],
    ['bytes that are not UTF-8', `Basic ${notUtf8}`]
  ]
  for (const [name, header] of cases) {
    const response = await token(header)
    t.equal(response.statusCode, 401, name)
    t.equal(response.json().error, 'invalid_client', name)
  }
})

t.test('what Node and Fastify refuse before a route runs is answered in the OAuth shape too',
  async (t) => {
    const logs: Array<Record<string, unknown>> = []
    const fastify = await build(t, { logs, env: { LOG_LEVEL: 'trace' } })
    fastify.log.level = 'trace'
    await fastify.listen({ host: '127.0.0.1', port: 0 })
    const { port } = fastify.server.address() as { port: number }

    const badUrl = await fetch(`http://127.0.0.1:${port}/token%?password=in-the-url`,
      { method: 'POST' })
    t.equal(badUrl.status, 400)
    const badUrlBody = await badUrl.text()
    t.same(JSON.parse(badUrlBody), {
      error: 'invalid_request', error_description: 'The request URL is malformed'
    })
    t.notMatch(badUrlBody, /in-the-url/, 'the URL is not repeated')
    t.equal(badUrl.headers.get('cache-control'), 'no-store')

    const broken = await rawExchange(port,
      'POST /token HTTP/1.1\r\nhost: x\r\nauthorization: Basic c3ZjOnNlY3JldC1wdw==\r\n' +
      'content-length: 12x\r\n\r\npassword=raw-secret')
    t.match(broken, /^HTTP\/1\.1 400 /)
    t.match(broken, /"error":"invalid_request"/)
    t.notMatch(JSON.stringify(logs), /raw-secret|c3ZjOnNlY3JldC1wdw/,
      'not even a trace line holds the raw request')
  })

t.test('two Authorization headers, or a compressed body, are refused, not guessed at',
  async (t) => {
    const fastify = await protectedApp(t)
    await fastify.listen({ host: '127.0.0.1', port: 0 })
    const { port } = fastify.server.address() as { port: number }
    const accessToken = (await login(fastify)).json().access_token
    const body = form({ grant_type: 'password', username: USERNAME, password: PASSWORD })
    const token = (headers: string, payload = body) => rawExchange(port,
      'POST /token HTTP/1.1\r\nhost: x\r\nconnection: close\r\n' +
      'content-type: application/x-www-form-urlencoded\r\n' +
      `content-length: ${Buffer.byteLength(payload, 'latin1')}\r\n${headers}\r\n${payload}`)

    t.match(await token(''), /^HTTP\/1\.1 200 /, 'the plain request is fine')
    const basicHeader = `authorization: Basic ${Buffer.from('a:b').toString('base64')}\r\n`
    const twice = await token(basicHeader + basicHeader.replace('Basic', 'basic'))
    t.match(twice, /^HTTP\/1\.1 400 /)
    t.match(twice, /"error":"invalid_request"/)
    t.match(twice, /"error_description":"The request holds more than one Authorization header"/)

    const gzipped = await token('content-encoding: gzip\r\n', gzipSync(body).toString('latin1'))
    t.match(gzipped, /^HTTP\/1\.1 400 /)
    t.match(gzipped, /The body must not be compressed/)
    t.match(await token('content-encoding: identity\r\n'), /^HTTP\/1\.1 200 /, 'identity is none')

    const resource = (headers: string) => rawExchange(port, 'GET /resource HTTP/1.1\r\n' +
      `host: x\r\nconnection: close\r\n${headers}\r\n`)
    t.match(await resource(`authorization: Bearer ${accessToken}\r\n`), /^HTTP\/1\.1 200 /)
    const doubled = await resource(`authorization: Bearer ${accessToken}\r\n` +
      `authorization: Bearer ${accessToken}\r\n`)
    t.match(doubled, /^HTTP\/1\.1 400 /, 'by authenticate too')
    t.match(doubled, /www-authenticate: Bearer realm="[^"]*", error="invalid_request"/i)
  })

t.test('a body that trickles in is cut off: 408 once it has taken as long as the headers may',
  async (t) => {
    const fastify = await build(t)
    await fastify.listen({ host: '127.0.0.1', port: 0 })
    const { port } = fastify.server.address() as { port: number }
    const body = form({ grant_type: 'password', username: USERNAME, password: PASSWORD })

    const started = Date.now()
    const answer = await rawExchange(port, 'POST /token HTTP/1.1\r\nhost: x\r\n' +
      `content-type: application/x-www-form-urlencoded\r\ncontent-length: ${body.length}\r\n` +
      `\r\n${body.slice(0, 10)}`)
    const waited = Date.now() - started
    t.match(answer, /^HTTP\/1\.1 408 /)
    t.match(answer, /The request body took too long to arrive/)
    t.ok(waited >= 9_500 && waited < 15_000, `cut off after ${waited} ms`)
  })

t.test('private keys are sealed at rest with KEY_ENCRYPTION_SECRET', async (t) => {
  const dataDir = t.testdir()
  const secret = 'Vb4yQ9rT2kLm8XpN3sJd7WfH1gZc6AeU'
  const database = join(dataDir, 'token-issuer.db')
  const storedKeys = () => {
    const db = new SQLite(database, { readonly: true })
    try {
      type Row = { private_key: string }
      return db.prepare('select private_key from signing_keys').all() as Row[]
    } finally {
      db.close()
    }
  }

  const clear = await build(t, { dataDir })
  const before = (await login(clear)).json().access_token
  await clear.close()
  t.match(storedKeys()[0]?.private_key, /BEGIN PRIVATE KEY/, 'without the setting, in clear')

  const sealed = await build(t, { dataDir, env: { KEY_ENCRYPTION_SECRET: secret } })
  t.match(storedKeys()[0]?.private_key, /^enc:v1:/, 'sealed in place at the next start')
  t.notMatch(storedKeys()[0]?.private_key, /PRIVATE KEY/)
  t.ok(await sealed.verifyAccessToken(before), 'the same key signs on')
  await sealed.close()

  await t.rejects(build(t, { dataDir }), { message: /^KEY_ENCRYPTION_SECRET is required/ })
  await t.rejects(build(t, { dataDir, env: { KEY_ENCRYPTION_SECRET: secret.replace('V', 'W') } }),
    { message: /^KEY_ENCRYPTION_SECRET does not open/ })
  await t.rejects(build(t, { dataDir, env: { KEY_ENCRYPTION_SECRET: 'short' } }),
    { message: /^KEY_ENCRYPTION_SECRET must be at least 32 bytes/ })
  const again = await build(t, { dataDir, env: { KEY_ENCRYPTION_SECRET: secret } })
  t.equal((await login(again)).statusCode, 200)
})

t.test('the logs of a whole session hold no password, secret or token', async (t) => {
  const logs: Array<Record<string, unknown>> = []
  const fastify = await build(t, { logs })
  const secret = await registerClient(fastify,
    { id: 'app', grantTypes: ['password', 'refresh_token', 'client_credentials'], scopes: [] })
  const auth = basic('app', secret as string)

  const issued = (await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: PASSWORD }, auth)).json()
  const refreshed = (await post(fastify, '/token',
    { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, auth)).json()
  const machine = (await post(fastify, '/token', { grant_type: 'client_credentials' }, auth)).json()
  await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: 'wr0ng-pw' })
  await post(fastify, '/token',
    { grant_type: 'client_credentials' }, basic('app', 'bad-secret'))
  await post(fastify, '/token',
    { grant_type: 'refresh_token', refresh_token: issued.refresh_token }, auth)
  await post(fastify, '/introspect', { token: refreshed.access_token }, auth)
  await post(fastify, '/revoke', { token: refreshed.refresh_token }, auth)
  await fastify.inject({
    url: `/nothing?access_token=${machine.access_token}`,
    headers: { authorization: `Bearer ${machine.access_token}` }
  })

  const text = JSON.stringify(logs)
  t.ok(logs.length > 10, 'the session was logged')
  const secrets = {
    PASSWORD,
    'wr0ng-pw': 'wr0ng-pw',
    'bad-secret': 'bad-secret',
    secret,
    'access token': issued.access_token,
    'refresh token': issued.refresh_token,
    'rotated access token': refreshed.access_token,
    'rotated refresh token': refreshed.refresh_token,
    'client token': machine.access_token
  }
  for (const [name, value] of Object.entries(secrets)) {
    t.notOk(text.includes(value as string), `no ${name} in the logs`)
  }
})

t.test('a store locked by another process answers 503 quickly, not a frozen 500', async (t) => {
  const dataDir = t.testdir()
  const fastify = await build(t, { dataDir })
  const other = new SQLite(join(dataDir, 'token-issuer.db'))
  t.teardown(() => { if (other.open) other.close() })
  other.exec('BEGIN IMMEDIATE')
  await post(fastify, '/revoke', { token: 'warm-up' })

  const started = Date.now()
  const busy = await login(fastify)
  t.ok(Date.now() - started < 2000, 'the event loop was not held for long')
  t.equal(busy.statusCode, 503)
  t.equal(busy.json().error, 'temporarily_unavailable')
  t.equal(busy.headers['retry-after'], '1')

  other.exec('ROLLBACK')
  other.close()
  t.equal((await login(fastify)).statusCode, 200, 'and recovers')
})
