import type { Kysely, Selectable } from 'kysely'
import type { Database, RefreshFamiliesTable, RefreshTokensTable } from './schema.js'

export type RefreshFamily = Selectable<RefreshFamiliesTable>
export type RefreshTokenRow = Selectable<RefreshTokensTable>

export interface FoundRefreshToken {
  token: RefreshTokenRow
  family: RefreshFamily
  /** True for a family without a stored user, or whose user exists and is enabled. */
  userActive: boolean
}

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

  /**
   * A token and its family, by the token's hash, and whether the family's user (when it has a
   * stored one) still exists and is enabled: one query, since every refresh asks all three.
   */
  async findByHash (tokenHash: string): Promise<FoundRefreshToken | undefined> {
    const row = await this.#db.selectFrom('refresh_tokens as t')
      .innerJoin('refresh_families as f', 'f.id', 't.family_id')
      .leftJoin('users as u', 'u.id', 'f.user_id')
      .select([
        't.id', 't.family_id', 't.token_hash', 't.parent_id', 't.created_at', 't.expires_at',
        't.consumed_at', 't.successor_id', 't.successor_sealed',
        'f.subject', 'f.user_id', 'f.client_id', 'f.scope', 'f.claims',
        'f.created_at as family_created_at', 'f.expires_at as family_expires_at',
        'f.revoked_at', 'f.revoked_reason', 'u.id as found_user', 'u.disabled as user_disabled'
      ])
      .where('t.token_hash', '=', tokenHash)
      .executeTakeFirst()
    if (row === undefined) return undefined

    return {
      token: {
        id: row.id,
        family_id: row.family_id,
        token_hash: row.token_hash,
        parent_id: row.parent_id,
        created_at: row.created_at,
        expires_at: row.expires_at,
        consumed_at: row.consumed_at,
        successor_id: row.successor_id,
        successor_sealed: row.successor_sealed
      },
      family: {
        id: row.family_id,
        subject: row.subject,
        user_id: row.user_id,
        client_id: row.client_id,
        scope: row.scope,
        claims: row.claims,
        created_at: row.family_created_at,
        expires_at: row.family_expires_at,
        revoked_at: row.revoked_at,
        revoked_reason: row.revoked_reason
      },
      userActive: row.user_id === null ||
        (row.found_user !== null && Number(row.user_disabled) === 0)
    }
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
    return await inBatches(async (limit) => {
      const expired = this.#db.selectFrom('refresh_families').select('id')
        .where('expires_at', '<', now.toISOString()).limit(limit)
      const result = await this.#db.deleteFrom('refresh_families')
        .where('id', 'in', expired).executeTakeFirst()
      return Number(result.numDeletedRows)
    })
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

/** Rows deleted at a time: a large backlog must not hold SQLite's event loop for seconds. */
const PURGE_BATCH = 500

/** Runs `step` until it deletes less than a batch, yielding to other work in between. */
export async function inBatches (step: (limit: number) => Promise<number>): Promise<number> {
  let total = 0
  for (;;) {
    const deleted = await step(PURGE_BATCH)
    total += deleted
    if (deleted < PURGE_BATCH) return total
    await new Promise((resolve) => setImmediate(resolve))
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
