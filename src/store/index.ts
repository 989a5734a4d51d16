import { sql, type Kysely } from 'kysely'
import { openDatabase } from './database.js'
import type { Database } from './schema.js'
import { SigningKeyStore } from './signing-keys.js'
import { UserStore } from './users.js'

export type { User } from './users.js'
export type { StoredSigningKey } from './signing-keys.js'

/** The persistent state of one token issuer: one database, its tables behind small stores. */
export interface Store {
  users: UserStore
  signingKeys: SigningKeyStore
  /** Resolves when the database answers a trivial query. */
  ping: () => Promise<void>
  close: () => Promise<void>
}

export async function openStore (databaseUrl: string): Promise<Store> {
  const db = await openDatabase(databaseUrl)
  return storeOn(db)
}

function storeOn (db: Kysely<Database>): Store {
  return {
    users: new UserStore(db),
    signingKeys: new SigningKeyStore(db),
    async ping () {
      await sql`select 1`.execute(db)
    },
    async close () {
      await db.destroy()
    }
  }
}
