import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { InvalidGrantError } from './errors.js'
import type { RefreshFamily, RefreshTokenStore } from './store/refresh-tokens.js'

/** Lifetimes in seconds. */
export interface RefreshPolicy {
  /** How long one refresh token lives unused. */
  ttl: number
  /** How long a family lives from its login, however often it is refreshed. */
  familyTtl: number
  /** How long after a rotation a replay of the parent still gets the same successor. */
  gracePeriod: number
}

export interface FamilyStart {
  subject: string
  userId: string | null
  clientId: string | null
  scope: string | null
  claims: Record<string, unknown>
}

const REFRESH_FAILED = 'The refresh token is invalid, expired or revoked'

/** An opaque refresh token: 256 random bits. */
function newToken (): string {
  return randomBytes(32).toString('base64url')
}

/** Tokens have full entropy, so a plain SHA-256 is a safe lookup key. */
export function hashRefreshToken (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url')
}

/**
 * Starts a family at login and returns its first token.
 */
export async function startFamily (
  store: RefreshTokenStore, policy: RefreshPolicy, start: FamilyStart, now = new Date()
): Promise<string> {
  const token = newToken()
  const family: RefreshFamily = {
    id: randomUUID(),
    subject: start.subject,
    user_id: start.userId,
    client_id: start.clientId,
    scope: start.scope,
    claims: JSON.stringify(start.claims),
    created_at: now.toISOString(),
    expires_at: after(now, policy.familyTtl),
    revoked_at: null,
    revoked_reason: null
  }

  await store.createFamily(family, {
    id: randomUUID(),
    tokenHash: hashRefreshToken(token),
    parentId: null,
    createdAt: now.toISOString(),
    expiresAt: earliest(after(now, policy.ttl), family.expires_at)
  })
  return token
}

export interface Rotation {
  family: RefreshFamily
  /** The successor refresh token. */
  token: string
  /** True when this was a replay inside the grace window, answered with the same successor. */
  replay: boolean
}

/**
 * Exchanges a refresh token for its successor (the state machine is in the README):
 *
 * - live → consumed, with one successor, by one atomic conditional update;
 * - consumed, inside the grace window, successor still unused → the same successor again;
 * - consumed otherwise → reuse: the whole family is revoked (RFC 9700 §4.14.2);
 * - unknown, expired, revoked, another client's, or of a user removed or disabled since
 *   → invalid_grant.
 */
export async function rotate (
  store: RefreshTokenStore,
  policy: RefreshPolicy,
  presented: { token: string, clientId: string | null },
  log: Pick<FastifyBaseLogger, 'warn'>,
  onReuse: () => void = () => {},
  now = new Date()
): Promise<Rotation> {
  const found = await store.findByHash(hashRefreshToken(presented.token))
  if (found === undefined) throw new InvalidGrantError(REFRESH_FAILED)
  const { token: row, family, userActive } = found

  // C28d: a token bound to one client is useless to another, and says nothing to it.
  if (family.client_id !== presented.clientId) throw new InvalidGrantError(REFRESH_FAILED)
  if (family.revoked_at !== null) throw new InvalidGrantError(REFRESH_FAILED)
  if (row.expires_at <= now.toISOString() || family.expires_at <= now.toISOString()) {
    throw new InvalidGrantError(REFRESH_FAILED)
  }
  if (!userActive) {
    await store.revokeFamily(family.id, 'subject no longer active')
    throw new InvalidGrantError(REFRESH_FAILED)
  }

  if (row.consumed_at === null) {
    const successor = newToken()
    const rotated = await store.rotate(family.id, row.id, {
      id: randomUUID(),
      tokenHash: hashRefreshToken(successor),
      parentId: row.id,
      createdAt: now.toISOString(),
      expiresAt: earliest(after(now, policy.ttl), family.expires_at)
    }, seal(successor, presented.token))
    if (rotated) return { family, token: successor, replay: false }
  }

  const replayed = await replay(store, policy, family, presented.token, now)
  if (replayed === undefined) {
    log.warn({ familyId: family.id, subject: family.subject },
      'refresh token reuse: family revoked')
    onReuse()
    throw new InvalidGrantError(REFRESH_FAILED)
  }
  return replayed
}

/**
 * A consumed token again: the same successor inside the grace window; otherwise reuse, and the
 * family is revoked (resolves undefined).
 */
async function replay (
  store: RefreshTokenStore, policy: RefreshPolicy, family: RefreshFamily, token: string, now: Date
): Promise<Rotation | undefined> {
  const row = (await store.findByHash(hashRefreshToken(token)))?.token
  const successor = row?.successor_id == null ? undefined : await store.findToken(row.successor_id)
  const graceEnds = new Date(Date.parse(row?.consumed_at ?? '') + policy.gracePeriod * 1000)

  const inGrace = policy.gracePeriod > 0 && now <= graceEnds
  if (row?.successor_sealed != null && successor !== undefined && inGrace) {
    // The successor already moved on: a benign race of the same client, not a theft.
    if (successor.consumed_at !== null) throw new InvalidGrantError(REFRESH_FAILED)
    const sealed = unseal(row.successor_sealed, token)
    if (sealed !== undefined) return { family, token: sealed, replay: true }
  }

  await store.revokeFamily(family.id, 'refresh token reuse')
  return undefined
}

/**
 * The successor, encrypted under a key derived from the parent token: only whoever holds the
 * parent can read it back, and the database never holds a usable token.
 */
function seal (successor: string, parent: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealingKey(parent), iv)
  const sealed = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')
}

function unseal (sealed: string, parent: string): string | undefined {
  try {
    const bytes = Buffer.from(sealed, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(parent), bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(12, 28))
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}

function sealingKey (parent: string): Buffer {
  return createHash('sha256').update('fastify-token-issuer successor\0').update(parent).digest()
}

function after (now: Date, seconds: number): string {
  return new Date(now.getTime() + seconds * 1000).toISOString()
}

function earliest (a: string, b: string): string {
  return a < b ? a : b
}
