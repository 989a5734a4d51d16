import { createRemoteJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { build, decodeJwt, login } from '../helper.js'

const ALGORITHMS = [
  { algorithm: 'ES256', kty: 'EC', members: ['crv', 'x', 'y'] },
  { algorithm: 'EdDSA', kty: 'OKP', members: ['crv', 'x'] },
  { algorithm: 'RS256', kty: 'RSA', members: ['e', 'n'] }
]

for (const { algorithm, kty, members } of ALGORITHMS) {
  t.test(
    `${algorithm}: the key set publishes the public key only, and it verifies our tokens`,
    async (t) => {
      const fastify = await build(t, { env: { JWT_ALGORITHM: algorithm } })
      await fastify.listen({ port: 0, host: '127.0.0.1' })
      const address = fastify.listeningOrigin

      const response = await fastify.inject({ url: '/.well-known/jwks.json' })
      t.equal(response.statusCode, 200)
      t.match(response.headers['cache-control'], /^public, max-age=\d+$/)
      const { keys } = response.json()
      t.equal(keys.length, 1)
      const [key] = keys
      t.same(Object.keys(key).sort(), ['alg', 'kid', 'kty', 'use', ...members].sort(),
        'no private member')
      t.match(key, { kty, alg: algorithm, use: 'sig' })

      const token = (await login(fastify)).json().access_token
      t.equal(decodeJwt(token).header.kid, key.kid)
      const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', address))
      const { protectedHeader } = await jwtVerify(token, jwks, {
        algorithms: [algorithm],
        issuer: 'http://localhost:3000',
        audience: 'http://localhost:3000',
        typ: 'at+jwt'
      })
      t.equal(protectedHeader.alg, algorithm)
    }
  )
}

t.test('HS256 publishes no key: its key is a shared secret', async (t) => {
  const fastify = await build(t, {
    env: { JWT_ALGORITHM: 'HS256', JWT_SECRET: 'q3Zr9vX2pL7mN4tB8wK1yH6cJ0sF5dGa' }
  })

  const response = await fastify.inject({ url: '/.well-known/jwks.json' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { keys: [] })
})
