import { createRemoteJWKSet, jwtVerify } from 'jose'
import t from 'tap'
import { build, login } from './helper.js'

const ISSUER = 'https://auth.example.test'
const AUDIENCE = 'https://api.example.test'

async function listen (fastify: Awaited<ReturnType<typeof build>>) {
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  return createRemoteJWKSet(new URL('/.well-known/jwks.json', fastify.listeningOrigin))
}

t.test(
  'a token from /token verifies with jose against our key set, before and after a restart',
  async (t) => {
    const dataDir = t.testdir()
    const env = { ISSUER, AUDIENCE }

    const first = await build(t, { dataDir, env })
    const jwks = await listen(first)
    const before = Math.floor(Date.now() / 1000)
    const token = (await login(first)).json().access_token
    const user = await first.tokenStore.users.find('user-1')

    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      requiredClaims: ['jti']
    })
    t.same(Object.keys(protectedHeader).sort(), ['alg', 'kid', 'typ'])
    t.match(protectedHeader, { alg: 'ES256', typ: 'at+jwt', kid: String })
    t.equal(payload.iss, ISSUER)
    t.equal(payload.aud, AUDIENCE)
    t.equal(payload.sub, user?.id, 'the subject is the stable user id')
    t.equal(payload.preferred_username, 'user-1')
    t.match(payload.jti, /^[0-9a-f-]{36}$/)
    t.ok(payload.iat! >= before && payload.iat! <= before + 5, 'iat is now')
    t.equal(payload.exp! - payload.iat!, 900, 'exp is iat + 15 minutes')
    await first.close()

    const second = await build(t, { dataDir, env })
    const restartedJwks = await listen(second)
    const again = await jwtVerify(token, restartedJwks, {
      issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt'
    })
    t.equal(again.protectedHeader.kid, protectedHeader.kid, 'the same key signs after a restart')

    const another = (await login(second)).json().access_token
    t.not(another, token)
    t.equal((await jwtVerify(another, jwks)).protectedHeader.kid, protectedHeader.kid)
  }
)

t.test(
  'HS256 with a 32-byte secret and ACCESS_TOKEN_TTL=1d: exp is one day after iat',
  async (t) => {
    const secret = 'q3Zr9vX2pL7mN4tB8wK1yH6cJ0sF5dGa'
    const fastify = await build(t, {
      env: { JWT_ALGORITHM: 'HS256', JWT_SECRET: secret, ACCESS_TOKEN_TTL: '1d', ISSUER, AUDIENCE }
    })

    const body = (await login(fastify)).json()
    t.equal(body.expires_in, 86400)
    const key = new TextEncoder().encode(secret)
    const { payload, protectedHeader } = await jwtVerify(body.access_token, key, {
      algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt'
    })
    t.equal(protectedHeader.alg, 'HS256')
    t.type(protectedHeader.kid, 'string')
    t.equal(payload.exp! - payload.iat!, 86400)
  }
)
