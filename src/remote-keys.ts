import { createPublicKey, type JsonWebKey } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'

/**
 * A remote key set (RFC 7517 §5), fetched when first needed and cached: what a resource server
 * needs to verify an issuer's tokens offline.
 */

/** A usable public key of the set, with its SPKI PEM. */
export interface RemoteKey {
  kid: string
  alg: string
  /** SPKI PEM, as node:crypto exports it from the JWK. */
  pem: string
}

export interface RemoteKeySetOptions<T> {
  /** Where the key set lives; found through the issuer's metadata when left out. */
  jwksUrl?: string
  /**
   * The issuer: without `jwksUrl`, its RFC 8414 metadata is read, its `issuer` member must equal
   * this exactly (RFC 8414 §3.3), and its `jwks_uri` is used.
   */
  issuer?: string
  /** The algorithms a key may carry in `alg`; keys without one of these are ignored. */
  algorithms: readonly string[]
  /** Seconds a fetch may take, answer included. */
  fetchTimeout: number
  /**
   * Seconds between fetches caused by unknown kids, and before a failed fetch is tried again.
   * Also the least time the keys are kept, whatever the answer's max-age says.
   */
  cooldown: number
  /** Seconds at most the keys are kept, whatever the answer's max-age says. */
  maxCacheAge: number
  /** Turns a key into what the set holds (a verifier, say); a key it throws for is ignored. */
  prepare: (key: RemoteKey) => T
  log: FastifyBaseLogger
}

/** How long keys are kept when the answer carries no max-age. */
export const DEFAULT_CACHE_AGE_SECONDS = 300

const KEY_TYPES: Readonly<Record<string, string>> = Object.freeze({
  ES256: 'EC',
  EdDSA: 'OKP',
  RS256: 'RSA'
})
const CURVES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  ES256: ['P-256'],
  EdDSA: ['Ed25519', 'Ed448']
})
// RFC 7518 §3.3: RSA keys of at least 2048 bits.
const MIN_RSA_BITS = 2048

/**
 * The keys of a remote set, by kid. They are fetched on the first `get`, never at creation, so an
 * issuer that is down does not stop the resource server from starting. After that:
 *
 * - the keys are refetched once older than the answer's Cache-Control max-age (300 s without one),
 *   kept at least `cooldown` and at most `maxCacheAge` seconds; when that refetch fails the old
 *   keys stay in use, a warning is logged, and the next try waits `cooldown` seconds;
 * - an unknown kid causes a refetch at most once per `cooldown` (a kid is whatever a client
 *   sends, so this bounds what anyone can make us fetch);
 * - there is at most one fetch in flight: whoever needs one while it runs waits for it.
 *
 * Nothing else fetches: verifying a token with a known kid and fresh keys is local.
 */
export class RemoteKeySet<T> {
  readonly #options: RemoteKeySetOptions<T>
  #jwksUrl: string | undefined
  #keys: Map<string, T> | undefined
  /** Epoch ms when the keys go stale. */
  #staleAt = 0
  /** Epoch ms before which no fetch is tried again after a failure. */
  #retryAt = 0
  /** Epoch ms of the last fetch caused by an unknown kid. */
  #lastMissFetch = -Infinity
  #inFlight: Promise<void> | undefined
  readonly #closed = new AbortController()

  constructor (options: RemoteKeySetOptions<T>) {
    if (options.jwksUrl === undefined && options.issuer === undefined) {
      throw new TypeError('a key set needs a jwksUrl or an issuer')
    }
    this.#options = options
    this.#jwksUrl = options.jwksUrl
  }

  /**
   * The key for `kid`, or undefined when the set has none, even after the refetch an unknown kid
   * may cause. Rejects only when no key set could ever be loaded.
   */
  async get (kid: string): Promise<T | undefined> {
    const now = Date.now()
    if ((this.#keys === undefined || now >= this.#staleAt) && now >= this.#retryAt) {
      await this.#refresh()
    }
    if (this.#keys === undefined) throw new Error('the key set could not be loaded')

    let key = this.#keys.get(kid)
    if (key === undefined) {
      if (this.#inFlight !== undefined) {
        await this.#inFlight
      } else if (this.#mayFetchForUnknownKid()) {
        this.#lastMissFetch = Date.now()
        await this.#refresh()
      }
      key = this.#keys.get(kid)
    }
    return key
  }

  /** Stops a fetch in flight, when the server closes. */
  close () {
    this.#closed.abort()
  }

  #mayFetchForUnknownKid () {
    const now = Date.now()
    return now >= this.#retryAt && now - this.#lastMissFetch >= this.#options.cooldown * 1000
  }

  /** Single-flight: one load at a time, shared by whoever asks meanwhile. Never rejects. */
  #refresh (): Promise<void> {
    this.#inFlight ??= this.#load().finally(() => { this.#inFlight = undefined })
    return this.#inFlight
  }

  async #load () {
    const { log } = this.#options
    try {
      this.#jwksUrl ??= await this.#discover()
      const { body, maxAge } = await this.#fetchJson(this.#jwksUrl)
      const keys = this.#usableKeys(body)
      this.#keys = keys
      this.#staleAt = Date.now() + this.#cacheAge(maxAge) * 1000
      this.#retryAt = 0
      if (keys.size === 0) {
        log.warn({ jwksUrl: this.#jwksUrl }, 'the key set has no usable key')
      } else {
        log.debug({ jwksUrl: this.#jwksUrl, kids: [...keys.keys()] }, 'key set loaded')
      }
    } catch (error) {
      this.#retryAt = Date.now() + this.#options.cooldown * 1000
      if (this.#closed.signal.aborted) return
      const where = { err: error, jwksUrl: this.#jwksUrl, issuer: this.#options.issuer }
      if (this.#keys === undefined) {
        log.error(where, 'could not load the key set')
      } else {
        log.warn(where, 'could not refresh the key set; keeping the previous keys')
      }
    }
  }

  /** RFC 8414 §3: the issuer's metadata, which must name the issuer exactly, gives jwks_uri. */
  async #discover (): Promise<string> {
    const issuer = this.#options.issuer as string
    const { metadataUrl, body } = await this.#fetchMetadata(issuer)
    const metadata = body as { issuer?: unknown, jwks_uri?: unknown }
    if (metadata.issuer !== issuer) {
      throw new Error(`the metadata at ${metadataUrl} names another issuer`)
    }
    const jwksUri = metadata.jwks_uri
    if (typeof jwksUri !== 'string' || !isHttpUrl(jwksUri)) {
      throw new Error(`the metadata at ${metadataUrl} has no http(s) jwks_uri`)
    }
    // An https issuer does not hand its keys over plain http.
    if (new URL(issuer).protocol === 'https:' && new URL(jwksUri).protocol !== 'https:') {
      throw new Error(`the metadata at ${metadataUrl} has a jwks_uri that is not https`)
    }
    return jwksUri
  }

  /**
   * RFC 8414 §3 puts the metadata of an issuer with a path at `/.well-known/...` + the path; an
   * issuer with a path that serves it under its own path instead is asked there second.
   */
  async #fetchMetadata (issuer: string): Promise<{ metadataUrl: string, body: object }> {
    const url = new URL(issuer)
    const path = url.pathname.replace(/\/+$/, '')
    const standard = `${url.origin}/.well-known/oauth-authorization-server${path}`
    try {
      return { metadataUrl: standard, body: (await this.#fetchJson(standard)).body }
    } catch (error) {
      if (path === '') throw error
      const appended = `${url.origin}${path}/.well-known/oauth-authorization-server`
      return { metadataUrl: appended, body: (await this.#fetchJson(appended)).body }
    }
  }

  async #fetchJson (url: string): Promise<{ body: object, maxAge: number | undefined }> {
    const signal = AbortSignal.any([
      AbortSignal.timeout(this.#options.fetchTimeout * 1000),
      this.#closed.signal
    ])
    const response = await fetch(url, { headers: { accept: 'application/json' }, signal })
    if (!response.ok) {
      await response.body?.cancel()
      throw new Error(`${url} answered ${response.status}`)
    }
    const body: unknown = await response.json()
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new Error(`${url} did not answer with a JSON object`)
    }
    return { body, maxAge: maxAgeOf(response.headers.get('cache-control')) }
  }

  #cacheAge (maxAge: number | undefined): number {
    const { cooldown, maxCacheAge } = this.#options
    const floor = Math.min(cooldown, maxCacheAge)
    return Math.min(Math.max(maxAge ?? DEFAULT_CACHE_AGE_SECONDS, floor), maxCacheAge)
  }

  #usableKeys (body: object): Map<string, T> {
    const { keys } = body as { keys?: unknown }
    if (!Array.isArray(keys)) throw new Error(`${this.#jwksUrl} is not a key set`)

    const usable = new Map<string, T>()
    for (const jwk of keys as unknown[]) {
      const key = this.#remoteKey(jwk)
      if (key === undefined || usable.has(key.kid)) continue
      try {
        usable.set(key.kid, this.#options.prepare(key))
      } catch (error) {
        this.#options.log.debug({ err: error, kid: key.kid }, 'key ignored')
      }
    }
    return usable
  }

  /** A signing key of an allowed algorithm, public only; anything else is ignored. */
  #remoteKey (value: unknown): RemoteKey | undefined {
    if (typeof value !== 'object' || value === null) return undefined
    const jwk = value as Record<string, unknown>
    const { kid, alg, kty, use, crv } = jwk
    if (typeof kid !== 'string' || kid === '' || typeof alg !== 'string') return undefined
    if (!this.#options.algorithms.includes(alg) || KEY_TYPES[alg] !== kty) return undefined
    if (use !== undefined && use !== 'sig') return undefined
    if (jwk.key_ops !== undefined &&
      !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return undefined
    const curves = CURVES[alg]
    if (curves !== undefined && !curves.includes(crv as string)) return undefined
    if (jwk.d !== undefined) {
      // A published private key lets anyone sign: that key proves nothing.
      this.#options.log.warn({ kid }, 'the key set publishes a private key; key ignored')
      return undefined
    }

    try {
      const publicKey = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
      const bits = publicKey.asymmetricKeyDetails?.modulusLength
      if (kty === 'RSA' && (bits === undefined || bits < MIN_RSA_BITS)) return undefined
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
      return { kid, alg, pem }
    } catch {
      return undefined
    }
  }
}

/** The max-age of a Cache-Control header in seconds; 0 for no-store and no-cache. */
export function maxAgeOf (cacheControl: string | null): number | undefined {
  if (cacheControl === null) return undefined
  const directives = cacheControl.toLowerCase().split(',').map((part) => part.trim())
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0
  for (const directive of directives) {
    const match = /^max-age\s*=\s*"?(\d+)"?$/.exec(directive)
    if (match !== null) return Number(match[1])
  }
  return undefined
}

/** An absolute http(s) URL. */
export function isHttpUrl (value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol)
  } catch {
    return false
  }
}
