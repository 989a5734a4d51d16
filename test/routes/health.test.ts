import t from 'tap'
import { build } from '../helper.js'

t.test(
  'live answers while the process runs; ready while the store answers and a key is loaded',
  async (t) => {
    const fastify = await build(t)

    t.same((await fastify.inject({ url: '/health/live' })).json(), { status: 'ok' })
    const ready = await fastify.inject({ url: '/health/ready' })
    t.equal(ready.statusCode, 200)
    t.same(ready.json(), { status: 'ready', checks: { store: true, signingKey: true } })

    await fastify.tokenStore.close()
    const unready = await fastify.inject({ url: '/health/ready' })
    t.equal(unready.statusCode, 503)
    t.same(unready.json(), { status: 'unavailable', checks: { store: false, signingKey: true } })
    t.equal((await fastify.inject({ url: '/health/live' })).statusCode, 200, 'still alive')
  }
)
