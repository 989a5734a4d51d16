import { resolve } from 'node:path'
import { parse as parseDuration } from '@lukeed/ms'
import { ConfigError } from './errors.js'
import { checkNewPassword, checkNewUsername } from './credentials.js'
import type { RefreshPolicy } from './refresh.js'

export const SIGNING_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'HS256'] as const
export type SigningAlgorithm = typeof SIGNING_ALGORITHMS[number]

/** The environment variables of the service, as @fastify/env validates them. */
export const envSchema = {
  type: 'object',
  required: [],
  properties: {
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info'
    },
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
    REFRESH_GRACE_PERIOD: { type: 'string', minLength: 1, default: '5s' }
  }
} as const

/** The environment after @fastify/env has applied defaults and types. */
export interface Env {
  HOST: string
  PORT: number
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
}

const MIN_TTL_SECONDS = 1
const MAX_TTL_SECONDS = 366 * 24 * 3600
export const MAX_FAMILY_SECONDS = 3 * MAX_TTL_SECONDS
export const MAX_GRACE_SECONDS = 300
/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
export const MIN_HS256_SECRET_BYTES = 32

/** Checks what a JSON schema cannot and fills the derived defaults. Throws a ConfigError. */
export function resolveSettings (env: Env): Settings {
  const dataDir = resolve(env.DATA_DIR)
  const issuer = checkIssuer('ISSUER', env.ISSUER ?? `http://localhost:${env.PORT}`)

  return {
    host: env.HOST,
    port: env.PORT,
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
    }
  }
}

/** A duration as seconds: `900`, `15m`, `12h`, `1d` (or a number of seconds). */
export function parseTtl (
  name: string, input: string | number, { min = MIN_TTL_SECONDS, max = MAX_TTL_SECONDS } = {}
): number {
  const value = String(input)
  const milliseconds = /^\d+$/.test(value) ? Number(value) * 1000 : parseDuration(value)
  const seconds = milliseconds === undefined ? NaN : milliseconds / 1000
  // @lukeed/ms reads "0" and "0s" as no value at all.
  const zero = /^0+[a-z ]*$/i.test(value)

  if (zero && min === 0) return 0
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new ConfigError(`${name} must be a whole number of seconds between ${human(min)} and ` +
      `${human(max)}, such as 900, 15m or 1d`)
  }
  return seconds
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
  // A PEM block here is a key pasted into the wrong variable (RFC 8725 §3.1: never guess the alg).
  if (bytes.toString('utf8').includes('-----BEGIN')) {
    throw new ConfigError(`${name} looks like a PEM key; HS256 needs a random shared secret`)
  }
  return bytes
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
  const detail = allowed === undefined ? first.message : `must be one of ${allowed.join(', ')}`
  return `${name} ${detail}`
}
