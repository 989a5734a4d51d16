import { createHash, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { SigningAlgorithm } from './config.js'
import { isSealed, openPrivateKey, sealPrivateKey } from './key-encryption.js'
import type { SigningKeyStore, StoredSigningKey } from './store/signing-keys.js'

const generate = promisify(generateKeyPair)

export type AsymmetricAlgorithm = Exclude<SigningAlgorithm, 'HS256'>

/** How long verifiers may cache the key set: the `max-age` of `/.well-known/jwks.json`. */
export const JWKS_MAX_AGE_SECONDS = 300
/** How often a running issuer reads the keys again, to see keys other replicas added. */
export const KEY_RELOAD_SECONDS = 60
/** Seconds of clock skew tolerated between an issuer and a verifier, or between replicas. */
export const CLOCK_TOLERANCE_SECONDS = 5
/**
 * How long a new key is published before it signs: a verifier's cached key set, the time the
 * slowest replica takes to read the new key, and clock skew. A verifier that refreshes its cache as
 * the headers allow therefore holds every key before the first token signed with it arrives.
 */
export const PUBLICATION_LEAD_SECONDS =
  JWKS_MAX_AGE_SECONDS + KEY_RELOAD_SECONDS + CLOCK_TOLERANCE_SECONDS

/** A public key as published in the key set (RFC 7517 §4, RFC 7518 §6). */
export interface PublicJwk {
  kty: string
  kid: string
  use: 'sig'
  alg: string
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
}

/** The key that signs new tokens, in the form @fastify/jwt and fast-jwt take. */
export interface ActiveKey {
  kid: string
  algorithm: SigningAlgorithm
  /** PKCS #8 PEM, or the raw HS256 secret. */
  signingKey: string | Buffer
  /** SPKI PEM, or the raw HS256 secret. */
  verifyingKey: string | Buffer
}

/** What verifies a token signed with one of our keys: the key and its one algorithm. */
export interface VerificationKey {
  algorithm: SigningAlgorithm
  key: string | Buffer
}

/** Where a verifier looks up the key a token's `kid` names. */
export interface VerificationKeys {
  verificationKey: (kid: string) => VerificationKey | undefined
}

/**
 * - `pending`: published, not signing yet;
 * - `active`: signing;
 * - `retiring`: replaced, still published while tokens it signed may be alive;
 * - `retired`: every token it signed has expired; unpublished, and deleted.
 */
export type KeyState = 'pending' | 'active' | 'retiring' | 'retired'

export interface ScheduledKey {
  key: StoredSigningKey
  state: KeyState
  /** Milliseconds since the epoch. */
  activatesAt: number
  /** When the key leaves the key set; undefined while no later key is scheduled. */
  retiresAt?: number
}

/**
 * The state of every stored key at `now` (milliseconds). Keys sign one after another in the order
 * of their activation; the newest activated key signs, and a replaced key stays published for the
 * access token lifetime (and the clock tolerance) after its successor took over.
 */
export function keySchedule (
  keys: StoredSigningKey[], now: number, accessTokenTtl: number
): ScheduledKey[] {
  const ordered = [...keys].sort((a, b) =>
    Date.parse(a.activatesAt) - Date.parse(b.activatesAt) || a.generation - b.generation)
  const activeIndex = ordered.findLastIndex((key) => Date.parse(key.activatesAt) <= now)
  const overlap = (accessTokenTtl + CLOCK_TOLERANCE_SECONDS) * 1000

  return ordered.map((key, index) => {
    const activatesAt = Date.parse(key.activatesAt)
    const next = ordered[index + 1]
    const retiresAt = next === undefined ? undefined : Date.parse(next.activatesAt) + overlap
    const state: KeyState = index === activeIndex
      ? 'active'
      : index > activeIndex
        ? 'pending'
        : retiresAt !== undefined && retiresAt <= now ? 'retired' : 'retiring'
    return { key, state, activatesAt, ...(retiresAt === undefined ? {} : { retiresAt }) }
  })
}

export interface KeyRingOptions {
  store: SigningKeyStore
  algorithm: SigningAlgorithm
  /** The HS256 key; only with `algorithm: 'HS256'`. */
  secret?: Buffer
  /** Seals private keys at rest. */
  keyEncryptionSecret?: Buffer
  /** Access token lifetime in seconds: how long a replaced key stays published. */
  accessTokenTtl: number
  /** Seconds between automatic rotations; undefined: keys change only by `scheduleKey`. */
  rotationInterval?: number
  /** The clock, in milliseconds since the epoch. */
  now?: () => number
}

export interface RefreshResult {
  /** A key this replica added, to sign after the publication lead. */
  scheduled?: StoredSigningKey
  /** Keys deleted because no live token can carry them. */
  retired: string[]
}

interface Entry {
  stored: StoredSigningKey
  jwk: PublicJwk
  verification: VerificationKey
  /** The opened private key of a key that signs now or will. */
  privatePem?: string
}

interface View {
  /** The view holds until this time (ms): the next activation or retirement. */
  until: number
  active: ActiveKey
  activeSince: number
  published: PublicJwk[]
  json: string
  kids: Set<string>
}

/**
 * The signing keys of one issuer, shared by its replicas through the store: the key that signs
 * now, the keys that verify, and the key set to publish. Replicas agree without talking to each
 * other: the schedule is a function of the stored keys and the clock, and the store's unique
 * generation lets only one replica add each next key.
 */
export class KeyRing implements VerificationKeys {
  readonly #options: KeyRingOptions
  readonly #now: () => number
  #stored: StoredSigningKey[] = []
  #entries = new Map<string, Entry>()
  #hmac: ActiveKey | undefined
  #view: View | undefined

  private constructor (options: KeyRingOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /**
   * Loads the keys, adding one that signs at once on a first start or after a change of
   * algorithm. With a key-encryption secret, keys stored in clear before are sealed now.
   */
  static async open (options: KeyRingOptions): Promise<KeyRing> {
    const ring = new KeyRing(options)
    if (options.algorithm === 'HS256') {
      if (options.secret === undefined) throw new TypeError('HS256 needs a secret')
      ring.#hmac = hmacKey(options.secret)
      return ring
    }

    await ring.#load()
    for (let attempt = 0; attempt < 3 && !ring.#signsWithConfiguredAlgorithm(); attempt++) {
      // Nothing can have cached a first key, and verifiers refetch on an unknown kid.
      await scheduleKey(options.store, ring.#stored, {
        algorithm: options.algorithm as AsymmetricAlgorithm,
        activatesAt: ring.#now(),
        ...(options.keyEncryptionSecret === undefined
          ? {}
          : { keyEncryptionSecret: options.keyEncryptionSecret })
      })
      await ring.#load()
    }
    if (options.keyEncryptionSecret !== undefined) {
      await sealStoredKeys(options.store, ring.#stored, options.keyEncryptionSecret)
    }
    ring.#viewAt(ring.#now())
    return ring
  }

  /** The key that signs now. */
  get active (): ActiveKey {
    return this.#hmac ?? this.#viewAt(this.#now()).active
  }

  /** When the active key started signing (ms), for its age. */
  get activeSince (): number {
    return this.#hmac === undefined ? this.#viewAt(this.#now()).activeSince : 0
  }

  /** The public keys to publish now; empty for HS256, whose key is a shared secret. */
  get published (): PublicJwk[] {
    return this.#hmac === undefined ? this.#viewAt(this.#now()).published : []
  }

  /** The key set document (`{ keys }`) as JSON, built once per change of the set. */
  get publishedJson (): string {
    return this.#hmac === undefined ? this.#viewAt(this.#now()).json : '{"keys":[]}'
  }

  /** The key a token's `kid` names, while that key is published (or the HS256 secret). */
  verificationKey (kid: string): VerificationKey | undefined {
    const hmac = this.#hmac
    if (hmac !== undefined) {
      return kid === hmac.kid ? { algorithm: 'HS256', key: hmac.verifyingKey } : undefined
    }
    if (!this.#viewAt(this.#now()).kids.has(kid)) return undefined
    return this.#entries.get(kid)?.verification
  }

  /** Every stored key with its state now. */
  schedule (): ScheduledKey[] {
    return keySchedule(this.#stored, this.#now(), this.#options.accessTokenTtl)
  }

  /**
   * Reads the keys again (to see keys other replicas added), adds the next key when an automatic
   * rotation is due, and deletes retired keys.
   */
  async refresh (): Promise<RefreshResult> {
    if (this.#hmac !== undefined) return { retired: [] }
    await this.#load()
    // A key another process stored in clear (a tool run without the secret) is sealed now.
    const secret = this.#options.keyEncryptionSecret
    if (secret !== undefined && this.#stored.some((key) => !isSealed(key.privateKeyPem))) {
      await sealStoredKeys(this.#options.store, this.#stored, secret)
      await this.#load()
    }

    const scheduled = await this.#rotateIfDue()
    if (scheduled !== undefined) await this.#load()

    const retired = this.schedule().filter(({ state }) => state === 'retired')
      .map(({ key }) => key.kid)
    for (const kid of retired) await this.#options.store.remove(kid)
    return { ...(scheduled === undefined ? {} : { scheduled }), retired }
  }

  async #rotateIfDue (): Promise<StoredSigningKey | undefined> {
    const interval = this.#options.rotationInterval
    const newest = this.#stored.at(-1)
    if (interval === undefined || newest === undefined) return undefined

    const now = this.#now()
    const due = Date.parse(newest.activatesAt) + interval * 1000
    if (now < due - PUBLICATION_LEAD_SECONDS * 1000) return undefined
    return await scheduleKey(this.#options.store, this.#stored, {
      algorithm: this.#options.algorithm as AsymmetricAlgorithm,
      activatesAt: Math.max(due, now + PUBLICATION_LEAD_SECONDS * 1000),
      ...(this.#options.keyEncryptionSecret === undefined
        ? {}
        : { keyEncryptionSecret: this.#options.keyEncryptionSecret })
    })
  }

  #signsWithConfiguredAlgorithm (): boolean {
    const active = this.schedule().find(({ state }) => state === 'active')
    return active?.key.algorithm === this.#options.algorithm
  }

  /** Reads every stored key, and opens the private keys of those that sign now or will. */
  async #load (): Promise<void> {
    this.#stored = await this.#options.store.list()
    const entries = new Map<string, Entry>()

    for (const { key, state } of this.schedule()) {
      if (state === 'retired') continue
      const known = this.#entries.get(key.kid)
      const privatePem = known?.privatePem ?? (state === 'retiring'
        ? undefined
        : await openPrivateKey(key.privateKeyPem, this.#options.keyEncryptionSecret))
      entries.set(key.kid, {
        stored: key,
        jwk: key.publicJwk as unknown as PublicJwk,
        verification: known?.verification ?? verificationKeyOf(key),
        ...(privatePem === undefined ? {} : { privatePem })
      })
    }
    this.#entries = entries
    this.#view = undefined
  }

  /** What holds at `now`, computed again only when a key activates or retires. */
  #viewAt (now: number): View {
    if (this.#view !== undefined && now < this.#view.until) return this.#view

    const schedule = keySchedule([...this.#entries.values()].map((entry) => entry.stored), now,
      this.#options.accessTokenTtl)
    const current = schedule.find(({ state }) => state === 'active')
    const entry = current === undefined ? undefined : this.#entries.get(current.key.kid)
    if (current === undefined || entry?.privatePem === undefined) {
      throw new Error('no signing key is active: the store holds only keys scheduled for later')
    }
    const live = schedule.filter(({ state }) => state !== 'retired')
    const published = live.map(({ key }) => this.#entries.get(key.kid)?.jwk as PublicJwk)
    const changes = schedule.flatMap(({ activatesAt, retiresAt }) => [activatesAt, retiresAt ?? 0])
      .filter((time) => time > now)

    this.#view = {
      until: Math.min(Infinity, ...changes),
      active: {
        kid: entry.stored.kid,
        algorithm: entry.stored.algorithm as SigningAlgorithm,
        signingKey: entry.privatePem,
        verifyingKey: entry.verification.key
      },
      activeSince: current.activatesAt,
      published,
      json: JSON.stringify({ keys: published }),
      kids: new Set(published.map((jwk) => jwk.kid))
    }
    return this.#view
  }
}

export interface ScheduleKeyOptions {
  algorithm: AsymmetricAlgorithm
  /** When the key starts signing (ms); it is published from now. */
  activatesAt: number
  keyEncryptionSecret?: Buffer
}

/**
 * Generates a key pair and stores it as the next generation after `known`. Resolves undefined
 * when another replica stored that generation first: its key is the one that counts.
 */
export async function scheduleKey (
  store: SigningKeyStore, known: StoredSigningKey[], options: ScheduleKeyOptions
): Promise<StoredSigningKey | undefined> {
  const { privateKey, publicKey } = await generateFor(options.algorithm)
  const publicJwk = publicJwkOf(publicKey, options.algorithm)
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

  const key: StoredSigningKey = {
    kid: publicJwk.kid,
    algorithm: options.algorithm,
    publicJwk: { ...publicJwk },
    privateKeyPem: options.keyEncryptionSecret === undefined
      ? pem
      : await sealPrivateKey(pem, options.keyEncryptionSecret),
    createdAt: new Date().toISOString(),
    activatesAt: new Date(options.activatesAt).toISOString(),
    generation: Math.max(0, ...known.map((stored) => stored.generation)) + 1
  }
  return await store.insert(key) ? key : undefined
}

async function sealStoredKeys (
  store: SigningKeyStore, keys: StoredSigningKey[], keyEncryptionSecret: Buffer
): Promise<void> {
  for (const key of keys.filter((key) => !isSealed(key.privateKeyPem))) {
    await store.setPrivateKey(key.kid, await sealPrivateKey(key.privateKeyPem, keyEncryptionSecret))
  }
}

async function generateFor (algorithm: AsymmetricAlgorithm) {
  switch (algorithm) {
    case 'ES256': return await generate('ec', { namedCurve: 'P-256' })
    case 'EdDSA': return await generate('ed25519')
    // RFC 8725 §3.5 and RFC 7518 §3.3: RSA keys of at least 2048 bits.
    case 'RS256': return await generate('rsa', { modulusLength: 2048 })
  }
}

/** The public JWK with its RFC 7638 thumbprint as `kid`. */
export function publicJwkOf (publicKey: KeyObject, algorithm: AsymmetricAlgorithm): PublicJwk {
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>
  return { ...pickRequired(jwk), kid: thumbprint(jwk), use: 'sig', alg: algorithm } as PublicJwk
}

const requiredMembers: Record<string, string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n']
}

function pickRequired (jwk: Record<string, string>): Record<string, string> {
  const names = requiredMembers[jwk.kty as string] ?? []
  return Object.fromEntries(names.map((name) => [name, jwk[name] as string]))
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, base64url. */
export function thumbprint (jwk: Record<string, string>): string {
  const canonical = JSON.stringify(pickRequired(jwk))
  return createHash('sha256').update(canonical).digest('base64url')
}

function verificationKeyOf (key: StoredSigningKey): VerificationKey {
  return {
    algorithm: key.algorithm as SigningAlgorithm,
    key: createPublicKey({ key: { ...key.publicJwk }, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString()
  }
}

function hmacKey (secret: Buffer): ActiveKey {
  // The kid only has to tell secrets apart; a token's HMAC already lets anyone test a guess.
  const kid = createHash('sha256').update('fastify-token-issuer kid\0').update(secret)
    .digest('base64url').slice(0, 22)
  return { kid, algorithm: 'HS256', signingKey: secret, verifyingKey: secret }
}
