import { InvalidClientError, InvalidRequestError } from './errors.js'
import { verifyClientSecret } from './clients.js'
import type { Client, ClientStore } from './store/clients.js'

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

export interface ClientCredentials {
  clientId: string
  secret: string | undefined
  method: ClientAuthMethod
}

const CLIENT_AUTH_FAILED = 'Client authentication failed'

/**
 * The client credentials a request carries (RFC 6749 §2.3), or undefined when it carries none.
 * One method per request: a Basic header together with body credentials is refused.
 */
export function clientCredentialsOf (
  authorization: string | undefined, params: Record<string, string | undefined>
): ClientCredentials | undefined {
  const bodyId = present(params.client_id)
  const bodySecret = present(params.client_secret)
  const basic = basicCredentials(authorization)

  if (basic !== undefined) {
    if (bodySecret !== undefined || (bodyId !== undefined && bodyId !== basic.clientId)) {
      throw new InvalidRequestError('Use one client authentication method per request')
    }
    return basic
  }
  if (bodyId === undefined) {
    if (bodySecret !== undefined) throw new InvalidRequestError('client_secret without client_id')
    return undefined
  }
  return {
    clientId: bodyId,
    secret: bodySecret,
    method: bodySecret === undefined ? 'none' : 'client_secret_post'
  }
}

/**
 * RFC 6749 §2.3.1 and RFC 7617 §2: the header holds base64 of `id:secret`, each part
 * form-encoded first; split at the first colon only, then form-decode both halves.
 * Other schemes (a Bearer token meant for another route) are not client credentials.
 */
function basicCredentials (authorization: string | undefined): ClientCredentials | undefined {
  if (!/^basic(\s|$)/i.test(authorization ?? '')) return undefined
  // A Basic header that does not parse is a failed authentication, never an absent one.
  const match = /^basic +(\S+) *$/i.exec(authorization ?? '')
  if (match === null) throw new InvalidClientError(CLIENT_AUTH_FAILED)

  const decoded = strictBase64(match[1] as string)
  const colon = decoded.indexOf(':')
  if (colon < 1) throw new InvalidClientError(CLIENT_AUTH_FAILED)

  // Some libraries send a public client's id with an empty password: that is no secret at all.
  const secret = formDecode(decoded.slice(colon + 1))
  return {
    clientId: formDecode(decoded.slice(0, colon)),
    secret: secret === '' ? undefined : secret,
    method: secret === '' ? 'none' : 'client_secret_basic'
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Base64 as RFC 4648 §4 spells it, of UTF-8 text: Node's own decoder skips what is not. */
function strictBase64 (text: string): string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new InvalidClientError(CLIENT_AUTH_FAILED)
  }
  try {
    return utf8.decode(Buffer.from(text, 'base64'))
  } catch {
    throw new InvalidClientError(CLIENT_AUTH_FAILED)
  }
}

function formDecode (value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    throw new InvalidClientError(CLIENT_AUTH_FAILED)
  }
}

/**
 * The registered client the credentials prove. An unknown client and a wrong secret fail alike,
 * with the same work done (one keyed hash); a public client identifies itself by id alone.
 */
export async function authenticateClient (
  clients: ClientStore, credentials: ClientCredentials
): Promise<Client> {
  const client = await clients.find(credentials.clientId)

  if (credentials.secret === undefined) {
    if (client === undefined || client.secretHash !== null) {
      throw new InvalidClientError(CLIENT_AUTH_FAILED)
    }
    return client
  }
  if (!verifyClientSecret(client?.secretHash, credentials.secret) || client === undefined) {
    throw new InvalidClientError(CLIENT_AUTH_FAILED)
  }
  return client
}

function present (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
