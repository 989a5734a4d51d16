/**
 * The hashing ceiling: argon2id verifications per second with the service's parameters
 * (src/passwords.ts), nothing else in the process. Logins verify, so this verifies.
 *
 * On { type: 'run', seconds, concurrency } it keeps `concurrency` verifications in flight (the
 * number of logins the server has waiting at once) on libuv's thread pool, whose size comes from
 * UV_THREADPOOL_SIZE as in the server, and answers { type: 'result', count, seconds }.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import argon2 from 'argon2'
import { hashPassword } from '../../src/passwords.js'
import { onStop, ready } from './ipc.js'

const password = 'correct horse battery staple'
const hash = await hashPassword(password)

/**
 * Counts the verifications that end within `seconds`, and answers then: like an HTTP load that
 * stops, the ones still in flight finish afterwards, and bench/run.ts waits for them (settle)
 * without charging their CPU time to this window.
 */
async function run (seconds: number, concurrency: number) {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9))
  let count = 0
  async function worker () {
    while (process.hrtime.bigint() < deadline) {
      if (!await argon2.verify(hash, password)) throw new Error('the hash does not verify')
      if (process.hrtime.bigint() <= deadline) count++
    }
  }
  const workers = Promise.all(Array.from({ length: concurrency }, worker))
  await Promise.race([workers, sleep(seconds * 1000)])
  workers.catch((error: unknown) => { console.error(error) })
  return { count, seconds }
}

process.on('message', (message: { type?: string, seconds?: number, concurrency?: number }) => {
  if (message.type !== 'run') return
  run(message.seconds ?? 1, message.concurrency ?? 1).then(
    (result) => { process.send?.({ type: 'result', ...result }) },
    (error: unknown) => { process.send?.({ type: 'error', message: String(error) }) })
})

onStop(async () => {})
ready({ threadPoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4) })
