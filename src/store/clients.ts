import type { Kysely, Selectable } from 'kysely'
import type { ClientsTable, Database } from './schema.js'

export interface Client {
  id: string
  /** Null for a public client, which has no secret. */
  secretHash: string | null
  grantTypes: string[]
  scopes: string[]
  audience: string | null
  createdAt: string
}

export interface NewClient {
  id: string
  secretHash: string | null
  grantTypes: string[]
  scopes: string[]
  audience: string | null
}

export class ClientStore {
  readonly #db: Kysely<Database>

  constructor (db: Kysely<Database>) {
    this.#db = db
  }

  async find (id: string): Promise<Client | undefined> {
    const row = await this.#db.selectFrom('clients').selectAll().where('id', '=', id)
      .executeTakeFirst()
    return row === undefined ? undefined : toClient(row)
  }

  async list (): Promise<Client[]> {
    const rows = await this.#db.selectFrom('clients').selectAll().orderBy('id').execute()
    return rows.map(toClient)
  }

  /** Resolves false when the id is taken. */
  async create (client: NewClient): Promise<boolean> {
    const now = new Date().toISOString()
    const inserted = await this.#db.insertInto('clients').values({
      id: client.id,
      secret_hash: client.secretHash,
      grant_types: client.grantTypes.join(' '),
      scopes: client.scopes.join(' '),
      audience: client.audience,
      created_at: now,
      updated_at: now
    }).onConflict((conflict) => conflict.column('id').doNothing()).executeTakeFirst()
    return (inserted.numInsertedOrUpdatedRows ?? 0n) > 0n
  }

  async setSecretHash (id: string, secretHash: string): Promise<boolean> {
    const result = await this.#db.updateTable('clients')
      .set({ secret_hash: secretHash, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async remove (id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('clients').where('id', '=', id).executeTakeFirst()
    return result.numDeletedRows > 0n
  }
}

function toClient (row: Selectable<ClientsTable>): Client {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    grantTypes: words(row.grant_types),
    scopes: words(row.scopes),
    audience: row.audience,
    createdAt: row.created_at
  }
}

function words (text: string): string[] {
  return text.split(' ').filter((word) => word !== '')
}
