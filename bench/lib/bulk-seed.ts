import { randomBytes, randomUUID } from 'node:crypto'
import SQLite from 'better-sqlite3'
import { hashRefreshToken } from '../../src/refresh.js'

const DAY = 86400_000

export interface BulkCounts {
  /** Users to add, besides those already there; they share the first user's hash. */
  users: number
  /** Refresh tokens in live families, four per family: three rotated away, one live. */
  refreshTokens: number
  /** Families past their absolute end, four tokens each: purgeExpired must delete them. */
  expiredFamilies: number
  /** Families not yet at their end whose every token has expired. */
  deadFamilies: number
  /** Deny-list entries whose access tokens have expired, and as many that have not. */
  deniedEach: number
  /** Live tokens to hand back in plain text, to chain refreshes from. */
  samples: number
}

export interface BulkSeed {
  families: number
  /** Live refresh tokens of random families, for client `clientId`. */
  liveTokens: string[]
  usernames: string[]
}

/** A stand-in for a sealed successor, as long as a real one. */
const sealed = () => randomBytes(71).toString('base64url')
const iso = (time: number) => new Date(time).toISOString()

/**
 * Adds rows straight through SQL in one transaction: the store classes would take minutes for a
 * million rows. The columns are those of src/store/schema.ts; rows look like what the service
 * writes (rotated tokens keep their sealed successor).
 */
export function bulkSeed (
  file: string, clientId: string, scope: string, counts: BulkCounts
): BulkSeed {
  const db = new SQLite(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  db.pragma('foreign_keys = ON')
  try {
    const hash = db.prepare('select password_hash from users limit 1').pluck().get() as string
    const userInsert = db.prepare('insert into users ' +
      '(id, username, password_hash, disabled, created_at, updated_at) values (?, ?, ?, 0, ?, ?)')
    const familyInsert = db.prepare('insert into refresh_families (id, subject, user_id, ' +
      'client_id, scope, claims, created_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)')
    const tokenInsert = db.prepare('insert into refresh_tokens (id, family_id, token_hash, ' +
      'parent_id, created_at, expires_at, consumed_at, successor_id, successor_sealed) ' +
      'values (?, ?, ?, ?, ?, ?, ?, ?, ?)')
    const deniedInsert = db.prepare('insert into revoked_tokens (jti, expires_at) values (?, ?)')
    const now = Date.now()

    const seeded = db.transaction(() => {
      const existing = db.prepare('select count(*) from users').pluck().get() as number
      for (let i = 0; i < counts.users; i++) {
        userInsert.run(randomUUID(), `user-${existing + i}`, hash, iso(now), iso(now))
      }
      const users = db.prepare('select id, username from users').all() as
        Array<{ id: string, username: string }>

      /** One family of four tokens; resolves the last token in plain text. */
      const family = (id: string, createdAt: number, familyEnd: number, tokenEnd: number) => {
        const user = users[Math.floor(Math.random() * users.length)] as typeof users[number]
        familyInsert.run(id, user.id, user.id, clientId, scope,
          JSON.stringify({ preferred_username: user.username }), iso(createdAt), iso(familyEnd))
        const ids = [0, 1, 2, 3].map((k) => `${id}-${k}`)
        let live = ''
        ids.forEach((tokenId, k) => {
          const last = k === ids.length - 1
          const token = randomBytes(32).toString('base64url')
          if (last) live = token
          const created = createdAt + k * 3600_000
          tokenInsert.run(tokenId, id, hashRefreshToken(token), k === 0 ? null : ids[k - 1],
            iso(created), iso(Math.min(last ? tokenEnd : created + 14 * DAY, familyEnd)),
            last ? null : iso(created + 3600_000), last ? null : ids[k + 1],
            last ? null : sealed())
        })
        return live
      }

      const families = Math.round(counts.refreshTokens / 4)
      const every = Math.max(1, Math.floor(families / Math.max(counts.samples, 1)))
      const liveTokens: string[] = []
      for (let i = 0; i < families; i++) {
        const created = now - Math.random() * 30 * DAY
        const live = family(randomUUID(), created, created + 90 * DAY, now + 14 * DAY)
        if (i % every === 0 && liveTokens.length < counts.samples) liveTokens.push(live)
      }
      for (let i = 0; i < counts.expiredFamilies; i++) {
        family(`expired-${randomUUID()}`, now - 100 * DAY, now - 10 * DAY, now - 10 * DAY)
      }
      for (let i = 0; i < counts.deadFamilies; i++) {
        family(`dead-${randomUUID()}`, now - 30 * DAY, now + 60 * DAY, now - 2 * DAY)
      }
      for (let i = 0; i < counts.deniedEach; i++) {
        deniedInsert.run(randomUUID(), iso(now - Math.random() * DAY))
        deniedInsert.run(randomUUID(), iso(now + DAY + Math.random() * DAY))
      }
      return { families, liveTokens, usernames: users.map((user) => user.username) }
    })()
    db.pragma('wal_checkpoint(TRUNCATE)')
    return seeded
  } finally {
    db.close()
  }
}

export interface PurgeCounts {
  expiredFamilies: number
  expiredFamilyTokens: number
  expiredDenied: number
  liveDenied: number
  deadFamilies: number
}

/** Counts the rows the purge is about, read-only (the service may hold the file open). */
export function purgeCounts (file: string): PurgeCounts {
  const db = new SQLite(file, { readonly: true })
  try {
    const now = new Date().toISOString()
    const count = (sql: string, ...params: string[]) =>
      db.prepare(sql).pluck().get(...params) as number
    return {
      expiredFamilies: count('select count(*) from refresh_families where expires_at < ?', now),
      expiredFamilyTokens: count("select count(*) from refresh_tokens where id like 'expired-%'"),
      expiredDenied: count('select count(*) from revoked_tokens where expires_at < ?', now),
      liveDenied: count('select count(*) from revoked_tokens where expires_at >= ?', now),
      deadFamilies: count("select count(*) from refresh_families where id like 'dead-%'")
    }
  } finally {
    db.close()
  }
}
