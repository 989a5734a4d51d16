import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { authenticateUser } from './accounts.js'
import { parseScope } from './clients.js'
import {
  MAX_PASSWORD_BYTES, MAX_USERNAME_LENGTH, malformedUnicode, normaliseUsername, passwordTooLong
} from './credentials.js'
import type { Lockout } from './lockout.js'
import type { IssuerMetrics } from './metrics.js'
import type { ClaimsHook, VerifyCredentials } from './options.js'
import {
  InvalidClientError, InvalidGrantError, InvalidRequestError, InvalidScopeError, LoginLockedError,
  UnauthorizedClientError, UnsupportedGrantTypeError
} from './errors.js'
import type { PasswordVerifier } from './passwords.js'
import { rotate, startFamily, type RefreshPolicy } from './refresh.js'
import type { Client, Store } from './store/index.js'
import type { RefreshFamily } from './store/refresh-tokens.js'
import type { AccessTokenResponse } from './tokens.js'

/** Token request parameters after the body schema: each one a single string, or absent. */
export type TokenParameters = Record<string, string | undefined>

/** The body of a successful token response (RFC 6749 §5.1). */
export interface TokenResponse extends AccessTokenResponse {
  refresh_token?: string
  scope?: string
}

/** What the grants run on: the store, the signer and the settings, for one request. */
export interface GrantContext {
  store: Store
  passwords: PasswordVerifier
  signAccessToken: (
    subject: string, claims: Record<string, unknown>, options: { audience?: string }
  ) => AccessTokenResponse
  passwordGrantWithoutClient: boolean
  refreshTokens: boolean
  refresh: RefreshPolicy
  verifyCredentials?: VerifyCredentials
  claims?: ClaimsHook
  lockout?: Lockout
  metrics: IssuerMetrics
  log: FastifyBaseLogger
}

/** What a grant gets: the parameters and the authenticated client, if the request had one. */
export interface GrantRequest {
  params: TokenParameters
  client: Client | undefined
  request: FastifyRequest
}

/** Claims only the issuer sets: neither a claims hook nor a host's user lookup can set them. */
const REGISTERED_CLAIMS = new Set(
  ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope']
)

/** One answer for every failed login: it must not tell which part was wrong (RFC 6749 §5.2). */
export const LOGIN_FAILED = 'The username or password is incorrect'
export const LOGIN_LOCKED = 'Too many failed logins for this username; try again later'
/** As many logins for the username are under way as may still fail: not a lock, a moment. */
export const LOGIN_BUSY = 'Too many logins at once for this username; try again shortly'

export const SUPPORTED_GRANTS = ['password', 'client_credentials', 'refresh_token'] as const

/**
 * The grant a request asks for, checked before anything else so that a malformed request is never
 * answered as a client failure (C02). RFC 6749 §3.2 counts a parameter sent without a value as
 * omitted. In a JSON body (our extension), `username` with `password` and no `grant_type` means
 * the password grant.
 */
export function grantTypeOf (params: TokenParameters, isJson: boolean): string {
  const grantType = present(params.grant_type)
  if (grantType === undefined) {
    const credentials = present(params.username) !== undefined &&
      present(params.password) !== undefined
    if (isJson && credentials) return 'password'
    throw new InvalidRequestError('Missing required parameter: grant_type')
  }
  if (!(SUPPORTED_GRANTS as readonly string[]).includes(grantType)) {
    // RFC 6749 §5.2: error_description is printable ASCII without quotes or backslashes.
    const echo = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(grantType) ? ` ${grantType}` : ''
    throw new UnsupportedGrantTypeError(`The grant type${echo} is not supported`)
  }
  return grantType
}

/** The grant's handler, once the client (if any) is known. */
export async function runGrant (
  context: GrantContext, grantType: string, request: GrantRequest
): Promise<TokenResponse> {
  const { client } = request
  if (client !== undefined && !client.grantTypes.includes(grantType)) {
    throw new UnauthorizedClientError(`The client may not use the ${grantType} grant`)
  }

  switch (grantType) {
    case 'password': return await passwordGrant(context, request)
    case 'client_credentials': return await clientCredentialsGrant(context, request)
    default: return await refreshTokenGrant(context, request)
  }
}

/** RFC 6749 §4.3: the resource owner's username and password are the grant. */
async function passwordGrant (context: GrantContext, grant: GrantRequest) {
  const { params, client } = grant
  if (client === undefined && !context.passwordGrantWithoutClient) {
    throw new InvalidClientError('The password grant needs client authentication')
  }
  const username = required(params, 'username')
  const password = required(params, 'password')
  // Refused before hashing: a megabyte password would otherwise buy a megabyte of argon2 work.
  if (passwordTooLong(password)) {
    throw new InvalidRequestError(
      `The password parameter is longer than ${MAX_PASSWORD_BYTES} bytes`
    )
  }
  if (malformedUnicode(username) || malformedUnicode(password)) {
    throw new InvalidRequestError('The username and password must be well-formed Unicode')
  }
  if ([...username].length > MAX_USERNAME_LENGTH) {
    throw new InvalidRequestError(`The username parameter is longer than ${MAX_USERNAME_LENGTH}`)
  }
  const scope = grantedScope(client, parseScope(params.scope))
  const ip = grant.request.ip
  // Unknown usernames are counted alike, so a lock says nothing about whether an account exists.
  const lockKey = normaliseUsername(username) ?? username
  // Attempts under way count until they end: parallel guesses cannot outrun the threshold.
  const attempt = await context.lockout?.attempt(lockKey)
  if (attempt?.refused === true) {
    context.log.warn({ username, ip, retryAfter: attempt.retryAfter },
      attempt.busy ? 'login refused: too many at once' : 'login refused: username locked')
    throw Object.assign(new LoginLockedError(attempt.busy ? LOGIN_BUSY : LOGIN_LOCKED),
      { retryAfter: attempt.retryAfter })
  }

  let owner: Awaited<ReturnType<typeof resourceOwner>>
  try {
    owner = await resourceOwner(context, username, password, grant.request)
  } catch (error) {
    // Not checked (the store is away, say): it neither counts as a failure nor resets.
    await attempt?.settle('error')
    throw error
  }
  const locks = await attempt?.settle(owner === undefined ? 'failure' : 'success') ?? 0
  if (owner === undefined) {
    if (locks > 0) context.metrics.lockouts.inc()
    const lock = locks > 0 ? { lockedFor: locks } : {}
    context.log.warn({ username, ip, clientId: client?.id, ...lock }, 'login failed')
    throw new InvalidGrantError(LOGIN_FAILED)
  }

  const refreshable = client === undefined || client.grantTypes.includes('refresh_token')
  return await issueTokens(context, {
    ...owner, client, scope, grantType: 'password', refresh: context.refreshTokens && refreshable
  })
}

/** The subject a username and password name: the host's lookup if given, else a stored user. */
async function resourceOwner (
  context: GrantContext, username: string, password: string, request: FastifyRequest
): Promise<Omit<Issuance, 'client' | 'scope' | 'grantType'> | undefined> {
  if (context.verifyCredentials !== undefined) {
    const verified = await context.verifyCredentials(username, password, request)
    if (verified === undefined || verified === null) return undefined
    if (typeof verified.subject !== 'string' || verified.subject === '') {
      throw new TypeError('verifyCredentials must return { subject } with a non-empty string')
    }
    return { subject: verified.subject, userId: null, claims: unregistered(verified.claims) }
  }

  const user = await authenticateUser(context.store.users, context.passwords, username, password)
  if (user === undefined) return undefined
  return { subject: user.id, userId: user.id, claims: { preferred_username: user.username } }
}

/** RFC 6749 §4.4: a confidential client asks for a token for itself; no refresh token. */
async function clientCredentialsGrant (context: GrantContext, { params, client }: GrantRequest) {
  if (client === undefined) {
    throw new InvalidClientError('The client_credentials grant needs client authentication')
  }
  if (client.secretHash === null) {
    throw new UnauthorizedClientError('A public client cannot use the client_credentials grant')
  }

  const scope = grantedScope(client, parseScope(params.scope))
  return await issueTokens(context, {
    subject: client.id, userId: null, claims: {}, client, scope, grantType: 'client_credentials'
  })
}

/** RFC 6749 §6, with rotation and reuse detection (RFC 9700 §4.14.2). */
async function refreshTokenGrant (context: GrantContext, { params, client }: GrantRequest) {
  const token = required(params, 'refresh_token')
  const requested = parseScope(params.scope)

  const rotation = await rotate(context.store.refreshTokens, context.refresh,
    { token, clientId: client?.id ?? null },
    context.log, () => { context.metrics.refreshReuse.inc() })

  const { family } = rotation
  const issued = await issueTokens(context, {
    subject: family.subject,
    userId: family.user_id,
    claims: JSON.parse(family.claims) as Record<string, unknown>,
    client,
    scope: narrowedScope(family, requested),
    grantType: 'refresh_token'
  })
  return { ...issued, refresh_token: rotation.token }
}

export interface Issuance {
  subject: string
  /** The stored user behind the subject, checked on every refresh; null for any other. */
  userId: string | null
  claims: Record<string, unknown>
  client: Client | undefined
  scope: string[] | undefined
  grantType: string | undefined
  /** Start a refresh token family too. */
  refresh?: boolean
  audience?: string
}

/**
 * Signs the access token (with the claims hook's claims, which cannot override registered
 * ones), and starts a refresh token family when asked: the body `/token` answers with.
 */
export async function issueTokens (context: GrantContext, issue: Issuance): Promise<TokenResponse> {
  const { client, subject } = issue
  const scope = issue.scope === undefined || issue.scope.length === 0 ? undefined : issue.scope
  const scopeText = scope?.join(' ')
  const custom = await context.claims?.({
    subject, grantType: issue.grantType, clientId: client?.id, scope
  })

  const audience = issue.audience ?? client?.audience ?? undefined
  const access = context.signAccessToken(subject, {
    ...issue.claims,
    ...unregistered(custom),
    ...(client === undefined ? {} : { client_id: client.id }),
    ...(scopeText === undefined ? {} : { scope: scopeText })
  }, audience === undefined ? {} : { audience })
  const response: TokenResponse = scopeText === undefined ? access : { ...access, scope: scopeText }
  context.metrics.tokensIssued.inc({ grant: issue.grantType ?? 'direct' })
  if (issue.refresh !== true) return response

  const refreshToken = await startFamily(context.store.refreshTokens, context.refresh, {
    subject,
    userId: issue.userId,
    clientId: client?.id ?? null,
    scope: scopeText ?? null,
    claims: issue.claims
  })
  return { ...response, refresh_token: refreshToken }
}

function unregistered (claims: Record<string, unknown> | undefined): Record<string, unknown> {
  if (claims === undefined || claims === null || typeof claims !== 'object') return {}
  return Object.fromEntries(Object.entries(claims).filter(([name]) => !REGISTERED_CLAIMS.has(name)))
}

/** RFC 6749 §3.3: what a client asks for must be among its scopes; by default it gets them all. */
function grantedScope (client: Client | undefined, requested: string[] | undefined) {
  if (client === undefined) {
    if (requested !== undefined) throw new InvalidScopeError('Scopes need a registered client')
    return undefined
  }
  if (requested === undefined) return client.scopes
  const unknown = requested.filter((scope) => !client.scopes.includes(scope))
  if (unknown.length > 0) {
    throw new InvalidScopeError(`Scope not allowed: ${unknown.join(' ').slice(0, 100)}`)
  }
  return requested
}

/** RFC 6749 §6: a refresh may narrow the scope of the login, never widen it. */
function narrowedScope (family: RefreshFamily, requested: string[] | undefined) {
  const granted = family.scope === null ? [] : family.scope.split(' ')
  if (requested === undefined) return granted
  const extra = requested.filter((scope) => !granted.includes(scope))
  if (extra.length > 0) {
    throw new InvalidScopeError(`Scope not granted: ${extra.join(' ').slice(0, 100)}`)
  }
  return requested
}

function required (params: TokenParameters, name: string): string {
  const value = present(params[name])
  if (value === undefined) throw new InvalidRequestError(`Missing required parameter: ${name}`)
  return value
}

export function present (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
