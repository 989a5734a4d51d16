/** JSON schemas shared by the routes: they validate, serialize, and feed the OpenAPI document. */

const string = { type: 'string' } as const

/** RFC 6749 §5.2. */
export const oauthError = {
  type: 'object',
  description: 'An OAuth 2.0 error (RFC 6749 §5.2)',
  required: ['error'],
  properties: {
    error: {
      type: 'string',
      enum: ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client',
        'unsupported_grant_type', 'invalid_scope', 'server_error', 'temporarily_unavailable']
    },
    error_description: string
  }
} as const

/** The answers every OAuth endpoint can give besides its success. */
export const oauthErrors = {
  400: { ...oauthError, description: 'A malformed request, or a refused grant (RFC 6749 §5.2)' },
  401: {
    ...oauthError,
    description: 'Client authentication failed: invalid_client, with WWW-Authenticate: Basic'
  },
  413: { ...oauthError, description: 'The body is over 16 KiB: invalid_request' },
  429: { ...oauthError, description: 'Too many requests from this address, with Retry-After' },
  500: { ...oauthError, description: 'server_error: a fault of ours, logged' },
  503: { ...oauthError, description: 'temporarily_unavailable: the store is busy; Retry-After' }
} as const

export const tokenResponse = {
  type: 'object',
  description: 'Tokens (RFC 6749 §5.1), with Cache-Control: no-store',
  required: ['access_token', 'token_type', 'expires_in'],
  properties: {
    access_token: { type: 'string', description: 'A JWT access token (RFC 9068)' },
    token_type: { type: 'string', enum: ['Bearer'] },
    expires_in: { type: 'integer', description: 'Seconds until the access token expires' },
    refresh_token: { type: 'string', description: 'Password and refresh grants only' },
    scope: { type: 'string', description: 'The granted scopes, space-separated' }
  }
} as const

export const bearerError = {
  type: 'object',
  description: 'A refused Bearer token (RFC 6750 §3), with WWW-Authenticate: Bearer',
  properties: { error: string, error_description: string }
} as const
