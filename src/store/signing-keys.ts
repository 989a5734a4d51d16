import type { Kysely, Selectable } from 'kysely'
import type { Database, SigningKeysTable } from './schema.js'

export interface StoredSigningKey {
  kid: string
  algorithm: string
  publicJwk: Record<string, unknown>
  /** PKCS #8 PEM, or sealed with the key-encryption secret. */
  privateKeyPem: string
  createdAt: string
  /** When the key starts signing; it is published from `createdAt`. */
  activatesAt: string
  /** 1 for the first key, one more for each later key: unique, so replicas never add two. */
  generation: number
}

export class SigningKeyStore {
  readonly #db: Kysely<Database>

  constructor (db: Kysely<Database>) {
    this.#db = db
  }

  /** Every stored key, oldest generation first. */
  async list (): Promise<StoredSigningKey[]> {
    const rows = await this.#db.selectFrom('signing_keys').selectAll()
      .orderBy('generation')
      .execute()
    return rows.map(toKey)
  }

  /** Replaces the stored private key (to encrypt it at rest, say). */
  async setPrivateKey (kid: string, privateKey: string): Promise<void> {
    await this.#db.updateTable('signing_keys').set({ private_key: privateKey })
      .where('kid', '=', kid)
      .execute()
  }

  /**
   * Adds a key; resolves false when its generation is taken: another replica added the next key
   * first, and that one counts.
   */
  async insert (key: StoredSigningKey): Promise<boolean> {
    const inserted = await this.#db.insertInto('signing_keys').values({
      kid: key.kid,
      algorithm: key.algorithm,
      public_jwk: JSON.stringify(key.publicJwk),
      private_key: key.privateKeyPem,
      created_at: key.createdAt,
      activates_at: key.activatesAt,
      generation: key.generation
    }).onConflict((conflict) => conflict.column('generation').doNothing()).executeTakeFirst()
    return (inserted.numInsertedOrUpdatedRows ?? 0n) > 0n
  }

  /** Deletes a retired key: no live token carries its kid any more. */
  async remove (kid: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('signing_keys').where('kid', '=', kid)
      .executeTakeFirst()
    return result.numDeletedRows > 0n
  }
}

function toKey (row: Selectable<SigningKeysTable>): StoredSigningKey {
  return {
    kid: row.kid,
    algorithm: row.algorithm,
    publicJwk: JSON.parse(row.public_jwk),
    privateKeyPem: row.private_key,
    createdAt: row.created_at,
    activatesAt: row.activates_at,
    generation: Number(row.generation)
  }
}
