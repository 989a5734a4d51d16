import type { FastifyBaseLogger } from 'fastify'
import type { DenyList } from './deny-list.js'
import { hashRefreshToken } from './refresh.js'
import type { Client, Store } from './store/index.js'
import type { AccessTokenClaims, AccessTokenVerifier } from './verify.js'

export interface TokenLookup {
  store: Store
  denyList: DenyList
  verifyAccessToken: AccessTokenVerifier
}

/**
 * RFC 7009: ends a refresh token's family, or deny-lists an access token's `jti` until it expires.
 * Unknown, expired, already revoked and other clients' tokens are left alone without a word
 * (§2.2: the answer is 200 either way, so it tells nothing about the token).
 */
export async function revokeToken (
  lookup: TokenLookup, token: string, client: Client | undefined, log: FastifyBaseLogger
): Promise<void> {
  const refresh = await lookup.store.refreshTokens.findByHash(hashRefreshToken(token))
  if (refresh !== undefined) {
    const owner = refresh.family.client_id
    if (owner !== null && owner !== client?.id) return
    if (await lookup.store.refreshTokens.revokeFamily(refresh.family.id, 'revoked')) {
      log.info({ familyId: refresh.family.id }, 'refresh token family revoked')
    }
    return
  }

  const claims = await lookup.verifyAccessToken(token).catch(() => undefined)
  if (claims === undefined || !mayRevoke(claims, client)) return
  await lookup.denyList.add(claims.jti, new Date(claims.exp * 1000))
  log.info({ jti: claims.jti }, 'access token revoked')
}

/** A token issued to a client is that client's to revoke; one issued to none, its holder's. */
function mayRevoke (claims: AccessTokenClaims, client: Client | undefined): boolean {
  return claims.client_id === undefined || claims.client_id === client?.id
}

/** RFC 7662 §2.2: what introspection says of a token. */
export type Introspection = { active: false } | ({ active: true } & Record<string, unknown>)

/**
 * Introspects for a confidential client (a resource server, typically): any of our access tokens,
 * and the refresh tokens of that client. Anything else, including foreign, expired and revoked
 * tokens, is `active: false`.
 */
export async function introspectToken (
  lookup: TokenLookup, token: string, client: Client
): Promise<Introspection> {
  const refresh = await lookup.store.refreshTokens.findByHash(hashRefreshToken(token))
  if (refresh !== undefined) {
    const { token: row, family } = refresh
    const now = new Date().toISOString()
    const live = family.revoked_at === null && row.consumed_at === null &&
      row.expires_at > now && family.expires_at > now && family.client_id === client.id
    if (!live) return { active: false }
    return {
      active: true,
      token_type: 'refresh_token',
      client_id: family.client_id,
      sub: family.subject,
      ...(family.scope === null ? {} : { scope: family.scope }),
      iat: seconds(row.created_at),
      exp: seconds(row.expires_at < family.expires_at ? row.expires_at : family.expires_at)
    }
  }

  const claims = await lookup.verifyAccessToken(token).catch(() => undefined)
  if (claims === undefined) return { active: false }
  return {
    active: true,
    token_type: 'Bearer',
    ...pick(claims, ['scope', 'client_id', 'sub', 'aud', 'iss', 'exp', 'iat', 'nbf', 'jti']),
    ...(typeof claims.preferred_username === 'string'
      ? { username: claims.preferred_username }
      : {})
  }
}

function seconds (iso: string): number {
  return Math.floor(Date.parse(iso) / 1000)
}

function pick (claims: AccessTokenClaims, names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((name) => claims[name] !== undefined)
    .map((name) => [name, claims[name]]))
}
