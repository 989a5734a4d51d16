import { sql, type Kysely } from 'kysely'
import { openDatabase } from './database.js'
import type { Database } from './schema.js'
import { ClientStore } from './clients.js'
import { RefreshTokenStore } from './refresh-tokens.js'
import { RevokedTokenStore } from './revoked-tokens.js'
import { SigningKeyStore } from './signing-keys.js'
import { UserStore } from './users.js'

export type { User } from './users.js'
export type { StoredSigningKey } from './signing-keys.js'
export type { Client } from './clients.js'

/** The persistent state of one token issuer: one database, its tables behind small stores. */
export interface Store {
  /** SQLite serves one process; PostgreSQL, any number of replicas. */
  engine: 'sqlite' | 'postgres'
  users: UserStore
  signingKeys: SigningKeyStore
  clients: ClientStore
  refreshTokens: RefreshTokenStore
  revokedTokens: RevokedTokenStore
  /** Deletes what can no longer be used: expired families and deny-list entries. */
  purgeExpired: (now?: Date) => Promise<{ families: number, revokedTokens: number }>
  /** Resolves when the database answers a trivial query. */
  ping: () => Promise<void>
  close: () => Promise<void>
}

export async function openStore (databaseUrl: string): Promise<Store> {
  const db = await openDatabase(databaseUrl)
  return storeOn(db, databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'postgres')
}

function storeOn (db: Kysely<Database>, engine: Store['engine']): Store {
  const refreshTokens = new RefreshTokenStore(db)
  const revokedTokens = new RevokedTokenStore(db)
  return {
    engine,
    users: new UserStore(db),
    signingKeys: new SigningKeyStore(db),
    clients: new ClientStore(db),
    refreshTokens,
    revokedTokens,
    async purgeExpired (now = new Date()) {
      return {
        families: await refreshTokens.purgeExpired(now),
        revokedTokens: await revokedTokens.purgeExpired(now)
      }
    },
    async ping () {
      await sql`select 1`.execute(db)
    },
    async close () {
      await db.destroy()
    }
  }
}
