import Fastify from 'fastify'
import t from 'tap'
import tokenIssuer, {
  tokenVerifier, type AccessTokenClaims, type TokenIssuerOptions, type TokenResponse
} from '../../src/index.js'

/**
 * Compiled by `npm run typecheck`, never run: each `@ts-expect-error` fails the typecheck when
 * the line below it stops being an error, so the types a host sees are pinned here.
 */
async function hostTypes () {
  const app = Fastify()

  await app.register(tokenIssuer, {
    issuer: 'https://auth.example.test',
    databaseUrl: 'sqlite:./data/tokens.db',
    accessTokenTtl: '15m',
    verifyCredentials: async (username: string, password: string) =>
      username === password ? { subject: username, claims: { role: 'x' } } : undefined,
    claims: ({ subject, grantType }) => ({ tenant: `${subject}:${grantType ?? 'direct'}` })
  })
  // @ts-expect-error the issuer is required
  await app.register(tokenIssuer, { databaseUrl: 'sqlite::memory:' })
  // @ts-expect-error an unknown algorithm
  await app.register(tokenIssuer, { issuer: 'x', databaseUrl: 'y', algorithm: 'HS512' })
  const options: TokenIssuerOptions = { issuer: 'x', databaseUrl: 'y', routes: false }
  const replicated: TokenIssuerOptions = {
    issuer: 'x',
    databaseUrl: 'postgres://db/tokens?schema=auth',
    redisUrl: 'redis://cache:6379',
    redisKeyPrefix: 'auth:',
    keyRotationInterval: '30d',
    metrics: true
  }
  // @ts-expect-error metrics is a switch
  await app.register(tokenIssuer, { issuer: 'x', databaseUrl: 'y', metrics: 'yes' })
  app.startDraining()
  const kid: string = app.signingKeys.active.kid
  const text: string = await app.tokenIssuerMetrics.registry.metrics()

  const body: TokenResponse = await app.issueAccessToken('user-1', { scope: ['read'] })
  const token: string = body.access_token
  const claims: AccessTokenClaims = await app.verifyAccessToken(token)
  const subject: string = claims.sub
  // @ts-expect-error a bare string carries no claims (C15)
  await app.jwt.sign('user-1', { expiresIn: '1d' })
  // @ts-expect-error the key is not the second argument (C15c)
  await app.jwt.sign({ sub: 'user-1' }, 'some-secret', { expiresIn: '1d' })
  await app.jwt.sign({ sub: 'user-1', scope: 'read' })

  app.get('/me', { preHandler: app.authenticate }, async (request) => {
    const user: AccessTokenClaims = request.user
    // @ts-expect-error claims are not numbers
    const wrong: number = request.user.sub
    return { user, wrong }
  })

  await app.register(tokenVerifier, { issuer: 'https://auth.example.test', audience: 'api' })
  // @ts-expect-error the audience is required
  await app.register(tokenVerifier, { issuer: 'https://auth.example.test' })
  return { options, replicated, subject, kid, text }
}

t.test('the type checks above are compiled by npm run typecheck', async (t) => {
  t.type(hostTypes, 'function')
})
