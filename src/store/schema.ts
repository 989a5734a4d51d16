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
  /** PKCS #8 PEM. Stored in clear: encryption at rest needs a key-encryption secret setting. */
  private_key: string
  created_at: string
}

export interface Database {
  users: UsersTable
  signing_keys: SigningKeysTable
}
