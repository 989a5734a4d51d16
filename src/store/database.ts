import { closeSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import {
  Kysely, Migrator, PostgresDialect, SqliteAdapter, SqliteDialect, sql, type Dialect,
  type SqliteDatabase
} from 'kysely'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConfigError } from '../errors.js'
import { makePrivateDirectory } from '../private-files.js'
import { migrationProvider } from './migrations.js'
import type { Database } from './schema.js'

/** How many connections one process keeps open to PostgreSQL. */
const POSTGRES_POOL_SIZE = 10
/** How long to wait for PostgreSQL to accept a connection before the request fails. */
const POSTGRES_CONNECT_TIMEOUT_MS = 5_000
/**
 * How long one query may take, measured here: a PostgreSQL that stops answering on an open
 * connection (a network partition, a frozen host) fails requests with 503 instead of holding them.
 * Every statement, a migration's included, must finish within it.
 */
export const POSTGRES_QUERY_TIMEOUT_MS = 5_000
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/
const MIGRATION_ATTEMPTS = 5

/**
 * SQLite runs schema changes inside transactions, though Kysely does not assume so: with them, a
 * migration applies whole or not at all, and two processes opening a new file cannot interleave.
 */
class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl (): boolean {
    return true
  }
}

class MigratingSqliteDialect extends SqliteDialect {
  override createAdapter (): SqliteAdapter {
    return new TransactionalSqliteAdapter()
  }
}

/**
 * Opens the database named by a URL and brings its schema up to date.
 * `sqlite:<path>` (or `sqlite::memory:`) is the embedded engine; `postgres://...` (or
 * `postgresql://...`) is PostgreSQL, where `?schema=<name>` keeps the tables in a schema of their
 * own, created when missing.
 */
export async function openDatabase (databaseUrl: string): Promise<Kysely<Database>> {
  const { dialect, schema } = await dialectFor(databaseUrl)
  const db = new Kysely<Database>({ dialect })

  try {
    if (schema !== undefined) await createSchema(db, schema, databaseUrl)
    await migrate(db, schema)
  } catch (error) {
    await db.destroy()
    throw describeOpenError(error, databaseUrl)
  }
  return db
}

/**
 * Runs the migrations not yet applied. On PostgreSQL, Kysely holds an advisory lock while it
 * migrates, so replicas starting at once take turns and each migration runs once.
 */
export async function migrate (db: Kysely<Database>, schema?: string): Promise<string[]> {
  // Kysely looks for its bookkeeping tables in every schema unless told which: a second issuer in
  // another schema of the same database would take the first one's for its own.
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    ...(schema === undefined ? {} : { migrationTableSchema: schema })
  })
  for (let attempt = 1; ; attempt++) {
    const { error, results = [] } = await migrator.migrateToLatest()
    if (error === undefined) return results.map((result) => result.migrationName)
    // Two connections migrating one SQLite file: the loser's transaction is rolled back with
    // SQLITE_BUSY, and its next attempt finds the work done.
    const busy = (error as { code?: string }).code === 'SQLITE_BUSY'
    if (!busy || attempt === MIGRATION_ATTEMPTS) throw error
    await sleep(20 * attempt)
  }
}

/**
 * True for a failure of the store that a retry may cure: a locked SQLite file, or PostgreSQL
 * unreachable, restarting, or aborting a transaction to break a conflict. Such a request answers
 * 503 rather than 500.
 */
export function isStoreUnavailable (error: { code?: unknown, message?: unknown }): boolean {
  const code = typeof error.code === 'string' ? error.code : ''
  if (['SQLITE_BUSY', 'SQLITE_LOCKED'].includes(code)) return true
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code)) return true
  // PostgreSQL SQLSTATE classes 08 (connection), 53 (resources), 57P (shutdown); 40001 and 40P01.
  if (/^(08|53|57P)/.test(code) || ['40001', '40P01'].includes(code)) return true
  const message = typeof error.message === 'string' ? error.message : ''
  // pg's words for a connection that dropped, or one that is already known to be broken.
  return new RegExp('^(Connection terminated|timeout exceeded when trying to connect|' +
    'Query read timeout|Client has encountered a connection error and is not queryable)')
    .test(message)
}

/**
 * A database URL without its password, to name it in messages and logs: the one after the user
 * name, and any query parameter whose name speaks of one (libpq takes `?password=` too).
 */
export function redactUrl (databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl)
    if (url.password !== '') url.password = '***'
    for (const name of [...url.searchParams.keys()]) {
      if (/pass|secret/i.test(name)) url.searchParams.set(name, '***')
    }
    return url.toString()
  } catch {
    return databaseUrl.startsWith('sqlite:') ? databaseUrl : 'the DATABASE_URL given'
  }
}

async function dialectFor (databaseUrl: string): Promise<{ dialect: Dialect, schema?: string }> {
  if (databaseUrl.startsWith('sqlite:')) {
    const database = withStatementCache(openSqlite(databaseUrl.slice('sqlite:'.length)))
    return { dialect: new MigratingSqliteDialect({ database }) }
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return await postgresDialect(databaseUrl)
  throw new ConfigError('DATABASE_URL must start with sqlite: (for example ' +
    'sqlite:./data/token-issuer.db) or postgres:// (for example postgres://db/tokens)')
}

async function postgresDialect (
  databaseUrl: string
): Promise<{ dialect: Dialect, schema: string }> {
  let url: URL
  try {
    url = new URL(databaseUrl)
  } catch {
    throw new ConfigError('DATABASE_URL is not a valid postgres:// URL')
  }
  if (!decodable(url.username) || !decodable(url.password)) {
    throw new ConfigError('DATABASE_URL has a user name or password with a bad percent-escape ' +
      '(a % must be followed by two hex digits; write a literal % as %25)')
  }
  // Without ?schema=, PostgreSQL's own default.
  const schema = url.searchParams.get('schema') ?? 'public'
  url.searchParams.delete('schema')
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError('DATABASE_URL schema must be a lower-case SQL identifier ' +
      '(letters, digits and _, at most 63)')
  }

  // Loaded only when used: pg costs an embedded SQLite setup 15 MiB of memory for nothing.
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max: POSTGRES_POOL_SIZE,
    connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
    query_timeout: POSTGRES_QUERY_TIMEOUT_MS,
    keepAlive: true,
    // The schema comes first on the search path of every connection, so every query, the
    // migrations included, finds its tables there.
    options: `-c search_path=${schema}`
  })
  // A connection the server drops emits an error on its client, idle or in use; unheard, that
  // error would end the process. The query running on it fails (503), and the pool replaces it.
  pool.on('error', () => {})
  pool.on('connect', (client) => { client.on('error', () => {}) })
  return { dialect: new PostgresDialect({ pool }), schema }
}

function decodable (part: string): boolean {
  try {
    decodeURIComponent(part)
    return true
  } catch {
    return false
  }
}

async function createSchema (db: Kysely<Database>, schema: string, databaseUrl: string) {
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db)
  } catch (error) {
    if (isStoreUnavailable(error as { code?: unknown })) throw describeOpenError(error, databaseUrl)
    // Replicas starting together race to create it; whoever loses finds it made.
    const exists = await sql<{ found: number }>`
      select 1 as found from information_schema.schemata where schema_name = ${schema}
    `.execute(db).catch(() => undefined)
    if (exists?.rows.length !== 1) throw describeOpenError(error, databaseUrl)
  }
}

function describeOpenError (error: unknown, databaseUrl: string): unknown {
  const { code, message } = error as { code?: string, message?: string }
  if (code === 'FTI_CONFIG' || databaseUrl.startsWith('sqlite:')) return error
  const reason = code !== undefined && /^[A-Z]/.test(code) ? code : message ?? String(error)
  return new ConfigError(`cannot use the PostgreSQL database ${redactUrl(databaseUrl)} named by ` +
    `DATABASE_URL: ${reason}`)
}

function openSqlite (path: string): SQLite.Database {
  if (path === '') throw new ConfigError('DATABASE_URL names no SQLite file after sqlite:')

  try {
    if (path !== ':memory:') createPrivateFile(path)
    const database = new SQLite(path)
    database.pragma('journal_mode = WAL')
    // In WAL mode NORMAL syncs at checkpoints, not at every commit (which FULL does, on the
    // event loop): a power cut may lose the last commits, never the file's consistency.
    database.pragma('synchronous = NORMAL')
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

/** More distinct statements than the service has; past it the cache starts again. */
const MAX_CACHED_STATEMENTS = 500

/**
 * Kysely prepares every query anew, and preparing costs as much as running a small query: each
 * SQL text is prepared once here and its statement reused (Kysely runs one at a time).
 */
function withStatementCache (database: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>()
  return {
    close: () => { database.close() },
    prepare (source: string) {
      let statement = statements.get(source)
      if (statement === undefined) {
        if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear()
        statement = database.prepare(source)
        statements.set(source, statement)
      }
      return statement
    }
  }
}

/** The database holds password hashes and private keys: owner-only from the first byte. */
function createPrivateFile (path: string): void {
  makePrivateDirectory(dirname(path))
  closeSync(openSync(path, 'a', 0o600))
}
