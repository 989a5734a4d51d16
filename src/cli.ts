#!/usr/bin/env node
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Readable, Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { read } from 'read'
import configPlugin from '../plugins/config.js'
import storePlugin from '../plugins/store.js'
import { addUser, changePassword } from './accounts.js'
import { normaliseUsername } from './credentials.js'
import { migrate } from './store/database.js'
import type { Store } from './store/index.js'

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
  keys list                  list the signing keys (public parts only)
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
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } }
    })
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n\n${USAGE}`)
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
    const output = await dispatch(fastify, parsed.positionals, io)
    io.stdout.write(parsed.values.json === true ? `${JSON.stringify(output.json)}\n` : output.text)
    return 0
  } catch (error) {
    io.stderr.write(`token-issuer: ${(error as Error).message}\n`)
    if (error instanceof UsageError) io.stderr.write(`\n${USAGE}`)
    return error instanceof UsageError ? 2 : 1
  } finally {
    await fastify.close()
  }
}

interface Output {
  text: string
  json: unknown
}

async function dispatch (fastify: FastifyInstance, words: string[], io: CliIo): Promise<Output> {
  const store = fastify.tokenStore
  const [group, command, name, ...rest] = words
  if (rest.length > 0) throw new UsageError(`Unexpected argument: ${rest[0]}`)

  switch (`${group} ${command ?? ''}`.trim()) {
    case 'users add': return await usersAdd(store, argument(name), io)
    case 'users list': return await usersList(store)
    case 'users passwd': return await usersPasswd(store, argument(name), io)
    case 'users disable': return await usersSetDisabled(store, argument(name), true)
    case 'users enable': return await usersSetDisabled(store, argument(name), false)
    case 'users remove': return await usersRemove(store, argument(name))
    case 'keys list': return await keysList(store)
    case 'migrate': return { text: 'The database schema is up to date\n', json: { migrated: true } }
    default: throw new UsageError(`Unknown command: ${words.join(' ')}`)
  }
}

function argument (name: string | undefined): string {
  if (name === undefined || name === '') throw new UsageError('A username is required')
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
  await existingUser(store, username)
  const password = await readNewPassword(io)
  await changePassword(store.users, username, password)
  return { text: `Changed the password of ${username}\n`, json: { username, changed: true } }
}

async function usersSetDisabled (
  store: Store, username: string, disabled: boolean
): Promise<Output> {
  const name = await existingUser(store, username)
  await store.users.setDisabled(name, disabled)
  return {
    text: `${disabled ? 'Disabled' : 'Enabled'} user ${name}\n`,
    json: { username: name, disabled }
  }
}

async function usersRemove (store: Store, username: string): Promise<Output> {
  const name = await existingUser(store, username)
  await store.users.remove(name)
  return { text: `Removed user ${name}\n`, json: { username: name, removed: true } }
}

async function keysList (store: Store): Promise<Output> {
  const keys = (await store.signingKeys.list()).map((key) => ({
    kid: key.kid,
    algorithm: key.algorithm,
    createdAt: key.createdAt
  }))
  const lines = keys.map((key) => `${key.kid}\t${key.algorithm}\t${key.createdAt}`)
  const text = lines.length === 0 ? 'No signing keys yet\n' : `${lines.join('\n')}\n`
  return { text, json: keys }
}

async function existingUser (store: Store, username: string): Promise<string> {
  const name = normaliseUsername(username)
  const user = name === undefined ? undefined : await store.users.find(name)
  if (user === undefined) throw new CommandError(`No such user: ${username}`)
  return user.username
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
