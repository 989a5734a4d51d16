import t from 'tap'
import { build } from '../helper.js'

t.test('the OpenAPI document describes every route and its error answers', async (t) => {
  const fastify = await build(t)

  const response = await fastify.inject({ url: '/documentation/json' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  t.equal(document.openapi, '3.1.0')

  const expected: Record<string, string[]> = {
    '/token': ['200', '400', '401', '413', '429', '500', '503'],
    '/revoke': ['200', '400', '401', '413', '429', '500', '503'],
    '/introspect': ['200', '400', '401', '413', '429', '500', '503'],
    '/.well-known/jwks.json': ['200'],
    '/.well-known/oauth-authorization-server': ['200'],
    '/health/live': ['200'],
    '/health/ready': ['200', '503']
  }
  for (const [path, statuses] of Object.entries(expected)) {
    const operation = document.paths[path]?.post ?? document.paths[path]?.get
    t.ok(operation?.summary, `${path} has a summary`)
    t.same(Object.keys(operation?.responses ?? {}).sort(), statuses.sort(), `${path} answers`)
  }
  t.notOk(document.paths['/token']?.get, 'the 405 route is not advertised')
  t.same(Object.keys(document.paths['/token'].post.requestBody.content).sort(),
    ['application/json', 'application/x-www-form-urlencoded'], 'both body types are described')

  const ui = await fastify.inject({ url: '/documentation/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
})

t.test('response schemas leave the answers intact', async (t) => {
  const fastify = await build(t)
  const jwks = (await fastify.inject({ url: '/.well-known/jwks.json' })).json()
  t.same(Object.keys(jwks.keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
  const ready = (await fastify.inject({ url: '/health/ready' })).json()
  t.same(ready, { status: 'ready', checks: { store: true, signingKey: true } })
})
