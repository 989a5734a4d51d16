/**
 * Compares the latency of a failed login for an existing user (wrong password) with that of an
 * unknown user, in the same run and in alternation, so machine noise hits both alike.
 * Target: the ratio of medians within 1.1 (both pay one argon2id verification).
 *
 *   npm run bench:login-timing [-- rounds]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import app from '../src/app.js'

const rounds = Number(process.argv[2] ?? 200)
const dataDir = mkdtempSync(join(tmpdir(), 'token-issuer-bench-'))
const fastify = Fastify({ logger: false })
await fastify.register(app, {
  dotenv: false,
  env: {
    DATA_DIR: dataDir,
    BOOTSTRAP_USERNAME: 'user-1',
    BOOTSTRAP_PASSWORD: 'correct horse battery',
    // Hundreds of failed logins in a row: measured as work, not refused as an attack.
    RATE_LIMIT_MAX: '0',
    LOCKOUT_THRESHOLD: '0'
  }
})
await fastify.ready()

async function timeLogin (username: string): Promise<number> {
  const started = process.hrtime.bigint()
  const response = await fastify.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'password', username, password: 'wrong password'
    }).toString()
  })
  if (response.statusCode !== 400) throw new Error(`unexpected ${response.statusCode}`)
  return Number(process.hrtime.bigint() - started) / 1e6
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN

const existing: number[] = []
const unknown: number[] = []
for (let i = 0; i < 10; i++) await timeLogin('user-1')
for (let i = 0; i < rounds; i++) {
  existing.push(await timeLogin('user-1'))
  unknown.push(await timeLogin(`no-such-user-${i}`))
}

const ratio = median(unknown) / median(existing)
console.log(`rounds: ${rounds}`)
console.log(`wrong password, existing user: median ${median(existing).toFixed(2)} ms`)
console.log(`unknown user:                  median ${median(unknown).toFixed(2)} ms`)
const verdict = Math.abs(Math.log(ratio)) <= Math.log(1.1) ? 'met' : 'missed'
console.log(`ratio unknown / existing: ${ratio.toFixed(3)} (target within 1.1: ${verdict})`)

await fastify.close()
rmSync(dataDir, { recursive: true, force: true })
