import type { Generated } from 'kysely'

/** Timestamps are ISO 8601 text in UTC: sortable, readable, and the same in every engine. */
export interface UsersTable {
  id: string
  /** The normalised username (see credentials.ts); unique. */
  username: string
  password_hash: string
  disabled: Generated<number>
  created_at: string
  updated_at: string
}

export interface SigningKeysTable {
  kid: string
  algorithm: string
  /** The public key as a JWK (JSON text), exactly as published. */
  public_jwk: string
  /** PKCS #8 PEM, or sealed (`enc:v1:...`, see key-encryption.ts) with a key-encryption secret. */
  private_key: string
  /** When the key is added, and published. */
  created_at: string
  /** When the key starts signing: later than `created_at` for a rotation. */
  activates_at: string
  /** The key's place in the sequence of keys; unique. */
  generation: number
}

export interface ClientsTable {
  id: string
  /** A keyed hash of the secret (see clients.ts); null for a public client. */
  secret_hash: string | null
  /** Space-separated grant types the client may use. */
  grant_types: string
  /** Space-separated scopes the client may ask for. */
  scopes: string
  audience: string | null
  created_at: string
  updated_at: string
}

/** Every refresh token descends from one login: the family ends as a whole. */
export interface RefreshFamiliesTable {
  id: string
  subject: string
  /** The stored user behind the subject, when there is one: checked on every refresh. */
  user_id: string | null
  client_id: string | null
  scope: string | null
  /** Extra access token claims (JSON), carried from the login to every refresh. */
  claims: string
  created_at: string
  /** The absolute end of the family, whatever its tokens say. */
  expires_at: string
  revoked_at: string | null
  revoked_reason: string | null
}

export interface RefreshTokensTable {
  id: string
  family_id: string
  /** SHA-256 of the token: the token itself is never stored. */
  token_hash: string
  parent_id: string | null
  created_at: string
  expires_at: string
  consumed_at: string | null
  successor_id: string | null
  /** The successor token, sealed with a key only the parent token's holder can derive. */
  successor_sealed: string | null
}

/** Access tokens revoked before their expiry: the deny list, by `jti`. */
export interface RevokedTokensTable {
  jti: string
  expires_at: string
}

export interface Database {
  users: UsersTable
  signing_keys: SigningKeysTable
  clients: ClientsTable
  refresh_families: RefreshFamiliesTable
  refresh_tokens: RefreshTokensTable
  revoked_tokens: RevokedTokensTable
}
