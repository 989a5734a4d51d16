import fc from 'fast-check'
import t from 'tap'
import { build, login } from './helper.js'

/** Bounded in `npm test`; `npm run test:fuzz` runs many more with the same seed. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
const SEED = Number(process.env.FUZZ_SEED ?? 20261203)

const OAUTH = ['/token', '/revoke', '/introspect']
const ROUTES = [...OAUTH, '/.well-known/jwks.json', '/.well-known/oauth-authorization-server',
  '/health/live', '/health/ready', '/metrics', '/documentation/json', '/nothing']
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const
const CONTENT_TYPES = ['application/x-www-form-urlencoded', 'application/json',
  'application/json; charset=utf-8', 'application/x-www-form-urlencoded; charset=latin1',
  'text/plain', 'text/xml', 'multipart/form-data; boundary=x', '', 'application/JSON', '*/*']
const NAMES = ['grant_type', 'username', 'password', 'scope', 'refresh_token', 'client_id',
  'client_secret', 'token', 'token_type_hint', '__proto__', 'constructor', 'prototype']
const VALUES = ['password', 'client_credentials', 'refresh_token', 'user-1',
  'correct horse battery staple', '', ' ', '%', '%zz', '\u0000', '\ud800', 'é', '😀',
  'a'.repeat(2000)]

/** Percent-encodes every byte, lone surrogates included (as UTF-8 would carry them). */
const encode = (text: string) =>
  [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')

const value = fc.oneof(fc.constantFrom(...VALUES), fc.string(), fc.string({ unit: 'binary' }))
const jsonValue = fc.oneof(value, fc.integer(), fc.boolean(), fc.constant(null),
  fc.array(value, { maxLength: 3 }), fc.dictionary(fc.string(), value, { maxKeys: 3 }))

const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...NAMES), value, { maxKeys: 6 })
    .map((params) => Object.entries(params)
      .map(([name, v]) => `${encode(name)}=${encode(v)}`).join('&')),
  fc.dictionary(fc.oneof(fc.constantFrom(...NAMES), fc.string()), jsonValue, { maxKeys: 6 })
    .map((object) => JSON.stringify(object)),
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('', '{', '[]', '"x"', 'null', '{"__proto__":{"a":1}}', 'a=1&a=2', '=&=&')
)

const authorization = fc.oneof(
  fc.constant(undefined),
  fc.string().map((text) => `Basic ${Buffer.from(text).toString('base64')}`),
  fc.string().map((text) => `Bearer ${text}`),
  fc.constantFrom('Basic', 'Basic !!!', 'Bearer', 'Bearer  a.b.c', 'AAAAAA x', 'basic Og=='),
  fc.string({ maxLength: 100 }).filter((text) => /^[\x20-\x7e]*$/.test(text))
)

const request = fc.record({
  method: fc.constantFrom(...METHODS),
  url: fc.oneof(fc.constantFrom(...ROUTES),
    fc.tuple(fc.constantFrom(...ROUTES), fc.string({ maxLength: 20 }))
      .map(([route, query]) => `${route}?${encode(query)}`)),
  contentType: fc.constantFrom(...CONTENT_TYPES),
  authorization,
  body
})

t.test('random requests at every route: never a 5xx, always the right shape', async (t) => {
  const fastify = await build(t, { env: { LOCKOUT_THRESHOLD: '0' } })

  await fc.assert(fc.asyncProperty(request, async (input) => {
    const headers: Record<string, string> = {}
    if (input.contentType !== '') headers['content-type'] = input.contentType
    if (input.authorization !== undefined) headers.authorization = input.authorization
    const withBody = !['GET', 'HEAD', 'OPTIONS'].includes(input.method)

    const response = await fastify.inject({
      method: input.method,
      url: input.url,
      headers,
      ...(withBody ? { payload: input.body } : {})
    })

    if (response.statusCode >= 500) throw new Error(`${response.statusCode}: ${response.body}`)
    const path = input.url.split('?')[0] as string
    if (OAUTH.includes(path) && input.method === 'POST' && response.statusCode >= 400) {
      const answer = response.json()
      if (typeof answer.error !== 'string' || typeof answer.error_description !== 'string') {
        throw new Error(`not the OAuth error shape: ${response.body}`)
      }
      if (response.headers['cache-control'] !== 'no-store') throw new Error('cacheable error')
    }
  }), { seed: SEED, numRuns: RUNS })

  t.equal((await fastify.inject({ url: '/health/ready' })).statusCode, 200, 'still healthy')
  t.equal((await login(fastify)).statusCode, 200, 'still issuing tokens')
})
