import { randomBytes } from 'node:crypto'
import { rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { addUser, findUser } from './accounts.js'
import { ConfigError } from './errors.js'
import { makePrivateDirectory } from './private-files.js'
import type { UserStore } from './store/users.js'

export const INITIAL_PASSWORD_FILE = 'initial-admin-password'

export interface BootstrapOptions {
  users: UserStore
  dataDir: string
  log: FastifyBaseLogger
  /** The first user, from BOOTSTRAP_USERNAME / BOOTSTRAP_PASSWORD. */
  user?: { username: string, password: string }
}

/**
 * Gives a fresh store its first user, so a new install can issue a token at once: the configured
 * one, or `admin` with a random password written to a file only the owner can read.
 */
export async function bootstrapFirstUser (options: BootstrapOptions): Promise<void> {
  if (await options.users.count() > 0) {
    if (options.user !== undefined) {
      options.log.info('BOOTSTRAP_USERNAME is ignored: the store already has users')
    }
    return
  }

  if (options.user !== undefined) {
    const { username, password } = options.user
    try {
      const user = await addUser(options.users, username, password)
      options.log.info({ username: user.username }, 'created the bootstrap user')
    } catch (error) {
      // Replicas starting together on one store race here: the first one creates the user.
      if (await findUser(options.users, username) === undefined) throw error
    }
    return
  }

  // The password is written first: an admin whose password could not be saved would be locked
  // out. It goes to a file of this process's own, renamed into place only once the admin is
  // created: replicas racing on one store and one DATA_DIR must not remove the winner's file.
  const password = randomBytes(18).toString('base64url')
  const file = join(options.dataDir, INITIAL_PASSWORD_FILE)
  const pending = `${file}.${randomBytes(6).toString('hex')}.pending`
  await writePrivateFile(pending, `${password}\n`)
  try {
    await addUser(options.users, 'admin', password)
  } catch (error) {
    await rm(pending, { force: true })
    // Another replica sharing the store created it first: its file is the one that counts.
    // Any other failure (the store went away) stops the start rather than leave no admin.
    if (await findUser(options.users, 'admin') === undefined) throw error
    return
  }
  await rename(pending, file)
  options.log.warn({ username: 'admin', passwordFile: file },
    'created user admin; its password is in the file named here (delete it once changed)')
}

async function writePrivateFile (file: string, content: string): Promise<void> {
  try {
    makePrivateDirectory(dirname(file))
    // Removed first so the new file is created owner-only, whatever an old one's mode was.
    await rm(file, { force: true })
    await writeFile(file, content, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'error'
    throw new ConfigError(`DATA_DIR: cannot write ${file} (${code})`)
  }
}
