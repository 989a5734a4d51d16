import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { CredentialPolicyError, InvalidScopeError } from './errors.js'
import type { Client, ClientStore } from './store/clients.js'

export const GRANT_TYPES = ['password', 'client_credentials', 'refresh_token'] as const
export type GrantType = typeof GRANT_TYPES[number]

/** Grants a public client (one without a secret) may use: it cannot prove who it is. */
const PUBLIC_GRANTS = new Set<string>(['password', 'refresh_token'])
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/
// RFC 6749 Appendix A.1: client_id = *VSCHAR (printable ASCII, space included)
const CLIENT_ID = /^[\x20-\x7e]{1,128}$/

/**
 * A new client secret: 256 random bits in base64url, so it never needs encoding in a Basic
 * header or a form body.
 */
export function generateClientSecret (): string {
  return randomBytes(32).toString('base64url')
}

/**
 * Client secrets are generated with full entropy, so unlike passwords they need no slow hash:
 * nobody can guess one, and a fast keyed hash (HMAC-SHA-256 with a per-client random key) is
 * enough to keep the stored value useless to whoever reads the database.
 */
export function hashClientSecret (secret: string): string {
  const key = randomBytes(16)
  return `hmac-sha256$${key.toString('base64url')}$${digest(key, secret)}`
}

// Unknown clients and public clients are checked against this, so every path costs the same.
const DUMMY_HASH = hashClientSecret(generateClientSecret())

/** Constant-time check of a secret against a stored hash (or the dummy when there is none). */
export function verifyClientSecret (
  storedHash: string | null | undefined, secret: string
): boolean {
  const [scheme, key, expected] = (storedHash ?? DUMMY_HASH).split('$')
  if (scheme !== 'hmac-sha256' || key === undefined || expected === undefined) return false

  const actual = Buffer.from(digest(Buffer.from(key, 'base64url'), secret))
  const matches = actual.length === expected.length &&
    timingSafeEqual(actual, Buffer.from(expected))
  return matches && storedHash !== null && storedHash !== undefined
}

function digest (key: Buffer, secret: string): string {
  return createHmac('sha256', key).update(secret, 'utf8').digest('base64url')
}

export interface ClientRegistration {
  id: string
  grantTypes: string[]
  scopes: string[]
  audience?: string
  public?: boolean
}

/** Registers a client; resolves its secret (shown once), or undefined for a public client. */
export async function addClient (
  clients: ClientStore, registration: ClientRegistration
): Promise<{ client: Client, secret: string | undefined }> {
  const grantTypes = checkGrants(registration)
  const scopes = checkScopes(registration.scopes)
  if (!CLIENT_ID.test(registration.id)) {
    throw new CredentialPolicyError('A client id must be 1 to 128 printable ASCII characters')
  }

  const secret = registration.public === true ? undefined : generateClientSecret()
  const created = await clients.create({
    id: registration.id,
    secretHash: secret === undefined ? null : hashClientSecret(secret),
    grantTypes,
    scopes,
    audience: registration.audience ?? null
  })
  if (!created) throw new CredentialPolicyError(`Client ${registration.id} already exists`)
  return { client: await clients.find(registration.id) as Client, secret }
}

/** A new secret for a confidential client; the old one stops working at once. */
export async function rotateClientSecret (clients: ClientStore, id: string): Promise<string> {
  const client = await clients.find(id)
  if (client === undefined) throw new CredentialPolicyError(`No such client: ${id}`)
  if (client.secretHash === null) {
    throw new CredentialPolicyError(`Client ${id} is public: it has no secret`)
  }

  const secret = generateClientSecret()
  await clients.setSecretHash(id, hashClientSecret(secret))
  return secret
}

function checkGrants (registration: ClientRegistration): string[] {
  const grants = [...new Set(registration.grantTypes)]
  if (grants.length === 0) throw new CredentialPolicyError('A client needs at least one --grant')

  for (const grant of grants) {
    if (!(GRANT_TYPES as readonly string[]).includes(grant)) {
      throw new CredentialPolicyError(`Unknown grant ${grant}; one of ${GRANT_TYPES.join(', ')}`)
    }
    if (registration.public === true && !PUBLIC_GRANTS.has(grant)) {
      throw new CredentialPolicyError(`A public client cannot use the ${grant} grant`)
    }
  }
  return grants
}

export function checkScopes (scopes: string[]): string[] {
  for (const scope of scopes) {
    if (!SCOPE_TOKEN.test(scope)) throw new CredentialPolicyError(`Invalid scope: ${scope}`)
  }
  return [...new Set(scopes)]
}

/** Parses a `scope` parameter (RFC 6749 §3.3): space-separated tokens; undefined when absent. */
export function parseScope (scope: string | undefined): string[] | undefined {
  if (scope === undefined || scope === '') return undefined
  const tokens = scope.split(' ')
  if (!tokens.every((token) => SCOPE_TOKEN.test(token))) {
    throw new InvalidScopeError('The scope parameter is malformed')
  }
  return [...new Set(tokens)]
}
