#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Readable, Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { read } from 'read'
import configPlugin from '../plugins/config.js'
import storePlugin from '../plugins/store.js'
import { addUser, changePassword, findUser, removeUser, setUserDisabled } from './accounts.js'
import { addClient, rotateClientSecret } from './clients.js'
import type { Settings } from './config.js'
import {
  CLOCK_TOLERANCE_SECONDS, PUBLICATION_LEAD_SECONDS, keySchedule, scheduleKey
} from './keys.js'
import { isSealed, openPrivateKey } from './key-encryption.js'
import { migrate } from './store/database.js'
import type { Client, Store, StoredSigningKey, User } from './store/index.js'

export interface CliIo {
  stdin: Readable & { isTTY?: boolean }
  stdout: Writable
  stderr: Writable
  /** Variables to read instead of `process.env` (and no `.env` file). */
  env?: Record<string, string | undefined>
}

const USAGE = `Usage: token-issuer <command> [--json]

  users add <username>       add a user; the password is read from a prompt or standard input
  users list                 list users
  users passwd <username>    set a user's password (prompt or standard input)
  users disable <username>   refuse the user's logins
  users enable <username>    allow the user's logins again
  users remove <username>    delete the user
  clients add <client_id>    register a client and print its secret (once)
      --grant <grant>          password, client_credentials or refresh_token (repeatable)
      --scope <scope>          a scope the client may ask for (repeatable)
      --audience <aud>         the aud of the client's access tokens
      --public                 no secret: only the password and refresh_token grants
  clients list               list clients
  clients rotate-secret <id> replace a client's secret and print the new one (once)
  clients remove <id>        delete a client and end its refresh tokens
  keys list                  list the signing keys (public parts only) and their states
  keys rotate                add the next signing key: served within a minute, signing after a
                             lead time (needs KEY_ENCRYPTION_SECRET if the keys are encrypted)
  migrate                    bring the database schema up to date

Settings come from the environment and .env, as for the server (DATA_DIR, DATABASE_URL, ...).
Passwords are never taken as arguments.
`

class UsageError extends Error {}
class CommandError extends Error {}

/** Runs one CLI command and resolves its exit code: 0 done, 1 failed, 2 bad usage. */
export async function runCli (argv: string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
        grant: { type: 'string', multiple: true, default: [] },
        scope: { type: 'string', multiple: true, default: [] },
        audience: { type: 'string' },
        public: { type: 'boolean', default: false }
      }
    })
  } catch (error) {
    // Name the option only: its value may be a password typed where it does not belong.
    const option = /'(-[^' ]*)/.exec((error as Error).message)?.[1] ?? 'an argument'
    const message = `Unknown or malformed option ${option}`
    io.stderr.write(argv.includes('--json')
      ? `${JSON.stringify({ error: 'usage', message })}\n`
      : `token-issuer: ${message}\n\n${USAGE}`)
    return 2
  }
  if (parsed.values.help === true || parsed.positionals.length === 0) {
    io.stdout.write(USAGE)
    return parsed.values.help === true ? 0 : 2
  }

  const fastify = Fastify({ logger: false })
  try {
    await fastify.register(configPlugin, io.env === undefined ? {} : { env: io.env, dotenv: false })
    await fastify.register(storePlugin, { databaseUrl: fastify.settings.databaseUrl })
    await fastify.ready()
    const output = await dispatch(fastify, parsed.positionals, parsed.values, io)
    io.stdout.write(parsed.values.json === true ? `${JSON.stringify(output.json)}\n` : output.text)
    return 0
  } catch (error) {
    const message = (error as Error).message
    const usage = error instanceof UsageError
    if (parsed.values.json === true) {
      io.stderr.write(`${JSON.stringify({ error: usage ? 'usage' : 'failed', message })}\n`)
    } else {
      io.stderr.write(`token-issuer: ${message}\n${usage ? `\n${USAGE}` : ''}`)
    }
    return usage ? 2 : 1
  } finally {
    await fastify.close()
  }
}

interface Output {
  text: string
  json: unknown
}

interface ClientFlags {
  grant?: string[]
  scope?: string[]
  audience?: string
  public?: boolean
}

async function dispatch (
  fastify: FastifyInstance, words: string[], flags: ClientFlags, io: CliIo
): Promise<Output> {
  const store = fastify.tokenStore
  const [group, command, name, ...rest] = words
  // Never quote extra words back: someone may have typed a password there.
  if (rest.length > 0) {
    throw new UsageError('Too many arguments (passwords are read from a prompt or standard input)')
  }
  const none = (output: () => Promise<Output>) => {
    if (name !== undefined) throw new UsageError(`${group} ${command} takes no argument`)
    return output()
  }

  switch (`${group} ${command ?? ''}`.trim()) {
    case 'users add': return await usersAdd(store, argument(name), io)
    case 'users list': return await none(async () => await usersList(store))
    case 'users passwd': return await usersPasswd(store, argument(name), io)
    case 'users disable': return await usersSetDisabled(store, argument(name), true)
    case 'users enable': return await usersSetDisabled(store, argument(name), false)
    case 'users remove': return await usersRemove(store, argument(name))
    case 'clients add': return await clientsAdd(store, argument(name, 'client id'), flags)
    case 'clients list': return await none(async () => await clientsList(store))
    case 'clients rotate-secret': return await clientsRotate(store, argument(name, 'client id'))
    case 'clients remove': return await clientsRemove(store, argument(name, 'client id'))
    case 'keys list': return await none(async () => await keysList(store, fastify.settings))
    case 'keys rotate': return await none(async () => await keysRotate(store, fastify.settings))
    case 'migrate': return { text: 'The database schema is up to date\n', json: { migrated: true } }
    default: throw new UsageError(`Unknown command: ${words.join(' ')}`)
  }
}

function argument (name: string | undefined, what = 'username'): string {
  if (name === undefined || name === '') throw new UsageError(`A ${what} is required`)
  return name
}

async function usersAdd (store: Store, username: string, io: CliIo): Promise<Output> {
  const password = await readNewPassword(io)
  const user = await addUser(store.users, username, password)
  return {
    text: `Added user ${user.username} (subject ${user.id})\n`,
    json: { id: user.id, username: user.username }
  }
}

async function usersList (store: Store): Promise<Output> {
  const users = (await store.users.list()).map((user) => ({
    id: user.id,
    username: user.username,
    disabled: user.disabled,
    createdAt: user.createdAt
  }))
  const lines = users.map((user) =>
    `${user.username}\t${user.disabled ? 'disabled' : 'enabled'}\t${user.id}\t${user.createdAt}`)
  return { text: lines.length === 0 ? 'No users\n' : `${lines.join('\n')}\n`, json: users }
}

async function usersPasswd (store: Store, username: string, io: CliIo): Promise<Output> {
  const user = await existingUser(store, username)
  const password = await readNewPassword(io)
  await changePassword(store, user.username, password)
  return {
    text: `Changed the password of ${user.username}; its refresh tokens no longer work\n`,
    json: { username: user.username, changed: true }
  }
}

async function usersSetDisabled (
  store: Store, username: string, disabled: boolean
): Promise<Output> {
  const user = await existingUser(store, username)
  await setUserDisabled(store, user, disabled)
  return {
    text: `${disabled ? 'Disabled' : 'Enabled'} user ${user.username}\n`,
    json: { username: user.username, disabled }
  }
}

async function usersRemove (store: Store, username: string): Promise<Output> {
  const user = await existingUser(store, username)
  await removeUser(store, user)
  const name = user.username
  return { text: `Removed user ${name}\n`, json: { username: name, removed: true } }
}

async function clientsAdd (store: Store, id: string, flags: ClientFlags): Promise<Output> {
  const { client, secret } = await addClient(store.clients, {
    id,
    grantTypes: flags.grant ?? [],
    scopes: flags.scope ?? [],
    public: flags.public === true,
    ...(flags.audience === undefined ? {} : { audience: flags.audience })
  })
  const summary = clientSummary(client)
  const text = secret === undefined
    ? `Added public client ${client.id}\n`
    : `Added client ${client.id}\nclient_secret: ${secret}\n` +
      'Store the secret now: it is shown only once.\n'
  return { text, json: { ...summary, ...(secret === undefined ? {} : { client_secret: secret }) } }
}

async function clientsList (store: Store): Promise<Output> {
  const clients = (await store.clients.list()).map(clientSummary)
  const lines = clients.map((client) => [
    client.client_id, client.public ? 'public' : 'confidential', client.grant_types.join(','),
    client.scopes.join(' ') || '-', client.audience ?? '-'
  ].join('\t'))
  return { text: lines.length === 0 ? 'No clients\n' : `${lines.join('\n')}\n`, json: clients }
}

async function clientsRotate (store: Store, id: string): Promise<Output> {
  const secret = await rotateClientSecret(store.clients, id)
  return {
    text: `New secret for ${id}\nclient_secret: ${secret}\nThe old secret no longer works.\n`,
    json: { client_id: id, client_secret: secret }
  }
}

async function clientsRemove (store: Store, id: string): Promise<Output> {
  if (await store.clients.find(id) === undefined) throw new CommandError(`No such client: ${id}`)
  await store.refreshTokens.revokeFamiliesOf({ clientId: id }, 'client removed')
  await store.clients.remove(id)
  return { text: `Removed client ${id}\n`, json: { client_id: id, removed: true } }
}

function clientSummary (client: Client) {
  return {
    client_id: client.id,
    public: client.secretHash === null,
    grant_types: client.grantTypes,
    scopes: client.scopes,
    audience: client.audience,
    createdAt: client.createdAt
  }
}

async function keysList (store: Store, settings: Settings): Promise<Output> {
  const schedule = keySchedule(await store.signingKeys.list(), Date.now(), settings.accessTokenTtl)
  const keys = schedule.map(({ key, state, retiresAt }) => ({
    kid: key.kid,
    algorithm: key.algorithm,
    state,
    createdAt: key.createdAt,
    activatesAt: key.activatesAt,
    retiresAt: retiresAt === undefined ? null : new Date(retiresAt).toISOString()
  }))
  const lines = keys.map((key) => [
    key.kid, key.algorithm, key.state, `signs from ${key.activatesAt}`,
    key.retiresAt === null ? '' : `retires ${key.retiresAt}`
  ].join('\t').trimEnd())
  let text = lines.length === 0 ? 'No signing keys yet\n' : `${lines.join('\n')}\n`
  if (settings.algorithm === 'HS256') {
    // Keys left from an algorithm used before: the service neither signs with them nor publishes.
    text = 'JWT_ALGORITHM is HS256: tokens are signed with JWT_SECRET, and no stored key signs\n' +
      (lines.length === 0 ? '' : text)
  }
  return { text, json: keys }
}

/**
 * Schedules the next signing key. It is published at once and signs after the publication lead,
 * so verifiers caching the key set have it before its first token; the running service (every
 * replica) reads it within a minute.
 */
async function keysRotate (store: Store, settings: Settings): Promise<Output> {
  if (settings.algorithm === 'HS256') {
    throw new CommandError('HS256 signs with JWT_SECRET: rotating means changing that secret')
  }
  const known = await store.signingKeys.list()
  if (known.length === 0) {
    // The service makes the first key itself, as its settings say (encrypted or not).
    throw new CommandError('No signing keys yet: start the service once, and it creates the first')
  }
  await checkKeyEncryption(known, settings.keyEncryptionSecret)
  const now = Date.now()
  const schedule = keySchedule(known, now, settings.accessTokenTtl)
  const pending = schedule.find(({ state }) => state === 'pending')
  if (pending !== undefined) {
    throw new CommandError(`Key ${pending.key.kid} is already scheduled to sign from ` +
      `${pending.key.activatesAt}`)
  }
  const current = schedule.find(({ state }) => state === 'active')

  const activatesAt = current === undefined ? now : now + PUBLICATION_LEAD_SECONDS * 1000
  const key = await scheduleKey(store.signingKeys, known, {
    algorithm: settings.algorithm,
    activatesAt,
    ...(settings.keyEncryptionSecret === undefined
      ? {}
      : { keyEncryptionSecret: settings.keyEncryptionSecret })
  })
  if (key === undefined) {
    throw new CommandError('Another process added a signing key at the same time: see keys list')
  }
  const retiresAt = new Date(activatesAt + (settings.accessTokenTtl + CLOCK_TOLERANCE_SECONDS) *
    1000).toISOString()
  const replaced = current === undefined
    ? ''
    : `Key ${current.key.kid} signs until then, and stays published until ${retiresAt}\n`
  return {
    text: `Scheduled key ${key.kid} (${key.algorithm}): running replicas publish it within a ` +
      `minute, and it signs from ${key.activatesAt}\n${replaced}`,
    json: {
      kid: key.kid,
      algorithm: key.algorithm,
      activatesAt: key.activatesAt,
      ...(current === undefined ? {} : { replaces: { kid: current.key.kid, retiresAt } })
    }
  }
}

/**
 * The new key is stored as the ones before it: sealed with the secret that opens them, or in
 * clear. A key the service cannot open would stop its next start, so a mismatch is refused.
 */
async function checkKeyEncryption (
  known: StoredSigningKey[], secret: Buffer | undefined
): Promise<void> {
  const sealed = known.filter((key) => isSealed(key.privateKeyPem))
  if (secret === undefined && sealed.length > 0) {
    throw new CommandError('KEY_ENCRYPTION_SECRET is required: the stored signing keys are ' +
      'encrypted with it')
  }
  if (secret !== undefined && sealed.length < known.length) {
    throw new CommandError('KEY_ENCRYPTION_SECRET is set, but the stored signing keys are not ' +
      'encrypted: start the service with it once to encrypt them, or rotate without it')
  }
  for (const key of sealed) {
    try {
      await openPrivateKey(key.privateKeyPem, secret)
    } catch {
      throw new CommandError('KEY_ENCRYPTION_SECRET does not open the stored signing keys: ' +
        'give the secret the service runs with')
    }
  }
}

async function existingUser (store: Store, username: string): Promise<User> {
  const user = await findUser(store.users, username)
  if (user === undefined) throw new CommandError(`No such user: ${username}`)
  return user
}

/** From a prompt without echo (asked twice), or the first line of standard input. */
async function readNewPassword (io: CliIo): Promise<string> {
  if (io.stdin.isTTY !== true) return await firstLine(io.stdin)

  const ask = async (prompt: string) =>
    await read({ prompt, silent: true, replace: '', input: io.stdin, output: io.stderr })
  const password = await ask('Password: ')
  if (await ask('Repeat the password: ') !== password) {
    throw new CommandError('The passwords do not match')
  }
  return password
}

async function firstLine (stream: Readable): Promise<string> {
  let text = ''
  for await (const chunk of stream) {
    text += chunk.toString()
    if (text.includes('\n')) break
  }
  const line = text.split('\n')[0]?.replace(/\r$/, '') ?? ''
  if (line === '') throw new CommandError('No password on standard input')
  return line
}

// The schema is migrated when the store opens; `migrate` only makes that an explicit step.
export { migrate }

function isEntryPoint (): boolean {
  const entry = process.argv[1]
  return entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)
}

if (isEntryPoint()) {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr
  })
}
