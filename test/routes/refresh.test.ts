import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { changePassword, findUser, removeUser, setUserDisabled } from '../../src/accounts.js'
import { hashRefreshToken } from '../../src/refresh.js'
import {
  PASSWORD, USERNAME, basic, build, decodeJwt, login, onEachEngine, post, registerClient
} from '../helper.js'

type App = Awaited<ReturnType<typeof build>>

async function refresh (fastify: App, token: string, authorization?: string, extra = {}) {
  return await post(fastify, '/token',
    { grant_type: 'refresh_token', refresh_token: token, ...extra }, authorization)
}

async function firstToken (fastify: App): Promise<string> {
  return (await login(fastify)).json().refresh_token
}

/** Whether the family of `token` ended, and how many of its tokens are unconsumed. */
async function familyState (fastify: App, token: string) {
  const refreshTokens = fastify.tokenStore.refreshTokens
  const found = await refreshTokens.findByHash(hashRefreshToken(token))
  const tokens = await refreshTokens.tokensOf(found?.family.id ?? '')
  return {
    revoked: found?.family.revoked_at !== null,
    live: tokens.filter((row) => row.consumed_at === null).length
  }
}

onEachEngine(t, 'rotation: each refresh consumes its token and returns a successor that works',
  async (t, databaseUrl) => {
    const fastify = await build(t, { databaseUrl })
    const t1 = await firstToken(fastify)

    const first = await refresh(fastify, t1)
    t.equal(first.statusCode, 200)
    const body = first.json()
    t.match(body, { token_type: 'Bearer', refresh_token: String, access_token: String })
    t.not(body.refresh_token, t1)
    t.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url')
    t.match(decodeJwt(body.access_token).payload, { preferred_username: USERNAME })

    const second = await refresh(fastify, body.refresh_token)
    t.equal(second.statusCode, 200)
    t.same(await familyState(fastify, t1), { revoked: false, live: 1 })
  })

onEachEngine(t,
  'a replay inside the grace window gets the same successor; after it, reuse ends the family',
  async (t, databaseUrl) => {
    const fastify = await build(t, { databaseUrl, env: { REFRESH_GRACE_PERIOD: '1s' } })
    const t1 = await firstToken(fastify)
    const t2 = (await refresh(fastify, t1)).json().refresh_token

    const replay = await refresh(fastify, t1)
    t.equal(replay.statusCode, 200, 'C28b: a client retry inside the window')
    t.equal(replay.json().refresh_token, t2, 'the same successor')
    t.same(await familyState(fastify, t1), { revoked: false, live: 1 })

    await sleep(1100)
    const late = await refresh(fastify, t1)
    t.equal(late.statusCode, 400, 'C28c: a replay after the window')
    t.equal(late.json().error, 'invalid_grant')
    t.same(await familyState(fastify, t1), { revoked: true, live: 1 })
    t.equal((await refresh(fastify, t2)).statusCode, 400, 'the live successor died with its family')
  })

onEachEngine(t,
  'a replay inside the window, after the successor moved on, fails without ending the family',
  async (t, databaseUrl) => {
    const fastify = await build(t, { databaseUrl, env: { REFRESH_GRACE_PERIOD: '30s' } })
    const t1 = await firstToken(fastify)
    const t2 = (await refresh(fastify, t1)).json().refresh_token
    const t3 = (await refresh(fastify, t2)).json().refresh_token

    t.equal((await refresh(fastify, t1)).statusCode, 400)
    t.same(await familyState(fastify, t1), { revoked: false, live: 1 })
    t.equal((await refresh(fastify, t3)).statusCode, 200, 'the newest token still works')
  })

onEachEngine(t,
  'ten parallel refreshes of one token inside the window all get one successor (C28a)',
  async (t, databaseUrl) => {
    const fastify = await build(t, { databaseUrl })
    const t1 = await firstToken(fastify)

    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => await refresh(fastify, t1)))
    t.same(answers.map((answer) => answer.statusCode), Array(10).fill(200))
    const successors = new Set(answers.map((answer) => answer.json().refresh_token))
    t.equal(successors.size, 1, 'never two successors')
    t.same(await familyState(fastify, t1), { revoked: false, live: 1 })
    t.equal((await refresh(fastify, [...successors][0])).statusCode, 200)
  })

onEachEngine(t, 'ten parallel refreshes without a grace window: one wins, reuse ends the family',
  async (t, databaseUrl) => {
    const fastify = await build(t, { databaseUrl, env: { REFRESH_GRACE_PERIOD: '0' } })
    const t1 = await firstToken(fastify)

    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => await refresh(fastify, t1)))
    const codes = answers.map((answer) => answer.statusCode).sort()
    t.same(codes, [200, ...Array(9).fill(400)], 'one successor, never a 500')
    const winner = answers.find((answer) => answer.statusCode === 200)?.json().refresh_token
    t.same(await familyState(fastify, t1), { revoked: true, live: 1 })
    t.equal((await refresh(fastify, winner)).statusCode, 400,
      'the theft signal ends the winner too')
  })

onEachEngine(t, 'a refresh token is bound to its client (C28d)', async (t, databaseUrl) => {
  const fastify = await build(t, { databaseUrl })
  const a = await registerClient(fastify, {
    id: 'client-a', grantTypes: ['password', 'refresh_token'], scopes: ['read', 'write']
  }) as string
  const b = await registerClient(fastify,
    { id: 'client-b', grantTypes: ['password', 'refresh_token'], scopes: [] }) as string
  const issued = await post(fastify, '/token',
    { grant_type: 'password', username: USERNAME, password: PASSWORD }, basic('client-a', a))
  const token = issued.json().refresh_token

  t.equal((await refresh(fastify, token, basic('client-b', b))).json().error, 'invalid_grant')
  t.equal((await refresh(fastify, token)).json().error, 'invalid_grant', 'or to no client')
  t.equal((await refresh(fastify, await firstToken(fastify), basic('client-a', a))).json().error,
    'invalid_grant', 'a clientless token is useless to a client')

  const narrowed = await refresh(fastify, token, basic('client-a', a), { scope: 'read' })
  t.equal(narrowed.statusCode, 200, 'the right client')
  t.equal(narrowed.json().scope, 'read', 'narrowed on request')
  const wider = await refresh(fastify, narrowed.json().refresh_token, basic('client-a', a),
    { scope: 'read admin' })
  t.equal(wider.json().error, 'invalid_scope', 'never widened')
})

onEachEngine(t, 'password change, logout, disabling and removal end refresh tokens (C29)',
  async (t, databaseUrl) => {
    const fastify = await build(t, { databaseUrl })
    const store = fastify.tokenStore
  type User = NonNullable<Awaited<ReturnType<typeof findUser>>>
  const user = async () => await findUser(store.users, USERNAME) as User

  const beforeChange = await login(fastify)
  await changePassword(store, USERNAME, 'a brand new password')
  t.equal((await refresh(fastify, beforeChange.json().refresh_token)).json().error, 'invalid_grant',
    'a: after a password change')
  t.ok(fastify.jwt.verify(beforeChange.json().access_token), 'd: the access token lives until exp')

  const revoked = await login(fastify, USERNAME, 'a brand new password')
  t.equal((await post(fastify, '/revoke', { token: revoked.json().refresh_token })).statusCode, 200)
  t.equal((await refresh(fastify, revoked.json().refresh_token)).json().error, 'invalid_grant',
    'b: after revocation')

  const disabled = await login(fastify, USERNAME, 'a brand new password')
  await setUserDisabled(store, await user(), true)
  t.equal((await refresh(fastify, disabled.json().refresh_token)).json().error, 'invalid_grant',
    'c: after disabling')
  await setUserDisabled(store, await user(), false)

  const removed = await login(fastify, USERNAME, 'a brand new password')
  await removeUser(store, await user())
  t.equal((await refresh(fastify, removed.json().refresh_token)).json().error, 'invalid_grant',
    'after removal')
  })

onEachEngine(t, 'expired tokens and families fail', async (t, databaseUrl) => {
  const fastify = await build(t,
    { databaseUrl, env: { REFRESH_TOKEN_TTL: '1s', REFRESH_FAMILY_TTL: '2s' } })

  const idle = await firstToken(fastify)
  const busy = await firstToken(fastify)
  await sleep(700)
  const next = (await refresh(fastify, busy)).json().refresh_token
  await sleep(500)
  t.equal((await refresh(fastify, idle)).json().error, 'invalid_grant', 'unused past its TTL')
  const last = (await refresh(fastify, next)).json().refresh_token
  t.type(last, 'string', 'refreshed within its TTL')
  await sleep(900)
  t.equal((await refresh(fastify, last)).json().error, 'invalid_grant', 'past the family lifetime')
})

onEachEngine(t, 'unknown, empty and missing refresh tokens', async (t, databaseUrl) => {
  const fastify = await build(t, { databaseUrl })
  t.equal((await refresh(fastify, 'no-such-token')).json().error, 'invalid_grant')
  const missing = await post(fastify, '/token', { grant_type: 'refresh_token' })
  t.equal(missing.json().error, 'invalid_request')
})

onEachEngine(t, 'REFRESH_TOKENS=false: the password grant issues none',
  async (t, databaseUrl) => {
    const fastify = await build(t, { databaseUrl, env: { REFRESH_TOKENS: 'false' } })
    t.notOk('refresh_token' in (await login(fastify)).json())
  })
