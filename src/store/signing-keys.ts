import type { Kysely, Selectable } from 'kysely'
import type { Database, SigningKeysTable } from './schema.js'

export interface StoredSigningKey {
  kid: string
  algorithm: string
  publicJwk: Record<string, unknown>
  privateKeyPem: string
  createdAt: string
}

export class SigningKeyStore {
  readonly #db: Kysely<Database>

  constructor (db: Kysely<Database>) {
    this.#db = db
  }

  /** Every stored key, newest first. */
  async list (): Promise<StoredSigningKey[]> {
    const rows = await this.#db.selectFrom('signing_keys').selectAll()
      .orderBy('created_at', 'desc')
      .execute()
    return rows.map(toKey)
  }

  /** The newest key for an algorithm, the one that signs. */
  async newest (algorithm: string): Promise<StoredSigningKey | undefined> {
    const row = await this.#db.selectFrom('signing_keys').selectAll()
      .where('algorithm', '=', algorithm)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst()
    return row === undefined ? undefined : toKey(row)
  }

  /** Replaces the stored private key (to encrypt it at rest, say). */
  async setPrivateKey (kid: string, privateKey: string): Promise<void> {
    await this.#db.updateTable('signing_keys').set({ private_key: privateKey })
      .where('kid', '=', kid)
      .execute()
  }

  async insert (key: StoredSigningKey): Promise<void> {
    await this.#db.insertInto('signing_keys').values({
      kid: key.kid,
      algorithm: key.algorithm,
      public_jwk: JSON.stringify(key.publicJwk),
      private_key: key.privateKeyPem,
      created_at: key.createdAt
    }).execute()
  }
}

function toKey (row: Selectable<SigningKeysTable>): StoredSigningKey {
  return {
    kid: row.kid,
    algorithm: row.algorithm,
    publicJwk: JSON.parse(row.public_jwk),
    privateKeyPem: row.private_key,
    createdAt: row.created_at
  }
}
