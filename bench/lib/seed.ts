import { join } from 'node:path'
import { addClient } from '../../src/clients.js'
import { hashPassword } from '../../src/passwords.js'
import { startFamily, type RefreshPolicy } from '../../src/refresh.js'
import { openStore } from '../../src/store/index.js'

/** Every seeded user's password. */
export const PASSWORD = 'correct horse battery staple'

/** The service's defaults (REFRESH_TOKEN_TTL, REFRESH_FAMILY_TTL, REFRESH_GRACE_PERIOD). */
export const REFRESH_POLICY: RefreshPolicy = {
  ttl: 14 * 86400, familyTtl: 90 * 86400, gracePeriod: 5
}

export interface ServiceSeed {
  usernames: string[]
  /** A confidential client for the client_credentials grant. */
  service: { id: string, secret: string }
  /** A public client for the password and refresh_token grants. */
  web: { id: string, scope: string }
  /** A confidential client that introspects tokens, as a resource server would. */
  resource: { id: string, secret: string }
  /** Live refresh tokens of `web`, each from a family of its own. */
  refreshTokens: string[]
}

/** The SQLite file the service uses in a data directory (its default DATABASE_URL). */
export function databaseUrlIn (dataDir: string): string {
  return `sqlite:${join(dataDir, 'token-issuer.db')}`
}

/** The Basic header of a client (RFC 6749 §2.3.1; these ids and secrets need no encoding). */
export function basic (id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
}

/**
 * Fills a fresh store through the store classes, before the service starts on it: users
 * `user-0`... sharing one argon2id hash (made with the service's parameters), three clients, and
 * refresh token families started as a login would start them.
 */
export async function seedService (
  dataDir: string, counts: { users: number, refreshTokens: number }
): Promise<ServiceSeed> {
  const store = await openStore(databaseUrlIn(dataDir))
  try {
    const hash = await hashPassword(PASSWORD)
    const users = []
    for (let i = 0; i < counts.users; i++) {
      const user = await store.users.create(`user-${i}`, hash)
      if (user === undefined) throw new Error(`user-${i} exists already`)
      users.push(user)
    }

    const service = await addClient(store.clients, {
      id: 'bench-service', grantTypes: ['client_credentials'], scopes: ['api:read']
    })
    const web = await addClient(store.clients, {
      id: 'bench-web', grantTypes: ['password', 'refresh_token'], scopes: ['profile'], public: true
    })
    const resource = await addClient(store.clients, {
      id: 'bench-resource', grantTypes: ['client_credentials'], scopes: []
    })

    const refreshTokens = []
    for (let i = 0; i < counts.refreshTokens; i++) {
      const user = users[i % users.length]
      if (user === undefined) throw new Error('refresh tokens need users')
      refreshTokens.push(await startFamily(store.refreshTokens, REFRESH_POLICY, {
        subject: user.id,
        userId: user.id,
        clientId: web.client.id,
        scope: web.client.scopes.join(' '),
        claims: { preferred_username: user.username }
      }))
    }

    return {
      usernames: users.map((user) => user.username),
      service: { id: service.client.id, secret: service.secret as string },
      web: { id: web.client.id, scope: web.client.scopes.join(' ') },
      resource: { id: resource.client.id, secret: resource.secret as string },
      refreshTokens
    }
  } finally {
    await store.close()
  }
}
