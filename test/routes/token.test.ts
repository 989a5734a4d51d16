import t from 'tap'
import {
  FORM, JSON_HEADERS, PASSWORD, USERNAME, build, decodeJwt, form, login, requestToken
} from '../helper.js'

t.test('the password grant', async (t) => {
  const fastify = await build(t)

  t.test('answers a form-encoded request with a Bearer token (C01a)', async (t) => {
    const response = await fastify.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
      payload: form({ grant_type: 'password', username: USERNAME, password: PASSWORD })
    })

    t.equal(response.statusCode, 200)
    const body = response.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
    t.equal(body.token_type, 'Bearer')
    t.equal(body.expires_in, 900)
    t.equal(decodeJwt(body.access_token).header.typ, 'at+jwt')
  })

  t.test('accepts a JSON body, where grant_type may be left out (C01b)', async (t) => {
    for (const payload of [
      { grant_type: 'password', username: USERNAME, password: PASSWORD },
      { username: USERNAME, password: PASSWORD }
    ]) {
      const response = await fastify.inject({
        method: 'POST', url: '/token', headers: JSON_HEADERS, payload
      })
      t.equal(response.statusCode, 200, JSON.stringify(Object.keys(payload)))
    }
  })

  t.test('normalises the username: case and Unicode form do not matter', async (t) => {
    t.equal((await login(fastify, 'USER-1')).statusCode, 200)
    t.equal((await login(fastify, ' user-1')).statusCode, 400,
      'a space is not trimmed into a match')

    await addUser(fastify, '\u00c5sa', PASSWORD)
    t.equal((await login(fastify, 'A\u030aSA')).statusCode, 200, 'decomposed and upper case')
  })

  t.test('marks every answer no-store, success or failure, without an ETag (C06)', async (t) => {
    for (const response of [
      await login(fastify),
      await requestToken(fastify, { username: USERNAME })
    ]) {
      t.equal(response.headers['cache-control'], 'no-store')
      t.equal(response.headers.pragma, 'no-cache')
      t.notOk(response.headers.etag)
      t.notOk(response.headers['last-modified'])
    }
  })
})

t.test('bad requests get the RFC 6749 §5.2 error shape, never a 500', async (t) => {
  const fastify = await build(t)

  interface BadRequest {
    name: string
    status?: number
    error: string
    headers?: Record<string, string>
    payload?: string
  }
  const withUser = `grant_type=password&username=${USERNAME}`
  const jsonCredentials =
    `"grant_type":"password","username":"${USERNAME}","password":"${PASSWORD}"`

  const cases: BadRequest[] = [
    {
      name: 'C01c: an XML body',
      error: 'invalid_request',
      headers: { 'content-type': 'text/xml' },
      payload: '<a/>'
    },
    {
      name: 'a text/plain body',
      error: 'invalid_request',
      headers: { 'content-type': 'text/plain' },
      payload: 'x'
    },
    {
      name: 'a body without a content type',
      error: 'invalid_request',
      headers: {},
      payload: 'grant_type=password'
    },
    {
      name: 'C02a: no grant_type',
      error: 'invalid_request',
      payload: `username=${USERNAME}&password=x&client_id=client-a`
    },
    {
      name: 'C02b: an empty grant_type',
      error: 'invalid_request',
      payload: `grant_type=&username=${USERNAME}&password=x`
    },
    {
      name: 'C02c: an unknown grant_type',
      error: 'unsupported_grant_type',
      payload: 'grant_type=urn:example:unknown&client_id=client-a'
    },
    {
      name: 'C05a: a repeated grant_type',
      error: 'invalid_request',
      payload: 'grant_type=password&grant_type=client_credentials' +
        `&username=${USERNAME}&password=${PASSWORD}`
    },
    {
      name: 'C05b: a repeated username',
      error: 'invalid_request',
      payload: `${withUser}&username=admin&password=${PASSWORD}`
    },
    {
      name: 'C05d: a username array in JSON',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: JSON.stringify({
        grant_type: 'password', username: [USERNAME, 'admin'], password: PASSWORD
      })
    },
    {
      name: 'a one-element array in JSON',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: JSON.stringify({ grant_type: 'password', username: [USERNAME], password: PASSWORD })
    },
    {
      name: 'a number where a string belongs',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: JSON.stringify({ grant_type: 'password', username: 42, password: PASSWORD })
    },
    {
      name: 'C07a: an empty JSON body',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: ''
    },
    {
      name: 'C07b: truncated JSON',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: '{"grant_type":'
    },
    {
      name: 'C07c: a JSON array',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: '[]'
    },
    {
      name: 'C07c: a JSON string',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: '"password"'
    },
    {
      name: 'C09a: a __proto__ key in JSON',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: `{${jsonCredentials},"__proto__":{"role":"admin"}}`
    },
    {
      name: 'C09b: a constructor key in JSON',
      error: 'invalid_request',
      headers: JSON_HEADERS,
      payload: `{${jsonCredentials},"constructor":{"prototype":{"role":"admin"}}}`
    },
    {
      name: 'no password',
      error: 'invalid_request',
      payload: withUser
    },
    {
      name: 'no username',
      error: 'invalid_request',
      payload: `grant_type=password&password=${PASSWORD}`
    },
    {
      name: 'a wrong password',
      error: 'invalid_grant',
      payload: `${withUser}&password=wrong`
    },
    {
      name: 'malformed percent-encoding',
      error: 'invalid_request',
      payload: `${withUser}&password=%E0%A4%A`
    },
    {
      name: 'a body over the limit',
      status: 413,
      error: 'invalid_request',
      payload: `${withUser}&password=${'a'.repeat(20_000)}`
    }
  ]

  for (const c of cases) {
    const response = await fastify.inject({
      method: 'POST',
      url: '/token',
      headers: c.headers ?? FORM,
      ...(c.payload === undefined ? {} : { payload: c.payload })
    })
    t.equal(response.statusCode, c.status ?? 400, `${c.name}: status`)
    t.equal(response.json().error, c.error, `${c.name}: error code`)
    t.type(response.json().error_description, 'string', `${c.name}: a description`)
    t.equal(response.headers['cache-control'], 'no-store', `${c.name}: no-store`)
    t.notMatch(response.body, /FST_|stack|Unexpected token/, `${c.name}: no framework internals`)
  }
})

t.test(
  'a __proto__ parameter in a form body is a flat name that adds no claim (C09c)',
  async (t) => {
    const fastify = await build(t)
    const response = await fastify.inject({
      method: 'POST',
      url: '/token',
      headers: FORM,
      payload: `grant_type=password&username=${USERNAME}` +
        `&password=${encodeURIComponent(PASSWORD)}&__proto__[role]=admin&__proto__=x`
    })

    t.equal(response.statusCode, 200)
    const { payload } = decodeJwt(response.json().access_token)
    t.notOk('role' in payload)
    t.equal(({} as Record<string, unknown>).role, undefined, 'Object.prototype is untouched')
  }
)

t.test('failed logins cannot tell an unknown user from a wrong password (C12)', async (t) => {
  const fastify = await build(t)
  await fastify.inject({ method: 'POST', url: '/token' })
  await addUser(fastify, 'user-2', PASSWORD)
  await fastify.tokenStore.users.setDisabled('user-2', true)

  const answers = [
    await login(fastify, USERNAME, 'wrong'),
    await login(fastify, 'no-such-user-9', 'wrong'),
    await login(fastify, 'user-2', PASSWORD),
    await login(fastify, 'bad\u0000name', 'wrong')
  ]

  for (const response of answers) {
    t.equal(response.statusCode, 400)
    t.same(response.json(), {
      error: 'invalid_grant', error_description: 'The username or password is incorrect'
    })
    const { date, ...headers } = response.headers
    const { date: _, ...first } = answers[0]!.headers
    t.same(headers, first, 'the same headers')
  }
})

t.test(
  'passwords: no truncation, Unicode normalised, long ones refused before hashing (C13)',
  async (t) => {
    const fastify = await build(t)

    await addUser(fastify, 'long-a', `${'a'.repeat(72)}1`)
    t.equal((await login(fastify, 'long-a', `${'a'.repeat(72)}2`)).statusCode, 400,
      'C13a: same 72-byte prefix')
    t.equal((await login(fastify, 'long-a', `${'a'.repeat(72)}1`)).statusCode, 200)

    const emoji = '😀'.repeat(30)
    await addUser(fastify, 'emoji', emoji)
    t.equal((await login(fastify, 'emoji', '😀'.repeat(18))).statusCode, 400,
      'C13b: the first 72 bytes only')
    t.equal((await login(fastify, 'emoji', emoji)).statusCode, 200)

    await addUser(fastify, 'accent', 'caf\u00e9-au-lait')
    t.equal((await login(fastify, 'accent', 'cafe\u0301-au-lait')).statusCode, 200,
      'NFD input meets the NFC password')

    const tooLong = await login(fastify, USERNAME, 'a'.repeat(1025))
    t.equal(tooLong.statusCode, 400)
    t.equal(tooLong.json().error, 'invalid_request')
    t.match(tooLong.json().error_description, /1024 bytes/)

    const huge = await Promise.all(Array.from({ length: 20 }, async () =>
      await login(fastify, USERNAME, 'a'.repeat(900 * 1024))))
    t.same(new Set(huge.map((response) => response.statusCode)), new Set([413]),
      'C13c: refused by size')
  }
)

t.test('the token endpoint takes POST only (C10c)', async (t) => {
  const fastify = await build(t)

  for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH'] as const) {
    const response = await fastify.inject({ method, url: '/token' })
    t.equal(response.statusCode, 405, method)
    t.equal(response.headers.allow, 'POST', method)
  }
})

async function addUser (
  fastify: Awaited<ReturnType<typeof build>>, username: string, password: string
) {
  const { addUser } = await import('../../src/accounts.js')
  await addUser(fastify.tokenStore.users, username, password)
}
