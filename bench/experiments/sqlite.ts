/**
 * A preload for trying SQLite settings on the service without editing it: it patches
 * better-sqlite3 before the service opens its store. Not part of the service.
 *
 *   BENCH_SERVICE_PRELOAD=bench/experiments/sqlite.ts BENCH_SQLITE_STATEMENT_CACHE=1 \
 *     BENCH_SQLITE_SYNCHRONOUS=NORMAL npm run bench
 *
 * - BENCH_SQLITE_STATEMENT_CACHE=1: `prepare` returns the statement already prepared for the same
 *   SQL text (Kysely's SQLite driver prepares every query anew).
 * - BENCH_SQLITE_SYNCHRONOUS=NORMAL: sets that synchronous mode right after WAL is turned on
 *   (the default, FULL, syncs the WAL to disk on every commit, on the event loop).
 * - BENCH_SQLITE_MMAP_SIZE=<bytes>, BENCH_SQLITE_CACHE_SIZE=<pages, or -KiB>: the same moment,
 *   memory-mapped reads and a larger page cache (the default cache is 2 MiB).
 */
import SQLite from 'better-sqlite3'

type Prepare = (this: SQLite.Database, source: string) => SQLite.Statement
type Pragma = (this: SQLite.Database, source: string, options?: SQLite.PragmaOptions) => unknown
const prototype = SQLite.prototype as unknown as { prepare: Prepare, pragma: Pragma }

if (process.env.BENCH_SQLITE_STATEMENT_CACHE === '1') {
  const prepare = prototype.prepare
  const caches = new WeakMap<SQLite.Database, Map<string, SQLite.Statement>>()
  prototype.prepare = function (source) {
    let cache = caches.get(this)
    if (cache === undefined) {
      cache = new Map()
      caches.set(this, cache)
    }
    let statement = cache.get(source)
    if (statement === undefined) {
      statement = prepare.call(this, source)
      cache.set(source, statement)
    }
    return statement
  }
}

const synchronous = process.env.BENCH_SQLITE_SYNCHRONOUS
if (synchronous !== undefined && !/^(OFF|NORMAL|FULL|EXTRA)$/i.test(synchronous)) {
  throw new Error('BENCH_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA')
}
const integer = (name: string) => {
  const value = process.env[name]
  if (value !== undefined && !/^-?[0-9]+$/.test(value)) throw new Error(`${name}: an integer`)
  return value
}
const settings = [
  ['synchronous', synchronous],
  ['mmap_size', integer('BENCH_SQLITE_MMAP_SIZE')],
  ['cache_size', integer('BENCH_SQLITE_CACHE_SIZE')]
].filter((setting): setting is [string, string] => setting[1] !== undefined)

if (settings.length > 0) {
  const pragma = prototype.pragma
  prototype.pragma = function (source, options) {
    const result = pragma.call(this, source, options)
    if (/^journal_mode\s*=\s*wal$/i.test(source.trim())) {
      for (const [name, value] of settings) pragma.call(this, `${name} = ${value}`)
    }
    return result
  }
}
