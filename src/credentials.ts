import { CredentialPolicyError } from './errors.js'

/** Longest password accepted anywhere, in UTF-8 bytes: longer ones are refused before hashing. */
export const MAX_PASSWORD_BYTES = 1024
/** NIST SP 800-63B §5.1.1.2 asks for at least 8 characters when a password is chosen. */
export const MIN_PASSWORD_LENGTH = 8
export const MAX_USERNAME_LENGTH = 128

// RFC 8265 §3.4 (UsernameCaseMapped): no spaces and no control characters in a username, and
// no lone surrogates anywhere (UTF-8 would turn each into U+FFFD, so two inputs would meet), nor
// U+FFFD itself: it is what a decoder leaves of bytes that were not UTF-8.
const usernameRefused = /[\p{Cc}\p{Cf}\p{Z}\p{Cs}\uFFFD]/u
// RFC 8265 §3.3.1: fullwidth and halfwidth forms map to their ordinary counterparts.
const widthForms = /[\uff01-\uffef]/gu
// RFC 8265 §4.2 (OpaqueString): non-ASCII spaces become U+0020; control characters are refused.
const nonAsciiSpace = /[\p{Zs}]/gu
const passwordRefused = /[\p{Cc}\p{Cs}\uFFFD]/u

/**
 * The canonical form of a username (RFC 8265 §3.3: case-mapped, then NFC), or undefined when the
 * input can never name an account. Every path that reads or writes a username goes through here,
 * so `Alice`, `ALICE` and a decomposed `Ålice` all meet the same row.
 */
export function normaliseUsername (raw: string): string | undefined {
  const username = raw.replace(widthForms, (form) => form.normalize('NFKC'))
    .toLowerCase()
    .normalize('NFC')
  if (username.length === 0 || username.length > MAX_USERNAME_LENGTH) return undefined
  if (usernameRefused.test(username)) return undefined
  return username
}

/** The form of a password that is hashed and verified (RFC 8265 §4.2). */
export function normalisePassword (raw: string): string {
  return raw.replace(nonAsciiSpace, ' ').normalize('NFC')
}

/**
 * True when a string holds a lone surrogate, which has no UTF-8 form of its own, or U+FFFD, the
 * mark of bytes that were not UTF-8.
 */
export function malformedUnicode (raw: string): boolean {
  return /[\p{Cs}\uFFFD]/u.test(raw)
}

export function passwordTooLong (raw: string): boolean {
  return Buffer.byteLength(raw, 'utf8') > MAX_PASSWORD_BYTES
}

/** The username to store for a new account; throws when it cannot be one. */
export function checkNewUsername (raw: string): string {
  const username = normaliseUsername(raw)
  if (username === undefined) {
    throw new CredentialPolicyError(
      `A username must be 1 to ${MAX_USERNAME_LENGTH} characters, ` +
      'without spaces or control characters'
    )
  }
  return username
}

/** The password to hash for an account; throws when the policy refuses it. */
export function checkNewPassword (raw: string): string {
  if (passwordTooLong(raw)) {
    throw new CredentialPolicyError(`A password must be at most ${MAX_PASSWORD_BYTES} bytes long`)
  }
  const password = normalisePassword(raw)
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new CredentialPolicyError(
      `A password must be at least ${MIN_PASSWORD_LENGTH} characters long`
    )
  }
  if (passwordRefused.test(password)) {
    throw new CredentialPolicyError(
      'A password must not contain control characters or malformed Unicode'
    )
  }
  return password
}
