/**
 * A host app registering the plugin, as examples/host-app.ts does (that very app, on a fresh
 * SQLite file), with two routes answering the same body:
 *
 * - `GET /profile`, behind the plugin's `authenticate` preHandler (the example's own route);
 * - `GET /direct`, whose preHandler calls @fastify/jwt's `fastify.jwt.verify` itself: the same key
 *   and verify options (the plugin registers @fastify/jwt with the active key), no deny list.
 *
 * Answers { port, token } once listening: an access token both routes accept.
 */
import { join } from 'node:path'
import type { AccessTokenClaims } from '../../src/index.js'
import { addPerson, buildHostApp } from '../../examples/host-app.js'
import { onStop, ready } from './ipc.js'

const dataDir = process.env.BENCH_DATA_DIR
if (dataDir === undefined) throw new Error('BENCH_DATA_DIR names the directory for the store')

await addPerson('grace', 'cobol-1959', ['admiral'])
const app = await buildHostApp({
  issuer: 'http://127.0.0.1:5000/auth',
  databaseUrl: `sqlite:${join(dataDir, 'host-app.db')}`
})

app.get('/direct', {
  preHandler: async (request) => {
    const token = (request.headers.authorization ?? '').slice('Bearer '.length)
    request.user = app.jwt.verify<AccessTokenClaims>(token)
  }
}, async (request) => ({
  subject: request.user.sub,
  roles: request.user.roles
}))

await app.listen({ host: '127.0.0.1', port: 0 })
onStop(async () => { await app.close() })
const { access_token: token } = await app.issueAccessToken('person-1')
const address = app.server.address()
ready({ port: typeof address === 'object' && address !== null ? address.port : 0, token })
