import createError from '@fastify/error'

/**
 * Every error the token issuer raises on purpose has a stable `FTI_*` code. The OAuth ones carry
 * the RFC 6749 §5.2 error code they leave the token endpoint as; the route error handler is the
 * only place that turns them into a response body.
 */

export const InvalidRequestError = createError('FTI_INVALID_REQUEST', '%s', 400)
export const InvalidGrantError = createError('FTI_INVALID_GRANT', '%s', 400)
export const UnsupportedGrantTypeError = createError('FTI_UNSUPPORTED_GRANT_TYPE', '%s', 400)
export const MethodNotAllowedError = createError('FTI_METHOD_NOT_ALLOWED', '%s', 405)
/** Always answered with a Basic challenge (RFC 6749 §5.2 allows 401 for every method). */
export const InvalidClientError = createError('FTI_INVALID_CLIENT', '%s', 401)
export const UnauthorizedClientError = createError('FTI_UNAUTHORIZED_CLIENT', '%s', 400)
export const InvalidScopeError = createError('FTI_INVALID_SCOPE', '%s', 400)
/** Too many requests from one address: 429 with Retry-After. */
export const RateLimitedError = createError('FTI_RATE_LIMITED', '%s', 429)
/** Too many failed logins for one username; carries `retryAfter` in seconds. */
export const LoginLockedError = createError('FTI_LOGIN_LOCKED', '%s', 400)

/** More work waiting than can be done soon (password checks): 503 with Retry-After. */
export const BusyError = createError('FTI_BUSY', '%s', 503)

/** An access token that does not verify, has expired, or was revoked. */
export const InvalidTokenError = createError('FTI_INVALID_TOKEN', '%s', 401)

/** A bad setting: the message names the variable (or option) and what is wrong with it. */
export const ConfigError = createError('FTI_CONFIG', '%s', 500)

/** A signing call that could not produce a token with the registered claims. */
export const InvalidClaimsError = createError('FTI_INVALID_CLAIMS', '%s', 500, TypeError)

/** A username or password refused by the policy when it is set (CLI, bootstrap). */
export const CredentialPolicyError = createError('FTI_CREDENTIAL_POLICY', '%s', 400)

const oauthCodes: Readonly<Record<string, string>> = Object.freeze({
  FTI_INVALID_REQUEST: 'invalid_request',
  FTI_INVALID_GRANT: 'invalid_grant',
  FTI_UNSUPPORTED_GRANT_TYPE: 'unsupported_grant_type',
  FTI_INVALID_CLIENT: 'invalid_client',
  FTI_UNAUTHORIZED_CLIENT: 'unauthorized_client',
  FTI_INVALID_SCOPE: 'invalid_scope',
  // RFC 6749 has no code for either: the status (429) or the description says what happened.
  FTI_RATE_LIMITED: 'invalid_request',
  FTI_LOGIN_LOCKED: 'invalid_grant',
  FTI_METHOD_NOT_ALLOWED: 'invalid_request',
  FTI_BUSY: 'temporarily_unavailable'
})

/** The RFC 6749 §5.2 `error` value for one of our errors, or undefined for any other error. */
export function oauthErrorCode (error: { code?: string }): string | undefined {
  return error.code === undefined ? undefined : oauthCodes[error.code]
}
