import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Fastify, { type FastifyInstance } from 'fastify'
import tokenIssuer, { type VerifyCredentials } from '../src/index.js'

/**
 * An existing Fastify app that adds token issuing in a few lines: its own users, the token
 * endpoints under /auth, and a route protected with `authenticate`.
 *
 *   node --import tsx examples/host-app.ts
 *   curl -s http://127.0.0.1:5000/auth/token -d grant_type=password -d username=grace \
 *     -d password=cobol-1959
 *   curl -H "authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:5000/profile
 */

type Scrypt = (password: string, salt: Buffer, length: number) => Promise<Buffer>
const hash = promisify(scrypt) as Scrypt

/** The host's own user table; here in memory, in real life its database. */
const people = new Map<string, { id: string, roles: string[], salt: Buffer, hash: Buffer }>()

export async function addPerson (username: string, password: string, roles: string[]) {
  const salt = randomBytes(16)
  const id = `person-${people.size + 1}`
  people.set(username, { id, roles, salt, hash: await hash(password, salt, 32) })
}

const dummy = { salt: randomBytes(16), hash: randomBytes(32) }

/** Same work for unknown people as for wrong passwords, so answers tell nothing. */
const verifyCredentials: VerifyCredentials = async (username, password) => {
  const person = people.get(username.toLowerCase())
  const { salt, hash: expected } = person ?? dummy
  const matches = timingSafeEqual(await hash(password, salt, 32), expected)
  return matches && person !== undefined ? { subject: person.id } : undefined
}

export interface HostAppOptions {
  issuer: string
  databaseUrl: string
}

export async function buildHostApp (options: HostAppOptions): Promise<FastifyInstance> {
  const app = Fastify()

  await app.register(tokenIssuer, {
    prefix: '/auth',
    issuer: options.issuer,
    databaseUrl: options.databaseUrl,
    verifyCredentials,
    // Every access token carries the person's roles, looked up again on each refresh.
    claims: ({ subject }) => ({
      roles: [...people.values()].find((person) => person.id === subject)?.roles ?? []
    })
  })

  app.get('/profile', { preHandler: app.authenticate }, async (request) => ({
    subject: request.user.sub,
    roles: request.user.roles
  }))
  return app
}

async function main () {
  await addPerson('grace', 'cobol-1959', ['admiral'])
  const port = Number(process.env.PORT ?? 5000)
  const app = await buildHostApp({
    issuer: process.env.ISSUER ?? `http://127.0.0.1:${port}/auth`,
    databaseUrl: process.env.DATABASE_URL ?? 'sqlite:./data/host-app.db'
  })
  await app.listen({ port, host: '127.0.0.1' })
  console.log(`host app on http://127.0.0.1:${port}`)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
