/**
 * The ceilings the token endpoint is measured against, in one process:
 *
 * - `POST /bare`: Fastify with @fastify/formbody answering a fixed body shaped like a
 *   client_credentials answer of `/token`: the framework ceiling (parse a form, send JSON);
 * - `POST /sign`: the same, but signing the claims `/token` signs (iss, sub, aud, iat, exp, jti,
 *   client_id, scope; header typ at+jwt and kid) with @fastify/jwt, the same algorithm and key
 *   type as the service: the signing ceiling.
 *
 * Started by bench/run.ts with IPC; it answers { port } once listening.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import fastifyFormbody from '@fastify/formbody'
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'
import { onStop, ready } from './ipc.js'

const algorithm = process.env.BENCH_ALGORITHM ?? 'ES256'
const issuer = 'http://localhost:3000'
const clientId = 'bench-service'
const scope = 'api:read'
const ttl = 900

function keyPair (): { private: string | Buffer, public: string | Buffer } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const
  const pair = (() => {
    switch (algorithm) {
      case 'ES256': return generateKeyPairSync('ec',
        { namedCurve: 'P-256', publicKeyEncoding, privateKeyEncoding })
      case 'EdDSA': return generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding })
      case 'RS256': return generateKeyPairSync('rsa',
        { modulusLength: 2048, publicKeyEncoding, privateKeyEncoding })
      case 'HS256': return undefined
      default: throw new Error(`BENCH_ALGORITHM ${algorithm} is not one the service signs with`)
    }
  })()
  if (pair === undefined) {
    const secret = randomBytes(48)
    return { private: secret, public: secret }
  }
  return { private: pair.privateKey, public: pair.publicKey }
}

const app = Fastify({ logger: false })
await app.register(fastifyFormbody)
await app.register(fastifyJwt, {
  // The service keys @fastify/jwt with PEM strings too (plugins/jwt.ts).
  secret: keyPair(),
  sign: {
    algorithm: algorithm as 'ES256',
    kid: 'bench-key',
    header: { alg: algorithm, typ: 'at+jwt' },
    iss: issuer,
    expiresIn: ttl
  }
})

const claims = () => ({ sub: clientId, jti: randomUUID(), client_id: clientId, scope, aud: issuer })
const fixed = {
  access_token: app.jwt.sign(claims()),
  token_type: 'Bearer',
  expires_in: ttl,
  scope
}

app.post('/bare', async () => fixed)
app.post('/sign', async () => ({
  access_token: app.jwt.sign(claims()),
  token_type: 'Bearer',
  expires_in: ttl,
  scope
}))

await app.listen({ host: '127.0.0.1', port: 0 })
onStop(async () => { await app.close() })
const address = app.server.address()
ready({ port: typeof address === 'object' && address !== null ? address.port : 0 })
