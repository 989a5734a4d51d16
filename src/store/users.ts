import { randomUUID } from 'node:crypto'
import type { Kysely, Selectable, Updateable } from 'kysely'
import type { Database, UsersTable } from './schema.js'

export interface User {
  /** The stable subject (`sub`) of the user's tokens; never reused. */
  id: string
  username: string
  passwordHash: string
  disabled: boolean
  createdAt: string
  updatedAt: string
}

/** Users by normalised username. Callers normalise; this layer only stores. */
export class UserStore {
  readonly #db: Kysely<Database>

  constructor (db: Kysely<Database>) {
    this.#db = db
  }

  async find (username: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll()
      .where('username', '=', username)
      .executeTakeFirst()
    return row === undefined ? undefined : toUser(row)
  }

  async findById (id: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id)
      .executeTakeFirst()
    return row === undefined ? undefined : toUser(row)
  }

  async list (): Promise<User[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('username').execute()
    return rows.map(toUser)
  }

  async count (): Promise<number> {
    const { count } = await this.#db.selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirstOrThrow()
    return Number(count)
  }

  /** Inserts a user; resolves undefined when the username is taken. */
  async create (username: string, passwordHash: string): Promise<User | undefined> {
    const now = new Date().toISOString()
    const row = {
      id: randomUUID(),
      username,
      password_hash: passwordHash,
      disabled: 0,
      created_at: now,
      updated_at: now
    }
    const inserted = await this.#db.insertInto('users').values(row)
      .onConflict((conflict) => conflict.column('username').doNothing())
      .returningAll()
      .executeTakeFirst()
    return inserted === undefined ? undefined : toUser(inserted)
  }

  /** Resolves false when there is no such user. */
  async setPasswordHash (username: string, passwordHash: string): Promise<boolean> {
    return await this.#update(username, { password_hash: passwordHash })
  }

  async setDisabled (username: string, disabled: boolean): Promise<boolean> {
    return await this.#update(username, { disabled: disabled ? 1 : 0 })
  }

  async remove (username: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('users').where('username', '=', username)
      .executeTakeFirst()
    return result.numDeletedRows > 0n
  }

  async #update (username: string, values: Updateable<UsersTable>): Promise<boolean> {
    const result = await this.#db.updateTable('users')
      .set({ ...values, updated_at: new Date().toISOString() })
      .where('username', '=', username)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }
}

function toUser (row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    disabled: row.disabled !== 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at
  }
}
