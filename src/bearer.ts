/**
 * Reads the Bearer credential of an Authorization header (RFC 6750 §2.1):
 * `Bearer` in any case, one or more spaces, then one token68.
 *
 * - `missing`: no header, or another scheme (Basic, AAAAAA): answer as for no credentials;
 * - `malformed`: the Bearer scheme with nothing usable after it: a bad request;
 * - `token`: a well-formed credential, not yet verified.
 */
export type BearerCredential =
  | { kind: 'missing' }
  | { kind: 'malformed' }
  | { kind: 'token', token: string }

const BEARER = /^bearer(?: +(.*))?$/is
// RFC 7235 §2.1 token68
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

export function bearerCredential (authorization: string | undefined): BearerCredential {
  const match = BEARER.exec(authorization ?? '')
  if (match === null) return { kind: 'missing' }

  const token = (match[1] ?? '').trim()
  if (!TOKEN68.test(token)) return { kind: 'malformed' }
  return { kind: 'token', token }
}
