import { resolve } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import configPlugin from '../../plugins/config.js'

const SECRET = 'q3Zr9vX2pL7mN4tB8wK1yH6cJ0sF5dGa'

async function settingsFrom (env: Record<string, string>) {
  const fastify = Fastify()
  try {
    await fastify.register(configPlugin, { env, dotenv: false })
    await fastify.ready()
    return fastify.settings
  } finally {
    await fastify.close()
  }
}

t.test('an empty environment gives the laptop defaults', async (t) => {
  const settings = await settingsFrom({})

  t.same(settings, {
    host: '127.0.0.1',
    port: 3000,
    logLevel: 'info',
    dataDir: resolve('data'),
    databaseUrl: `sqlite:${resolve('data', 'token-issuer.db')}`,
    issuer: 'http://localhost:3000',
    audience: 'http://localhost:3000',
    accessTokenTtl: 900,
    algorithm: 'ES256',
    passwordGrantWithoutClient: true,
    refreshTokens: true,
    refresh: { ttl: 14 * 86400, familyTtl: 90 * 86400, gracePeriod: 5 },
    trustProxy: false,
    rateLimit: { max: 30, window: 60 },
    lockout: { threshold: 5, duration: 30, maxDuration: 900 },
    corsOrigins: [],
    redisKeyPrefix: 'token-issuer:',
    metricsEnabled: true,
    shutdownDelay: 2
  })
})

t.test('every variable is read', async (t) => {
  const settings = await settingsFrom({
    HOST: '0.0.0.0',
    PORT: '8080',
    LOG_LEVEL: 'warn',
    DATA_DIR: '/var/lib/tokens',
    DATABASE_URL: 'sqlite:/tmp/other.db',
    ISSUER: 'https://auth.example.com',
    AUDIENCE: 'api',
    ACCESS_TOKEN_TTL: '1d',
    JWT_ALGORITHM: 'HS256',
    JWT_SECRET: SECRET,
    BOOTSTRAP_USERNAME: 'Root',
    BOOTSTRAP_PASSWORD: 'a long enough password',
    PASSWORD_GRANT_WITHOUT_CLIENT: 'false',
    REFRESH_TOKENS: 'false',
    REFRESH_TOKEN_TTL: '1h',
    REFRESH_FAMILY_TTL: '2d',
    REFRESH_GRACE_PERIOD: '0'
  })

  t.match(settings, {
    host: '0.0.0.0',
    port: 8080,
    logLevel: 'warn',
    dataDir: '/var/lib/tokens',
    databaseUrl: 'sqlite:/tmp/other.db',
    issuer: 'https://auth.example.com',
    audience: 'api',
    accessTokenTtl: 86400,
    algorithm: 'HS256',
    bootstrap: { username: 'root', password: 'a long enough password' },
    passwordGrantWithoutClient: false,
    refreshTokens: false,
    refresh: { ttl: 3600, familyTtl: 172800, gracePeriod: 0 }
  })
  t.same(settings.secret, Buffer.from(SECRET))
})

t.test('the settings for replicas: rotation, Redis, metrics and shutdown', async (t) => {
  const settings = await settingsFrom({
    KEY_ROTATION_INTERVAL: '30d',
    REDIS_URL: 'redis://:pw@cache.internal:6380/2',
    REDIS_KEY_PREFIX: 'tokens-eu:',
    METRICS_ENABLED: 'false',
    SHUTDOWN_DELAY: '10s'
  })
  t.match(settings, {
    metricsEnabled: false,
    shutdownDelay: 10,
    keyRotationInterval: 30 * 86400,
    redisUrl: 'redis://:pw@cache.internal:6380/2',
    redisKeyPrefix: 'tokens-eu:'
  })
})

t.test('ACCESS_TOKEN_TTL takes seconds or a unit', async (t) => {
  const cases: Array<[string, number]> = [
    ['900', 900], ['15m', 900], ['12h', 43200], ['1d', 86400], ['30s', 30], ['2w', 1209600],
    [' 15m ', 900]
  ]
  for (const [value, seconds] of cases) {
    t.equal((await settingsFrom({ ACCESS_TOKEN_TTL: value })).accessTokenTtl, seconds, value)
  }
})

t.test('a bad value stops the start with a message naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /^PORT must be a whole number from 0 to 65535/],
    [{ PORT: '70000' }, /^PORT must be at most 65535/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of fatal, error/],
    [{ JWT_ALGORITHM: 'HS512' }, /^JWT_ALGORITHM must be one of ES256, EdDSA, RS256, HS256/],
    [{ ACCESS_TOKEN_TTL: 'soon' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ACCESS_TOKEN_TTL: '0' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ACCESS_TOKEN_TTL: '1.5s' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ACCESS_TOKEN_TTL: '-5m' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ACCESS_TOKEN_TTL: '2y' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ISSUER: 'auth.example.com' }, /^ISSUER must be an absolute/],
    [{ ISSUER: 'ftp://auth.example.com' }, /^ISSUER must be an http\(s\) URL/],
    [
      { ISSUER: 'https://auth.example.com/?tenant=1' },
      /^ISSUER must be an http\(s\) URL without query/
    ],
    [{ JWT_ALGORITHM: 'HS256' }, /^JWT_SECRET is required/],
    [{ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'short' }, /^JWT_SECRET must be at least 32 bytes/],
    [{ JWT_ALGORITHM: 'HS256', JWT_SECRET: ' '.repeat(40) }, /^JWT_SECRET looks like a/],
    [{ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'ab'.repeat(20) }, /^JWT_SECRET looks like a/],
    [{ PORT: '0x10' }, /^PORT must be a whole number/],
    [{ PORT: '1e3' }, /^PORT must be a whole number/],
    [{ PORT: '0' }, /^ISSUER is required with PORT=0/],
    [{ ACCESS_TOKEN_TTL: '9000.0' }, /^ACCESS_TOKEN_TTL must be/],
    [{ REFRESH_GRACE_PERIOD: '0xyz' }, /^REFRESH_GRACE_PERIOD must be/],
    [{ REFRESH_GRACE_PERIOD: '0 garbage' }, /^REFRESH_GRACE_PERIOD must be/],
    [{ JWT_SECRET: 'x'.repeat(40) }, /^JWT_SECRET is only used with JWT_ALGORITHM=HS256/],
    [{ BOOTSTRAP_USERNAME: 'root' }, /^BOOTSTRAP_PASSWORD is required/],
    [{ BOOTSTRAP_PASSWORD: 'a long enough password' }, /^BOOTSTRAP_USERNAME is required/],
    [
      { BOOTSTRAP_USERNAME: 'two words', BOOTSTRAP_PASSWORD: 'a long enough password' },
      /^BOOTSTRAP_USERNAME: /
    ],
    [
      { BOOTSTRAP_USERNAME: 'root', BOOTSTRAP_PASSWORD: 'short' },
      /^BOOTSTRAP_PASSWORD: .*at least 8/
    ],
    [{ DATA_DIR: '' }, /^DATA_DIR must NOT have fewer than 1 characters/],
    [{ PASSWORD_GRANT_WITHOUT_CLIENT: 'maybe' }, /^PASSWORD_GRANT_WITHOUT_CLIENT must be boolean/],
    [{ REFRESH_TOKENS: 'yes please' }, /^REFRESH_TOKENS must be boolean/],
    [{ REFRESH_TOKEN_TTL: '0' }, /^REFRESH_TOKEN_TTL must be .* between 1s and 366d/],
    [{ REFRESH_FAMILY_TTL: 'forever' }, /^REFRESH_FAMILY_TTL must be/],
    [{ REFRESH_GRACE_PERIOD: '10m' }, /^REFRESH_GRACE_PERIOD must be .* between 0s and 300s/],
    [{ KEY_ROTATION_INTERVAL: '30m' }, /^KEY_ROTATION_INTERVAL must be .* between 3600s and/],
    [
      { KEY_ROTATION_INTERVAL: '30d', JWT_ALGORITHM: 'HS256', JWT_SECRET: SECRET },
      /^KEY_ROTATION_INTERVAL needs an asymmetric JWT_ALGORITHM/
    ],
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_URL: 'redis://' }, /^REDIS_URL must be/],
    [{ REDIS_URL: 'redis://cache:6379/abc' }, /^REDIS_URL may name a database by number/],
    [{ REDIS_URL: 'redis://cache:6379?db=1' }, /^REDIS_URL takes no query string or fragment/],
    [
      { REDIS_URL: 'redis://:hunter%ZZ@cache:6379' },
      /^REDIS_URL has a user name or password with a bad percent-escape/
    ],
    [{ REDIS_KEY_PREFIX: 'two words' }, /^REDIS_KEY_PREFIX must be 1 to 64 printable ASCII/],
    [{ REDIS_KEY_PREFIX: 'a\nb' }, /^REDIS_KEY_PREFIX must be/],
    [{ TRUST_PROXY: '10.0.0.0/99' }, /^TRUST_PROXY must be/],
    [{ TRUST_PROXY: '10.0.0.0/33' }, /^TRUST_PROXY must be/],
    [{ ISSUER: 'https://user:pw@auth.example.com' }, /^ISSUER must not hold a user name/],
    [{ LOCKOUT_DURATION: '1h', LOCKOUT_MAX_DURATION: '1m' },
      /^LOCKOUT_DURATION must not be longer than LOCKOUT_MAX_DURATION/],
    [{ ACCESS_TOKEN_TTL: '15M' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ACCESS_TOKEN_TTL: '15 m' }, /^ACCESS_TOKEN_TTL must be/],
    [{ RATE_LIMIT_MAX: '1e1' }, /^RATE_LIMIT_MAX must be a whole number from 0 to 1000000000/],
    [{ RATE_LIMIT_MAX: '-1' }, /^RATE_LIMIT_MAX must be a whole number/],
    [{ LOCKOUT_THRESHOLD: '0x10' }, /^LOCKOUT_THRESHOLD must be a whole number from 0 to 1000/],
    [{ LOCKOUT_THRESHOLD: '2.5' }, /^LOCKOUT_THRESHOLD must be a whole number/],
    [
      { PASSWORD_HASH_CONCURRENCY: '65' },
      /^PASSWORD_HASH_CONCURRENCY must be a whole number from 0 to 64/
    ],
    [{ PASSWORD_HASH_CONCURRENCY: '' }, /^PASSWORD_HASH_CONCURRENCY must be a whole number/],
    [{ KEY_ENCRYPTION_SECRET: 'a'.repeat(40) }, /^KEY_ENCRYPTION_SECRET looks like a placeholder/],
    [{ ACCESS_TOKEN_TTL: '1.5h' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ACCESS_TOKEN_TTL: '1y' }, /^ACCESS_TOKEN_TTL must be/],
    [{ ACCESS_TOKEN_TTL: '15ms' }, /^ACCESS_TOKEN_TTL must be/],
    [{ SHUTDOWN_DELAY: '5m' }, /^SHUTDOWN_DELAY must be .* between 0s and 60s/],
    [{ METRICS_ENABLED: 'on' }, /^METRICS_ENABLED must be boolean/],
    [{ REDIS_KEY_PREFIX: '' }, /^REDIS_KEY_PREFIX must NOT have fewer than 1 characters/]
  ]

  for (const [env, message] of cases) {
    await t.rejects(settingsFrom(env), { code: 'FTI_CONFIG', message }, JSON.stringify(env))
  }
})

t.test('a bad value is never echoed back: it may be a secret', async (t) => {
  const error = await settingsFrom({ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'hunter2-is-my-secret' })
    .catch((error: Error) => error)
  t.match(error, { code: 'FTI_CONFIG', message: /JWT_SECRET/ })
  t.notMatch((error as Error).message, /hunter2/)
})
