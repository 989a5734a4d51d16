import {
  checkNewPassword, checkNewUsername, normalisePassword, normaliseUsername
} from './credentials.js'
import { CredentialPolicyError } from './errors.js'
import { hashPassword, type PasswordVerifier } from './passwords.js'
import type { User } from './store/index.js'
import type { UserStore } from './store/users.js'

/** Account operations shared by the CLI, the first-run bootstrap and the password grant. */

export async function addUser (
  users: UserStore, username: string, password: string
): Promise<User> {
  const name = checkNewUsername(username)
  const hash = await hashPassword(checkNewPassword(password))

  const user = await users.create(name, hash)
  if (user === undefined) throw new CredentialPolicyError(`User ${name} already exists`)
  return user
}

/** Resolves false when there is no such user. */
export async function changePassword (
  users: UserStore, username: string, password: string
): Promise<boolean> {
  const hash = await hashPassword(checkNewPassword(password))
  return await users.setPasswordHash(normaliseUsername(username) ?? '', hash)
}

/**
 * The user a username and password name, or undefined. Unknown usernames, wrong passwords and
 * disabled accounts are indistinguishable to the caller and cost one argon2id verification each.
 */
export async function authenticateUser (
  users: UserStore, verifier: PasswordVerifier, username: string, password: string
): Promise<User | undefined> {
  const name = normaliseUsername(username)
  const user = name === undefined ? undefined : await users.find(name)
  const candidate = normalisePassword(password)

  const matches = await verifier.verify(user?.passwordHash, candidate)
  if (user === undefined || !matches || user.disabled) return undefined

  if (verifier.needsRehash(user.passwordHash)) {
    await users.setPasswordHash(user.username, await hashPassword(candidate))
  }
  return user
}
