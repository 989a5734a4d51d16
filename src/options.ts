import type { FastifyRequest } from 'fastify'
import {
  DEFAULT_REDIS_KEY_PREFIX, MAX_FAMILY_SECONDS, MAX_GRACE_SECONDS, MIN_ROTATION_SECONDS,
  SIGNING_ALGORITHMS, checkIssuer, checkLockout, checkKeyEncryptionSecret, checkSecret, parseTtl,
  type SigningAlgorithm
} from './config.js'
import type { LockoutPolicy } from './lockout.js'
import { ConfigError } from './errors.js'
import { checkRedisKeyPrefix, checkRedisUrl } from './redis.js'
import type { RefreshPolicy } from './refresh.js'

/** What a host's own user lookup returns for a good username and password. */
export interface VerifiedCredentials {
  /** The `sub` of the user's tokens: stable, and never reused for another user. */
  subject: string
  /** Extra claims for the user's access tokens (registered claims are ignored). */
  claims?: Record<string, unknown>
}

/**
 * A host's own user lookup for the password grant: the subject for a good username and password,
 * or nothing. It should cost the same for unknown users as for wrong passwords.
 */
export type VerifyCredentials = (
  username: string, password: string, request: FastifyRequest
) => VerifiedCredentials | undefined | null | Promise<VerifiedCredentials | undefined | null>

export interface ClaimsContext {
  subject: string
  /** The grant being served, or undefined for a direct `issueAccessToken` call. */
  grantType: string | undefined
  clientId: string | undefined
  scope: string[] | undefined
}

/** Adds custom claims to every access token; registered claims it returns are ignored. */
export type ClaimsHook = (
  context: ClaimsContext
) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>

/** The options of the token issuer plugin; they mirror the service's environment variables. */
export interface TokenIssuerOptions {
  /** The `iss` of every token and the base of the metadata URLs: an http(s) URL. */
  issuer: string
  /** The `aud` of every token (default: the issuer). */
  audience?: string
  /** Where clients, refresh tokens and signing keys live: `sqlite:<path>`. */
  databaseUrl: string
  /** Default ES256. */
  algorithm?: SigningAlgorithm
  /** The shared key, with `algorithm: 'HS256'` only: at least 32 bytes. */
  secret?: string | Buffer
  /** Seconds, or a duration such as '15m' (default 15m). */
  accessTokenTtl?: number | string
  /** Whether the password grant issues refresh tokens (default true). */
  refreshTokens?: boolean
  /** How long a refresh token lives unused (default 14d). */
  refreshTokenTtl?: number | string
  /** How long a login's refresh tokens live in all (default 90d). */
  refreshFamilyTtl?: number | string
  /** How long a replayed refresh token still gets the same successor (default 5s; 0 = off). */
  refreshGracePeriod?: number | string
  /** Whether the password grant may be used without client authentication (default true). */
  passwordGrantWithoutClient?: boolean
  /** Register the routes (default true); with false the plugin only decorates. */
  routes?: boolean
  /** The realm of the `WWW-Authenticate: Bearer` challenge of `authenticate` (default 'api'). */
  realm?: string
  /** The host's own user lookup; when given, stored users are not used for the password grant. */
  verifyCredentials?: VerifyCredentials
  /** Custom claims for every access token. */
  claims?: ClaimsHook
  /**
   * Requests per window (seconds or a duration) and client address on `/token`, `/revoke` and
   * `/introspect` (default 30 per 1m); false turns it off.
   */
  rateLimit?: { max: number, window: number | string } | false
  /**
   * Failed logins for one username before it is locked for `duration`, doubled by each further
   * failure up to `maxDuration` (default 5, 30s, 15m); false turns it off.
   */
  lockout?: { threshold: number, duration: number | string, maxDuration: number | string } | false
  /** Encrypts private signing keys at rest (AES-256-GCM); at least 32 bytes. */
  keyEncryptionSecret?: string | Buffer
  /** Rotate the signing key this often (seconds or a duration, at least 1h); default never. */
  keyRotationInterval?: number | string
  /**
   * A Redis (`redis://...`) for what replicas share: the access token deny list, login lockout
   * and rate-limit counters. Without it they stay in the store and in this process.
   */
  redisUrl?: string
  /** What every key written to Redis starts with (default 'token-issuer:'). */
  redisKeyPrefix?: string
  /** Serve Prometheus metrics at `/metrics` (default false; the registry is always decorated). */
  metrics?: boolean
  /** argon2id verifications at once (default: one fewer than the CPUs, at least 1). */
  passwordHashConcurrency?: number
}

/** The options after checks and defaults. */
export interface ResolvedOptions {
  issuer: string
  audience: string
  databaseUrl: string
  algorithm: SigningAlgorithm
  secret?: Buffer
  accessTokenTtl: number
  refreshTokens: boolean
  refresh: RefreshPolicy
  passwordGrantWithoutClient: boolean
  routes: boolean
  realm: string
  verifyCredentials?: VerifyCredentials
  claims?: ClaimsHook
  rateLimit: { max: number, window: number } | false
  lockout: LockoutPolicy | false
  keyEncryptionSecret?: Buffer
  keyRotationInterval?: number
  redisUrl?: string
  redisKeyPrefix: string
  metrics: boolean
  passwordHashConcurrency?: number
}

const NAME = 'tokenIssuer option'

/** Checks the options once, at registration: a bad one fails the registration, naming it. */
export function resolveOptions (options: TokenIssuerOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('tokenIssuer needs options: { issuer, databaseUrl, ... }')
  }
  const issuer = checkIssuer(`${NAME} issuer`, requiredString('issuer', options.issuer))
  const databaseUrl = requiredString('databaseUrl', options.databaseUrl)
  const algorithm = options.algorithm ?? 'ES256'
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new ConfigError(`${NAME} algorithm must be one of ${SIGNING_ALGORITHMS.join(', ')}`)
  }

  return {
    issuer,
    audience: options.audience === undefined
      ? issuer
      : requiredString('audience', options.audience),
    databaseUrl,
    algorithm,
    ...secretOption(algorithm, options.secret),
    accessTokenTtl: parseTtl(`${NAME} accessTokenTtl`, options.accessTokenTtl ?? '15m'),
    refreshTokens: flag('refreshTokens', options.refreshTokens, true),
    refresh: {
      ttl: parseTtl(`${NAME} refreshTokenTtl`, options.refreshTokenTtl ?? '14d'),
      familyTtl: parseTtl(`${NAME} refreshFamilyTtl`, options.refreshFamilyTtl ?? '90d',
        { max: MAX_FAMILY_SECONDS }),
      gracePeriod: parseTtl(`${NAME} refreshGracePeriod`, options.refreshGracePeriod ?? '5s',
        { min: 0, max: MAX_GRACE_SECONDS })
    },
    passwordGrantWithoutClient: flag('passwordGrantWithoutClient',
      options.passwordGrantWithoutClient, true),
    routes: flag('routes', options.routes, true),
    realm: realmOption(options.realm),
    ...functionOption('verifyCredentials', options.verifyCredentials),
    ...functionOption('claims', options.claims),
    rateLimit: rateLimitOption(options.rateLimit),
    lockout: lockoutOption(options.lockout),
    ...(options.keyEncryptionSecret === undefined
      ? {}
      : {
          keyEncryptionSecret: checkKeyEncryptionSecret(`${NAME} keyEncryptionSecret`,
            options.keyEncryptionSecret)
        }),
    ...rotationOption(algorithm, options.keyRotationInterval),
    ...(options.redisUrl === undefined
      ? {}
      : { redisUrl: checkRedisUrl(`${NAME} redisUrl`, options.redisUrl) }),
    redisKeyPrefix: options.redisKeyPrefix === undefined
      ? DEFAULT_REDIS_KEY_PREFIX
      : checkRedisKeyPrefix(`${NAME} redisKeyPrefix`,
        requiredString('redisKeyPrefix', options.redisKeyPrefix)),
    metrics: flag('metrics', options.metrics, false),
    ...concurrencyOption(options.passwordHashConcurrency)
  }
}

function concurrencyOption (value: unknown) {
  if (value === undefined) return {}
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new ConfigError(`${NAME} passwordHashConcurrency must be a whole number of at least 1`)
  }
  return { passwordHashConcurrency: value as number }
}

function rotationOption (algorithm: SigningAlgorithm, interval: number | string | undefined) {
  if (interval === undefined) return {}
  if (algorithm === 'HS256') {
    throw new ConfigError(`${NAME} keyRotationInterval needs an asymmetric algorithm, not HS256`)
  }
  return {
    keyRotationInterval: parseTtl(`${NAME} keyRotationInterval`, interval,
      { min: MIN_ROTATION_SECONDS })
  }
}

function rateLimitOption (value: TokenIssuerOptions['rateLimit']) {
  if (value === false) return false
  const { max = 30, window = '1m' } = value ?? {}
  if (!Number.isInteger(max) || max < 1) {
    throw new ConfigError(`${NAME} rateLimit.max must be a whole number of at least 1`)
  }
  return { max, window: parseTtl(`${NAME} rateLimit.window`, window) }
}

function lockoutOption (value: TokenIssuerOptions['lockout']): LockoutPolicy | false {
  if (value === false) return false
  const { threshold = 5, duration = '30s', maxDuration = '15m' } = value ?? {}
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new ConfigError(`${NAME} lockout.threshold must be a whole number of at least 1`)
  }
  return checkLockout({
    threshold,
    duration: parseTtl(`${NAME} lockout.duration`, duration),
    maxDuration: parseTtl(`${NAME} lockout.maxDuration`, maxDuration)
  }, `${NAME} lockout.duration`, 'lockout.maxDuration')
}

function requiredString (name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(`${NAME} ${name} is required and must be a non-empty string`)
  }
  return value
}

function flag (name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new ConfigError(`${NAME} ${name} must be true or false`)
  return value
}

function secretOption (algorithm: SigningAlgorithm, secret: string | Buffer | undefined) {
  if (algorithm !== 'HS256') {
    if (secret !== undefined) {
      throw new ConfigError(`${NAME} secret is only used with algorithm HS256, not ${algorithm}`)
    }
    return {}
  }
  return { secret: checkSecret(`${NAME} secret`, secret) }
}

function realmOption (realm: unknown): string {
  if (realm === undefined) return 'api'
  // The realm is quoted in a header: no quotes, backslashes or control characters.
  if (typeof realm !== 'string' || !/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/.test(realm)) {
    throw new ConfigError(`${NAME} realm must be printable ASCII without quotes or backslashes`)
  }
  return realm
}

function functionOption<K extends 'verifyCredentials' | 'claims'> (name: K, value: unknown) {
  if (value === undefined) return {}
  if (typeof value !== 'function') throw new ConfigError(`${NAME} ${name} must be a function`)
  return { [name]: value } as Pick<ResolvedOptions, K>
}
