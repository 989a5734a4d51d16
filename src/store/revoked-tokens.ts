import type { Kysely } from 'kysely'
import { inBatches } from './refresh-tokens.js'
import type { Database } from './schema.js'

/** The access token deny list: a `jti` stays listed until the token would have expired. */
export class RevokedTokenStore {
  readonly #db: Kysely<Database>

  constructor (db: Kysely<Database>) {
    this.#db = db
  }

  async add (jti: string, expiresAt: Date): Promise<void> {
    await this.#db.insertInto('revoked_tokens')
      .values({ jti, expires_at: expiresAt.toISOString() })
      .onConflict((conflict) => conflict.column('jti').doNothing())
      .execute()
  }

  async has (jti: string): Promise<boolean> {
    const row = await this.#db.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti)
      .executeTakeFirst()
    return row !== undefined
  }

  /** The entries whose tokens have not expired. */
  async live (now = new Date()): Promise<Array<{ jti: string, expiresAt: Date }>> {
    const rows = await this.#db.selectFrom('revoked_tokens').selectAll()
      .where('expires_at', '>', now.toISOString())
      .execute()
    return rows.map((row) => ({ jti: row.jti, expiresAt: new Date(row.expires_at) }))
  }

  /** Drops entries whose tokens have expired anyway; resolves how many. */
  async purgeExpired (now = new Date()): Promise<number> {
    return await inBatches(async (limit) => {
      const expired = this.#db.selectFrom('revoked_tokens').select('jti')
        .where('expires_at', '<', now.toISOString()).limit(limit)
      const result = await this.#db.deleteFrom('revoked_tokens')
        .where('jti', 'in', expired).executeTakeFirst()
      return Number(result.numDeletedRows)
    })
  }
}
