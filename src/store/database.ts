import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect } from 'kysely'
import { ConfigError } from '../errors.js'
import { migrationProvider } from './migrations.js'
import type { Database } from './schema.js'

/**
 * Opens the database named by a URL and brings its schema up to date.
 * `sqlite:<path>` (or `sqlite::memory:`) is the embedded engine.
 */
export async function openDatabase (databaseUrl: string): Promise<Kysely<Database>> {
  const db = new Kysely<Database>({ dialect: dialectFor(databaseUrl) })

  try {
    await migrate(db)
  } catch (error) {
    await db.destroy()
    throw error
  }
  return db
}

export async function migrate (db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider })
  const { error, results = [] } = await migrator.migrateToLatest()
  if (error !== undefined) throw error
  return results.map((result) => result.migrationName)
}

function dialectFor (databaseUrl: string) {
  if (databaseUrl.startsWith('sqlite:')) {
    return new SqliteDialect({ database: openSqlite(databaseUrl.slice('sqlite:'.length)) })
  }
  // PostgreSQL (DATABASE_URL=postgres://...) needs the pg dialect and a per-engine test run.
  throw new ConfigError(
    'DATABASE_URL must start with sqlite: (for example sqlite:./data/token-issuer.db)'
  )
}

function openSqlite (path: string): SQLite.Database {
  if (path === '') throw new ConfigError('DATABASE_URL names no SQLite file after sqlite:')

  try {
    if (path !== ':memory:') createPrivateFile(path)
    const database = new SQLite(path)
    database.pragma('journal_mode = WAL')
    // better-sqlite3 waits for a lock synchronously, holding the event loop: wait briefly, then
    // let the request fail (503) rather than freeze every other request.
    database.pragma('busy_timeout = 200')
    database.pragma('foreign_keys = ON')
    return database
  } catch (error) {
    const { code, message } = error as { code?: string, message: string }
    const reason = code === undefined || code.startsWith('SQLITE') ? message : code
    throw new ConfigError(`cannot open the SQLite file ${path} (${reason}); it is named by ` +
      'DATABASE_URL, or lies in DATA_DIR by default')
  }
}

/** The database holds password hashes and private keys: owner-only from the first byte. */
function createPrivateFile (path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  closeSync(openSync(path, 'a', 0o600))
}
