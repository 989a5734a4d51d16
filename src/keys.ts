import { createHash, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { SigningAlgorithm } from './config.js'
import { isSealed, openPrivateKey, sealPrivateKey } from './key-encryption.js'
import type { SigningKeyStore, StoredSigningKey } from './store/signing-keys.js'

const generate = promisify(generateKeyPair)

export type AsymmetricAlgorithm = Exclude<SigningAlgorithm, 'HS256'>

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

/** The key that signs new tokens, in the form @fastify/jwt takes. */
export interface ActiveKey {
  kid: string
  algorithm: SigningAlgorithm
  /** PKCS #8 PEM, or the raw HS256 secret. */
  signingKey: string | Buffer
  /** SPKI PEM, or the raw HS256 secret. */
  verifyingKey: string | Buffer
}

export interface KeySet {
  active: ActiveKey
  /** The public keys to publish; empty for HS256, whose key is a shared secret. */
  published: PublicJwk[]
}

/**
 * Loads the key that signs with `algorithm`, generating and storing one on first start, so a
 * restart keeps signing with (and publishing) the same key. With a key-encryption secret, private
 * keys are stored sealed, and keys stored in clear before are sealed now.
 */
export async function loadKeySet (
  store: SigningKeyStore, algorithm: SigningAlgorithm, secret?: Buffer, keyEncryptionSecret?: Buffer
): Promise<KeySet> {
  if (algorithm === 'HS256') {
    if (secret === undefined) throw new TypeError('HS256 needs a secret')
    return { active: hmacKey(secret), published: [] }
  }

  const stored = await store.newest(algorithm) ??
    await createKey(store, algorithm, keyEncryptionSecret)
  const all = await store.list()
  if (keyEncryptionSecret !== undefined) await sealStoredKeys(store, all, keyEncryptionSecret)

  const pem = await openPrivateKey(stored.privateKeyPem, keyEncryptionSecret)
  const published = all.map((key) => key.publicJwk as unknown as PublicJwk)
  return { active: activeKeyFrom({ ...stored, privateKeyPem: pem }), published }
}

async function sealStoredKeys (
  store: SigningKeyStore, keys: StoredSigningKey[], keyEncryptionSecret: Buffer
): Promise<void> {
  for (const key of keys.filter((key) => !isSealed(key.privateKeyPem))) {
    await store.setPrivateKey(key.kid, await sealPrivateKey(key.privateKeyPem, keyEncryptionSecret))
  }
}

async function createKey (
  store: SigningKeyStore, algorithm: AsymmetricAlgorithm, keyEncryptionSecret?: Buffer
): Promise<StoredSigningKey> {
  const { privateKey, publicKey } = await generateFor(algorithm)
  const publicJwk = publicJwkOf(publicKey, algorithm)

  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const key: StoredSigningKey = {
    kid: publicJwk.kid,
    algorithm,
    publicJwk: { ...publicJwk },
    privateKeyPem: keyEncryptionSecret === undefined
      ? pem
      : await sealPrivateKey(pem, keyEncryptionSecret),
    createdAt: new Date().toISOString()
  }
  await store.insert(key)
  return key
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

function activeKeyFrom (key: StoredSigningKey): ActiveKey {
  return {
    kid: key.kid,
    algorithm: key.algorithm as SigningAlgorithm,
    signingKey: key.privateKeyPem,
    verifyingKey: createPublicKey(key.privateKeyPem)
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

/** What verifies a token signed with one of our keys: the key and its one algorithm. */
export interface VerificationKey {
  algorithm: SigningAlgorithm
  key: string | Buffer
}

/** Every key a token of ours may carry in `kid`, by kid: the published ones, or the secret. */
export function verificationKeys (keys: KeySet): Map<string, VerificationKey> {
  if (keys.active.algorithm === 'HS256') {
    return new Map([[keys.active.kid, { algorithm: 'HS256', key: keys.active.verifyingKey }]])
  }
  return new Map(keys.published.map((jwk) => [jwk.kid, {
    algorithm: jwk.alg as SigningAlgorithm,
    key: createPublicKey({ key: { ...jwk }, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
      .toString()
  }]))
}
