import {
  createCipheriv, createDecipheriv, randomBytes, scrypt, type ScryptOptions
} from 'node:crypto'
import { ConfigError } from './errors.js'

const PREFIX = 'enc:v1:'
// scrypt with N = 2^15 (about 32 MiB and 0.1 s): the secret may be a passphrase, and keys are only
// opened at start.
const SCRYPT: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const AAD = Buffer.from('fastify-token-issuer signing key')

function deriveKey (secret: Buffer, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, 32, SCRYPT, (error, key) => {
      if (error === null) resolve(key)
      else reject(error)
    })
  })
}

export function isSealed (stored: string): boolean {
  return stored.startsWith(PREFIX)
}

/** A private key encrypted for storage: AES-256-GCM under a key derived from the secret. */
export async function sealPrivateKey (pem: string, secret: Buffer): Promise<string> {
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(secret, salt), iv).setAAD(AAD)
  const sealed = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()])
  return PREFIX + Buffer.concat([salt, iv, cipher.getAuthTag(), sealed]).toString('base64url')
}

/** The PEM of a stored private key, opening it when it is sealed. */
export async function openPrivateKey (stored: string, secret: Buffer | undefined): Promise<string> {
  if (!isSealed(stored)) return stored
  if (secret === undefined) {
    throw new ConfigError(
      'KEY_ENCRYPTION_SECRET is required: the stored signing keys are encrypted'
    )
  }

  const bytes = Buffer.from(stored.slice(PREFIX.length), 'base64url')
  try {
    const decipher = createDecipheriv('aes-256-gcm', await deriveKey(secret, bytes.subarray(0, 16)),
      bytes.subarray(16, 28)).setAAD(AAD)
    decipher.setAuthTag(bytes.subarray(28, 44))
    return Buffer.concat([decipher.update(bytes.subarray(44)), decipher.final()]).toString('utf8')
  } catch {
    throw new ConfigError('KEY_ENCRYPTION_SECRET does not open the stored signing keys')
  }
}
