import { isIP } from 'node:net'
import proxyAddr from '@fastify/proxy-addr'
import { resolve } from 'node:path'
import { ConfigError } from './errors.js'
import { checkNewPassword, checkNewUsername } from './credentials.js'
import type { LockoutPolicy } from './lockout.js'
import { LOG_LEVELS } from './logger.js'
import { checkRedisKeyPrefix, checkRedisUrl } from './redis.js'
import type { RefreshPolicy } from './refresh.js'

export const DEFAULT_REDIS_KEY_PREFIX = 'token-issuer:'

export const SIGNING_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'HS256'] as const
export type SigningAlgorithm = typeof SIGNING_ALGORITHMS[number]

/** The environment variables of the service, as @fastify/env validates them. */
export const envSchema = {
  type: 'object',
  required: [],
  properties: {
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    // A string, so that 0x10 or 1e3 are refused rather than read as numbers.
    PORT: { type: 'string', pattern: '^[0-9]{1,5}$', default: '3000' },
    LOG_LEVEL: { type: 'string', enum: [...LOG_LEVELS], default: 'info' },
    DATA_DIR: { type: 'string', minLength: 1, default: './data' },
    DATABASE_URL: { type: 'string', minLength: 1 },
    ISSUER: { type: 'string', minLength: 1 },
    AUDIENCE: { type: 'string', minLength: 1 },
    ACCESS_TOKEN_TTL: { type: 'string', minLength: 1, default: '15m' },
    JWT_ALGORITHM: { type: 'string', enum: [...SIGNING_ALGORITHMS], default: 'ES256' },
    JWT_SECRET: { type: 'string' },
    BOOTSTRAP_USERNAME: { type: 'string' },
    BOOTSTRAP_PASSWORD: { type: 'string' },
    PASSWORD_GRANT_WITHOUT_CLIENT: { type: 'boolean', default: true },
    REFRESH_TOKENS: { type: 'boolean', default: true },
    REFRESH_TOKEN_TTL: { type: 'string', minLength: 1, default: '14d' },
    REFRESH_FAMILY_TTL: { type: 'string', minLength: 1, default: '90d' },
    REFRESH_GRACE_PERIOD: { type: 'string', minLength: 1, default: '5s' },
    TRUST_PROXY: { type: 'string', default: 'false' },
    // Strings, like PORT, and read by wholeNumber(): Ajv would take 1e1 or 0x10 for numbers.
    RATE_LIMIT_MAX: { type: 'string', default: '30' },
    RATE_LIMIT_WINDOW: { type: 'string', minLength: 1, default: '1m' },
    LOCKOUT_THRESHOLD: { type: 'string', default: '5' },
    LOCKOUT_DURATION: { type: 'string', minLength: 1, default: '30s' },
    LOCKOUT_MAX_DURATION: { type: 'string', minLength: 1, default: '15m' },
    CORS_ORIGINS: { type: 'string', default: '' },
    KEY_ENCRYPTION_SECRET: { type: 'string' },
    KEY_ROTATION_INTERVAL: { type: 'string', default: '' },
    REDIS_URL: { type: 'string', default: '' },
    REDIS_KEY_PREFIX: { type: 'string', minLength: 1, default: DEFAULT_REDIS_KEY_PREFIX },
    METRICS_ENABLED: { type: 'boolean', default: true },
    PASSWORD_HASH_CONCURRENCY: { type: 'string', default: '0' },
    SHUTDOWN_DELAY: { type: 'string', minLength: 1, default: '2s' }
  }
} as const

/** The environment after @fastify/env has applied defaults and types. */
export interface Env {
  HOST: string
  PORT: string
  LOG_LEVEL: string
  DATA_DIR: string
  DATABASE_URL?: string
  ISSUER?: string
  AUDIENCE?: string
  ACCESS_TOKEN_TTL: string
  JWT_ALGORITHM: SigningAlgorithm
  JWT_SECRET?: string
  BOOTSTRAP_USERNAME?: string
  BOOTSTRAP_PASSWORD?: string
  PASSWORD_GRANT_WITHOUT_CLIENT: boolean
  REFRESH_TOKENS: boolean
  REFRESH_TOKEN_TTL: string
  REFRESH_FAMILY_TTL: string
  REFRESH_GRACE_PERIOD: string
  TRUST_PROXY: string
  RATE_LIMIT_MAX: string
  RATE_LIMIT_WINDOW: string
  LOCKOUT_THRESHOLD: string
  LOCKOUT_DURATION: string
  LOCKOUT_MAX_DURATION: string
  CORS_ORIGINS: string
  KEY_ENCRYPTION_SECRET?: string
  KEY_ROTATION_INTERVAL: string
  REDIS_URL: string
  REDIS_KEY_PREFIX: string
  METRICS_ENABLED: boolean
  PASSWORD_HASH_CONCURRENCY: string
  SHUTDOWN_DELAY: string
}

/** Everything the service runs on, checked and resolved. */
export interface Settings {
  host: string
  port: number
  logLevel: string
  dataDir: string
  databaseUrl: string
  issuer: string
  audience: string
  /** Access token lifetime in seconds. */
  accessTokenTtl: number
  algorithm: SigningAlgorithm
  /** The HS256 key; only with `algorithm: 'HS256'`. */
  secret?: Buffer
  bootstrap?: { username: string, password: string }
  /** Whether the password grant may be used without client authentication. */
  passwordGrantWithoutClient: boolean
  /** Whether the password grant issues refresh tokens. */
  refreshTokens: boolean
  refresh: RefreshPolicy
  /** Which proxies' X-Forwarded-For to believe: false, true (all), a hop count, or addresses. */
  trustProxy: boolean | number | string[]
  /** Requests per window and client address on the OAuth endpoints; false when off. */
  rateLimit: { max: number, window: number } | false
  /** Failed logins per username before it is locked; false when off. */
  lockout: LockoutPolicy | false
  /** Origins allowed by CORS; empty: CORS off. */
  corsOrigins: string[]
  /** Encrypts private signing keys at rest when set. */
  keyEncryptionSecret?: Buffer
  /** Seconds between automatic signing key rotations; absent: keys rotate only by the CLI. */
  keyRotationInterval?: number
  /** The Redis replicas share counters and the deny list through; absent: none. */
  redisUrl?: string
  /** What every key this service writes to Redis starts with. */
  redisKeyPrefix: string
  /** Whether `/metrics` is served. */
  metricsEnabled: boolean
  /** argon2id verifications at once; absent: one fewer than the CPUs. */
  passwordHashConcurrency?: number
  /** Seconds between SIGTERM (readiness failing) and the listener closing. */
  shutdownDelay: number
}

const MIN_TTL_SECONDS = 1
const MAX_TTL_SECONDS = 366 * 24 * 3600
export const MAX_FAMILY_SECONDS = 3 * MAX_TTL_SECONDS
export const MAX_GRACE_SECONDS = 300
/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
export const MIN_HS256_SECRET_BYTES = 32
const MIN_DISTINCT_SECRET_BYTES = 8

/** Checks what a JSON schema cannot and fills the derived defaults. Throws a ConfigError. */
export function resolveSettings (env: Env): Settings {
  const dataDir = resolve(env.DATA_DIR)
  const port = Number(env.PORT)
  if (port > 65535) throw new ConfigError('PORT must be at most 65535')
  if (port === 0 && env.ISSUER === undefined) {
    throw new ConfigError('ISSUER is required with PORT=0: the port is only known after start')
  }
  const issuer = checkIssuer('ISSUER', env.ISSUER ?? `http://localhost:${port}`)
  const rateLimitMax = wholeNumber('RATE_LIMIT_MAX', env.RATE_LIMIT_MAX, 1_000_000_000)
  const lockoutThreshold = wholeNumber('LOCKOUT_THRESHOLD', env.LOCKOUT_THRESHOLD, 1000)
  const hashConcurrency = wholeNumber('PASSWORD_HASH_CONCURRENCY', env.PASSWORD_HASH_CONCURRENCY,
    64)

  return {
    host: env.HOST,
    port,
    logLevel: env.LOG_LEVEL,
    dataDir,
    databaseUrl: env.DATABASE_URL ?? `sqlite:${resolve(dataDir, 'token-issuer.db')}`,
    issuer,
    // A laptop setup has one party verifying tokens: the issuer's own audience is a safe default.
    audience: env.AUDIENCE ?? issuer,
    accessTokenTtl: parseTtl('ACCESS_TOKEN_TTL', env.ACCESS_TOKEN_TTL),
    algorithm: env.JWT_ALGORITHM,
    ...secretSetting(env.JWT_ALGORITHM, env.JWT_SECRET),
    ...bootstrapSetting(env.BOOTSTRAP_USERNAME, env.BOOTSTRAP_PASSWORD),
    passwordGrantWithoutClient: env.PASSWORD_GRANT_WITHOUT_CLIENT,
    refreshTokens: env.REFRESH_TOKENS,
    refresh: {
      ttl: parseTtl('REFRESH_TOKEN_TTL', env.REFRESH_TOKEN_TTL),
      familyTtl: parseTtl('REFRESH_FAMILY_TTL', env.REFRESH_FAMILY_TTL,
        { max: MAX_FAMILY_SECONDS }),
      gracePeriod: parseTtl('REFRESH_GRACE_PERIOD', env.REFRESH_GRACE_PERIOD,
        { min: 0, max: MAX_GRACE_SECONDS })
    },
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    rateLimit: rateLimitMax === 0
      ? false
      : { max: rateLimitMax, window: parseTtl('RATE_LIMIT_WINDOW', env.RATE_LIMIT_WINDOW) },
    lockout: lockoutThreshold === 0
      ? false
      : checkLockout({
        threshold: lockoutThreshold,
        duration: parseTtl('LOCKOUT_DURATION', env.LOCKOUT_DURATION),
        maxDuration: parseTtl('LOCKOUT_MAX_DURATION', env.LOCKOUT_MAX_DURATION)
      }, 'LOCKOUT_DURATION', 'LOCKOUT_MAX_DURATION'),
    corsOrigins: parseOrigins(env.CORS_ORIGINS),
    ...rotationSetting(env.JWT_ALGORITHM, env.KEY_ROTATION_INTERVAL),
    ...(env.REDIS_URL.trim() === '' ? {} : { redisUrl: checkRedisUrl('REDIS_URL', env.REDIS_URL) }),
    redisKeyPrefix: checkRedisKeyPrefix('REDIS_KEY_PREFIX', env.REDIS_KEY_PREFIX),
    metricsEnabled: env.METRICS_ENABLED,
    ...(hashConcurrency === 0 ? {} : { passwordHashConcurrency: hashConcurrency }),
    shutdownDelay: parseTtl('SHUTDOWN_DELAY', env.SHUTDOWN_DELAY,
      { min: 0, max: MAX_SHUTDOWN_DELAY }),
    ...(env.KEY_ENCRYPTION_SECRET === undefined || env.KEY_ENCRYPTION_SECRET === ''
      ? {}
      : {
          keyEncryptionSecret: checkKeyEncryptionSecret('KEY_ENCRYPTION_SECRET',
            env.KEY_ENCRYPTION_SECRET)
        })
  }
}

/**
 * TRUST_PROXY: `false` (default: the client address is the peer), `true` (trust every proxy),
 * a number of proxy hops, or a comma-separated list of proxy addresses or CIDR ranges.
 */
export function parseTrustProxy (value: string): boolean | number | string[] {
  const text = value.trim()
  if (text === '' || text === 'false') return false
  if (text === 'true') return true
  if (/^\d+$/.test(text)) return Number(text)

  const entries = text.split(',').map((entry) => entry.trim())
  for (const entry of entries) {
    const [address, bits, ...rest] = entry.split('/')
    const prefix = bits === undefined ? undefined : Number(bits)
    const width = isIP(address ?? '') === 4 ? 32 : 128
    const named = ['loopback', 'linklocal', 'uniquelocal'].includes(entry)
    const valid = named || (isIP(address ?? '') !== 0 && rest.length === 0 &&
      (prefix === undefined || (Number.isInteger(prefix) && prefix >= 0 && prefix <= width)))
    if (!valid) {
      throw new ConfigError('TRUST_PROXY must be true, false, a hop count, or a comma-separated ' +
        `list of addresses and CIDR ranges (not ${JSON.stringify(entry.slice(0, 40))})`)
    }
  }
  try {
    proxyAddr.compile(entries)
  } catch (error) {
    throw new ConfigError(`TRUST_PROXY: ${(error as Error).message}`)
  }
  return entries
}

/**
 * The function Fastify asks whether to believe the proxy at `address`, `hop` steps from us.
 * The server is created before the configuration is read, so it asks through this.
 */
export function trustProxyFunction (setting: boolean | number | string[]) {
  if (typeof setting === 'boolean') return () => setting
  if (typeof setting === 'number') return (_address: string, hop: number) => hop < setting
  return proxyAddr.compile(setting)
}

/** CORS_ORIGINS: comma-separated origins such as https://app.example.com; never `*`. */
export function parseOrigins (value: string): string[] {
  const origins = value.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '')
  for (const origin of origins) {
    let url: URL | undefined
    try {
      url = new URL(origin)
    } catch {}
    if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.origin !== origin) {
      throw new ConfigError('CORS_ORIGINS must list origins like https://app.example.com ' +
        `(scheme, host and port only), not ${JSON.stringify(origin.slice(0, 60))}`)
    }
  }
  return origins
}

export const MIN_KEY_ENCRYPTION_SECRET_BYTES = 32

export function checkKeyEncryptionSecret (name: string, secret: string | Buffer): Buffer {
  const bytes = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8')
  if (bytes.length < MIN_KEY_ENCRYPTION_SECRET_BYTES) {
    throw new ConfigError(`${name} must be at least ${MIN_KEY_ENCRYPTION_SECRET_BYTES} bytes ` +
      `(got ${bytes.length}); openssl rand -base64 32 makes one`)
  }
  if (new Set(bytes).size < MIN_DISTINCT_SECRET_BYTES) {
    throw new ConfigError(`${name} looks like a placeholder: use a random secret ` +
      '(openssl rand -base64 32)')
  }
  return bytes
}

const UNIT_SECONDS: Readonly<Record<string, number>> = Object.freeze({
  s: 1, m: 60, h: 3600, d: 86400, w: 604800
})

/**
 * A duration as seconds: a whole number of seconds (`900`), or a whole number with one unit, in
 * lower case (`30s`, `15m`, `12h`, `1d`, `2w`). Nothing else: `15M` or `1.5h` would be guesses.
 */
export function parseTtl (
  name: string, input: string | number, { min = MIN_TTL_SECONDS, max = MAX_TTL_SECONDS } = {}
): number {
  const match = /^(\d{1,12})([smhdw]?)$/.exec(String(input).trim())
  const seconds = match === null
    ? NaN
    : Number(match[1]) * (UNIT_SECONDS[match[2] as string] ?? 1)
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new ConfigError(`${name} must be a whole number of seconds between ${human(min)} and ` +
      `${human(max)}: a number of seconds, or a number with a unit (s, m, h, d, w)`)
  }
  return seconds
}

/** A count written in decimal digits only, from 0 to `max`. */
function wholeNumber (name: string, input: string, max: number): number {
  const value = /^\d{1,10}$/.test(input.trim()) ? Number(input.trim()) : NaN
  if (!(value <= max)) throw new ConfigError(`${name} must be a whole number from 0 to ${max}`)
  return value
}

function human (seconds: number): string {
  return seconds >= 86400 && seconds % 86400 === 0 ? `${seconds / 86400}d` : `${seconds}s`
}

export function checkIssuer (name: string, value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(
      `${name} must be an absolute http(s) URL, such as https://auth.example.com`
    )
  }
  // RFC 8414 §2: the issuer is an https URL with no query or fragment (http allowed for a laptop).
  if (!['http:', 'https:'].includes(url.protocol) || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`${name} must be an http(s) URL without query or fragment`)
  }
  // The issuer is published in every token and in the metadata: never with credentials in it.
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(`${name} must not hold a user name or password`)
  }
  return value
}

function secretSetting (algorithm: SigningAlgorithm, secret: string | undefined) {
  if (algorithm !== 'HS256') {
    if (secret !== undefined && secret !== '') {
      throw new ConfigError(
        `JWT_SECRET is only used with JWT_ALGORITHM=HS256; unset it to sign with ${algorithm}`
      )
    }
    return {}
  }

  return { secret: checkSecret('JWT_SECRET', secret) }
}

/** An HS256 key as raw octets: long enough, and never key material of another kind. */
export function checkSecret (name: string, secret: string | Buffer | undefined): Buffer {
  if (secret === undefined || secret.length === 0) {
    throw new ConfigError(`${name} is required when the algorithm is HS256`)
  }
  const bytes = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8')
  if (bytes.length < MIN_HS256_SECRET_BYTES) {
    throw new ConfigError(
      `${name} must be at least ${MIN_HS256_SECRET_BYTES} bytes for HS256 (got ${bytes.length})`
    )
  }
  // Spaces or one repeated character make the right length and no secret at all.
  if (new Set(bytes).size < MIN_DISTINCT_SECRET_BYTES) {
    throw new ConfigError(`${name} looks like a placeholder: use a random secret ` +
      '(openssl rand -base64 48)')
  }
  // A PEM block here is a key pasted into the wrong variable (RFC 8725 §3.1: never guess the alg).
  if (bytes.toString('utf8').includes('-----BEGIN')) {
    throw new ConfigError(`${name} looks like a PEM key; HS256 needs a random shared secret`)
  }
  return bytes
}

/** The first lock cannot be longer than the longest. */
export function checkLockout (
  policy: LockoutPolicy, durationName: string, maxName: string
): LockoutPolicy {
  if (policy.duration > policy.maxDuration) {
    throw new ConfigError(`${durationName} must not be longer than ${maxName}`)
  }
  return policy
}

export const MIN_ROTATION_SECONDS = 3600
/** Container platforms stop a process after about 30 s: draining must end well before. */
const MAX_SHUTDOWN_DELAY = 60

function rotationSetting (algorithm: SigningAlgorithm, interval: string) {
  if (interval.trim() === '') return {}
  if (algorithm === 'HS256') {
    throw new ConfigError('KEY_ROTATION_INTERVAL needs an asymmetric JWT_ALGORITHM: an HS256 key ' +
      'is JWT_SECRET, changed by the operator')
  }
  return {
    keyRotationInterval: parseTtl('KEY_ROTATION_INTERVAL', interval, { min: MIN_ROTATION_SECONDS })
  }
}

function bootstrapSetting (username: string | undefined, password: string | undefined) {
  const given = (value: string | undefined) => value !== undefined && value !== ''
  if (!given(username) && !given(password)) return {}
  if (!given(username)) {
    throw new ConfigError('BOOTSTRAP_USERNAME is required with BOOTSTRAP_PASSWORD')
  }
  if (!given(password)) {
    throw new ConfigError('BOOTSTRAP_PASSWORD is required with BOOTSTRAP_USERNAME')
  }

  return {
    bootstrap: {
      username: withVariable('BOOTSTRAP_USERNAME', () => checkNewUsername(username as string)),
      password: withVariable('BOOTSTRAP_PASSWORD', () => checkNewPassword(password as string))
    }
  }
}

function withVariable<T> (name: string, check: () => T): T {
  try {
    return check()
  } catch (error) {
    throw new ConfigError(`${name}: ${(error as Error).message}`)
  }
}

/** Turns an @fastify/env (Ajv) failure into a message that names the variable. */
export function describeEnvError (error: Error & { errors?: Array<Record<string, any>> }): string {
  const first = error.errors?.[0]
  if (first === undefined) return error.message

  const name = first.params?.missingProperty ?? String(first.instancePath ?? '').replace(/^\//, '')
  const allowed = first.params?.allowedValues as string[] | undefined
  const detail = allowed !== undefined
    ? `must be one of ${allowed.join(', ')}`
    : first.keyword === 'pattern' && name === 'PORT'
      ? 'must be a whole number from 0 to 65535'
      : first.message
  return `${name} ${detail}`
}
