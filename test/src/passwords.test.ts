import t from 'tap'
import { PasswordVerifier, hashPassword } from '../../src/passwords.js'
import { FORM, build, form } from '../helper.js'

t.test('verifications wait their turn, and past the bound are refused at once', async (t) => {
  const verifier = await PasswordVerifier.create({ concurrency: 1, maxWaiting: 2 })
  const hash = await hashPassword('correct horse')
  const outcomes = await Promise.allSettled([
    verifier.verify(hash, 'correct horse'), // runs
    verifier.verify(hash, 'wrong'), // waits
    verifier.verify(undefined, 'anything'), // waits
    verifier.verify(hash, 'correct horse'), // refused
    verifier.verify(hash, 'correct horse') // refused
  ])
  t.same(outcomes.slice(0, 3), [
    { status: 'fulfilled', value: true },
    { status: 'fulfilled', value: false },
    { status: 'fulfilled', value: false }
  ])
  for (const outcome of outcomes.slice(3)) {
    t.match(outcome, { status: 'rejected', reason: { code: 'FTI_BUSY', statusCode: 503 } })
  }
  t.equal(await verifier.verify(hash, 'correct horse'), true, 'room again once the queue drains')
})

t.test('a flood of logins is answered 503 temporarily_unavailable, not queued without end',
  async (t) => {
    const fastify = await build(t, { env: { PASSWORD_HASH_CONCURRENCY: '1' } })
    // 64 may wait behind the one running: a few more than that, at once, for other usernames.
    const answers = await Promise.all(Array.from({ length: 80 }, async (_, index) =>
      await fastify.inject({
        method: 'POST',
        url: '/token',
        headers: FORM,
        payload: form({ grant_type: 'password', username: `user${index}`, password: 'guess' })
      })))
    const statuses = answers.map((answer) => answer.statusCode)
    t.equal(statuses.filter((status) => status === 400).length, 65, 'as many as fit were checked')
    const refused = answers.filter((answer) => answer.statusCode === 503)
    t.equal(refused.length, 15, 'the rest refused')
    t.same(refused[0]?.json(), {
      error: 'temporarily_unavailable',
      error_description: 'Too many logins are waiting; try again shortly'
    })
    t.equal(refused[0]?.headers['retry-after'], '1')
  })
