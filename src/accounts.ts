import {
  checkNewPassword, checkNewUsername, normalisePassword, normaliseUsername
} from './credentials.js'
import { CredentialPolicyError } from './errors.js'
import { hashPassword, type PasswordVerifier } from './passwords.js'
import type { Store, User } from './store/index.js'
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

/** The stored user a username names (in any case or Unicode form), or undefined. */
export async function findUser (users: UserStore, username: string): Promise<User | undefined> {
  const name = normaliseUsername(username)
  return name === undefined ? undefined : await users.find(name)
}

/**
 * Sets a new password and ends the user's refresh token families: after a suspected compromise,
 * a new password must lock out whoever had the old one. Resolves false when there is no such user.
 */
export async function changePassword (
  store: Store, username: string, password: string
): Promise<boolean> {
  const hash = await hashPassword(checkNewPassword(password))
  const user = await findUser(store.users, username)
  if (user === undefined) return false

  await store.users.setPasswordHash(user.username, hash)
  await store.refreshTokens.revokeFamiliesOf({ userId: user.id }, 'password changed')
  return true
}

/** Disables (or enables) a user; disabling ends the user's refresh token families. */
export async function setUserDisabled (
  store: Store, user: User, disabled: boolean
): Promise<void> {
  await store.users.setDisabled(user.username, disabled)
  if (disabled) await store.refreshTokens.revokeFamiliesOf({ userId: user.id }, 'user disabled')
}

export async function removeUser (store: Store, user: User): Promise<void> {
  await store.refreshTokens.revokeFamiliesOf({ userId: user.id }, 'user removed')
  await store.users.remove(user.username)
}

/**
 * The user a username and password name, or undefined. Unknown usernames, wrong passwords and
 * disabled accounts are indistinguishable to the caller and cost one argon2id verification each.
 */
export async function authenticateUser (
  users: UserStore, verifier: PasswordVerifier, username: string, password: string
): Promise<User | undefined> {
  const user = await findUser(users, username)
  const candidate = normalisePassword(password)

  const matches = await verifier.verify(user?.passwordHash, candidate)
  if (user === undefined || !matches || user.disabled) return undefined

  if (verifier.needsRehash(user.passwordHash)) {
    await users.setPasswordHash(user.username, await hashPassword(candidate))
  }
  return user
}
