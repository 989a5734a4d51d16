import type { Kysely, Selectable } from 'kysely'
import type { Database, RefreshFamiliesTable, RefreshTokensTable } from './schema.js'

export type RefreshFamily = Selectable<RefreshFamiliesTable>
export type RefreshTokenRow = Selectable<RefreshTokensTable>

export interface NewRefreshToken {
  id: string
  tokenHash: string
  parentId: string | null
  createdAt: string
  expiresAt: string
}

/** Refresh token families and their tokens. Only hashes of tokens are stored. */
export class RefreshTokenStore {
  readonly #db: Kysely<Database>

  constructor (db: Kysely<Database>) {
    this.#db = db
  }

  async createFamily (family: RefreshFamily, token: NewRefreshToken): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('refresh_families').values(family).execute()
      await trx.insertInto('refresh_tokens').values(tokenRow(family.id, token)).execute()
    })
  }

  /** A token and its family, by the token's hash. */
  async findByHash (
    tokenHash: string
  ): Promise<{ token: RefreshTokenRow, family: RefreshFamily } | undefined> {
    const token = await this.#db.selectFrom('refresh_tokens').selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
    if (token === undefined) return undefined

    const family = await this.#db.selectFrom('refresh_families').selectAll()
      .where('id', '=', token.family_id)
      .executeTakeFirstOrThrow()
    return { token, family }
  }

  /** The tokens of a family, oldest first. */
  async tokensOf (familyId: string): Promise<RefreshTokenRow[]> {
    return await this.#db.selectFrom('refresh_tokens').selectAll()
      .where('family_id', '=', familyId)
      .orderBy('created_at')
      .execute()
  }

  async findToken (id: string): Promise<RefreshTokenRow | undefined> {
    return await this.#db.selectFrom('refresh_tokens').selectAll().where('id', '=', id)
      .executeTakeFirst()
  }

  /**
   * Consumes `parentId` and stores its successor, atomically: the conditional update succeeds for
   * exactly one caller however many race, and only that caller's successor is written.
   * Resolves false when the parent was already consumed.
   */
  async rotate (
    familyId: string, parentId: string, successor: NewRefreshToken, sealed: string
  ): Promise<boolean> {
    return await this.#db.transaction().execute(async (trx) => {
      const consumed = await trx.updateTable('refresh_tokens')
        .set({
          consumed_at: successor.createdAt, successor_id: successor.id, successor_sealed: sealed
        })
        .where('id', '=', parentId)
        .where('consumed_at', 'is', null)
        .executeTakeFirst()
      if (consumed.numUpdatedRows === 0n) return false

      await trx.insertInto('refresh_tokens').values(tokenRow(familyId, successor)).execute()
      return true
    })
  }

  /**
   * Deletes families past their absolute end (their tokens go with them, by cascade): nothing in
   * them can be used any more. Resolves how many.
   */
  async purgeExpired (now = new Date()): Promise<number> {
    const result = await this.#db.deleteFrom('refresh_families')
      .where('expires_at', '<', now.toISOString())
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  /** Ends a family; resolves false when it had already ended. */
  async revokeFamily (familyId: string, reason: string): Promise<boolean> {
    const result = await this.#db.updateTable('refresh_families')
      .set({ revoked_at: new Date().toISOString(), revoked_reason: reason })
      .where('id', '=', familyId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  /** Ends every live family of a stored user or of a client; resolves how many ended. */
  async revokeFamiliesOf (
    owner: { userId: string } | { clientId: string }, reason: string
  ): Promise<number> {
    const [column, value] = 'userId' in owner
      ? ['user_id', owner.userId] as const
      : ['client_id', owner.clientId] as const
    const result = await this.#db.updateTable('refresh_families')
      .set({ revoked_at: new Date().toISOString(), revoked_reason: reason })
      .where(column, '=', value)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  }
}

function tokenRow (familyId: string, token: NewRefreshToken): RefreshTokenRow {
  return {
    id: token.id,
    family_id: familyId,
    token_hash: token.tokenHash,
    parent_id: token.parentId,
    created_at: token.createdAt,
    expires_at: token.expiresAt,
    consumed_at: null,
    successor_id: null,
    successor_sealed: null
  }
}
