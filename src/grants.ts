import { authenticateUser } from './accounts.js'
import { passwordTooLong, MAX_PASSWORD_BYTES } from './credentials.js'
import { InvalidGrantError, InvalidRequestError, UnsupportedGrantTypeError } from './errors.js'
import type { PasswordVerifier } from './passwords.js'
import type { UserStore } from './store/users.js'
import type { AccessTokenResponse } from './tokens.js'

/** Token request parameters after the body schema: each one a single string, or absent. */
export type TokenParameters = Record<string, string | undefined>

export interface PasswordGrantContext {
  users: UserStore
  passwords: PasswordVerifier
  issueAccessToken: (subject: string, claims?: Record<string, unknown>) => AccessTokenResponse
}

/** One answer for every failed login: it must not tell which part was wrong (RFC 6749 §5.2). */
export const LOGIN_FAILED = 'The username or password is incorrect'

/**
 * The grant a request asks for. RFC 6749 §3.2 counts a parameter sent without a value as
 * omitted. In a JSON body (our extension), `username` with `password` and no `grant_type` means
 * the password grant.
 */
export function grantTypeOf (params: TokenParameters, isJson: boolean): string {
  const grantType = present(params.grant_type)
  if (grantType !== undefined) return grantType

  if (isJson && present(params.username) !== undefined && present(params.password) !== undefined) {
    return 'password'
  }
  throw new InvalidRequestError('Missing required parameter: grant_type')
}

/**
 * RFC 6749 §4.3: the resource owner's username and password are the grant. Resolves undefined
 * when they do not name an enabled account.
 */
export async function passwordGrant (
  context: PasswordGrantContext, params: TokenParameters
): Promise<AccessTokenResponse | undefined> {
  const username = required(params, 'username')
  const password = required(params, 'password')
  // Refused before hashing: a megabyte password would otherwise buy a megabyte of argon2 work.
  if (passwordTooLong(password)) {
    throw new InvalidRequestError(
      `The password parameter is longer than ${MAX_PASSWORD_BYTES} bytes`
    )
  }

  const user = await authenticateUser(context.users, context.passwords, username, password)
  if (user === undefined) return undefined

  return context.issueAccessToken(user.id, { preferred_username: user.username })
}

export function unsupportedGrant (grantType: string): Error {
  const name = JSON.stringify(grantType)
  return new UnsupportedGrantTypeError(`The grant type ${name} is not supported`)
}

export function loginFailed (): Error {
  return new InvalidGrantError(LOGIN_FAILED)
}

function required (params: TokenParameters, name: string): string {
  const value = present(params[name])
  if (value === undefined) throw new InvalidRequestError(`Missing required parameter: ${name}`)
  return value
}

function present (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
