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

export function bearerCredential (
  authorization: string | undefined, rawHeaders: string[] = []
): BearerCredential {
  // Node keeps the first of several Authorization headers: which one counts would be a guess.
  if (authorizationHeaders(rawHeaders) > 1) return { kind: 'malformed' }
  const match = BEARER.exec(authorization ?? '')
  // `Bearer` then a tab or another space than SP: meant as Bearer, and malformed (RFC 7235 §2.1).
  if (match === null) {
    return /^bearer\s/i.test(authorization ?? '') ? { kind: 'malformed' } : { kind: 'missing' }
  }

  // Only spaces separate the scheme from the token: a tab after them is as malformed as before.
  const token = (match[1] ?? '').replace(/ +$/, '')
  if (!TOKEN68.test(token)) return { kind: 'malformed' }
  return { kind: 'token', token }
}

/** How many Authorization headers a request carries, from Node's raw name/value list. */
export function authorizationHeaders (rawHeaders: string[]): number {
  let count = 0
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]?.toLowerCase() === 'authorization') count += 1
  }
  return count
}
