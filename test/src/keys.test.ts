import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import Fastify from 'fastify'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import t, { type Test } from 'tap'
import jwksRoutes from '../../routes/jwks.js'
import {
  CLOCK_TOLERANCE_SECONDS, KEY_RELOAD_SECONDS, KeyRing, PUBLICATION_LEAD_SECONDS, keySchedule,
  scheduleKey
} from '../../src/keys.js'
import { openStore, type Store } from '../../src/store/index.js'
import type { StoredSigningKey } from '../../src/store/signing-keys.js'
import { onEachEngine } from '../helper.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const TTL = 15 * 60

/** A clock the test moves by hand. */
function fakeClock (start = Date.parse('2026-01-01T00:00:00Z')) {
  let now = start
  return { now: () => now, advance: (ms: number) => { now += ms } }
}

function stored (generation: number, activatesAt: number): StoredSigningKey {
  return {
    kid: `k${generation}`,
    algorithm: 'ES256',
    publicJwk: {},
    privateKeyPem: '',
    createdAt: new Date(activatesAt).toISOString(),
    activatesAt: new Date(activatesAt).toISOString(),
    generation
  }
}

function sqliteUrl (t: Test): string {
  return `sqlite:${join(t.testdir(), 'tokens.db')}`
}

async function storeFor (t: Test, databaseUrl: string): Promise<Store> {
  const store = await openStore(databaseUrl)
  t.teardown(async () => { await store.close() })
  return store
}

t.test('the schedule: newest activated key signs, the replaced one lingers for a token lifetime',
  async (t) => {
    const keys = [stored(1, 0), stored(2, HOUR), stored(3, 3 * HOUR)]
    const states = (now: number) => keySchedule(keys, now, TTL).map(({ state }) => state)
    const overlap = (TTL + CLOCK_TOLERANCE_SECONDS) * 1000

    t.same(states(0), ['active', 'pending', 'pending'])
    t.same(states(HOUR - 1), ['active', 'pending', 'pending'], 'k2 publishes before it signs')
    t.same(states(HOUR), ['retiring', 'active', 'pending'])
    t.same(states(HOUR + overlap - 1), ['retiring', 'active', 'pending'])
    t.same(states(HOUR + overlap), ['retired', 'active', 'pending'], 'its last token expired')
    t.same(states(3 * HOUR), ['retired', 'retiring', 'active'])
    t.same(keySchedule([stored(2, 0), stored(1, 0)], 0, TTL).map(({ key }) => key.kid),
      ['k1', 'k2'], 'a tie goes by generation')
  })

onEachEngine(t, 'a ring rotates on schedule: publish, then sign, then retire and delete',
  async (t, databaseUrl) => {
    const store = await storeFor(t, databaseUrl)
    const clock = fakeClock()
    const ring = await KeyRing.open({
      store: store.signingKeys,
      algorithm: 'ES256',
      accessTokenTtl: TTL,
      rotationInterval: 3600,
      now: clock.now
    })
    const first = ring.active.kid
    t.same(ring.published.map((jwk) => jwk.kid), [first], 'a first key signs at once')

    t.same(await ring.refresh(), { retired: [] }, 'nothing is due yet')
    clock.advance(HOUR - PUBLICATION_LEAD_SECONDS * 1000)
    const { scheduled } = await ring.refresh()
    t.ok(scheduled, 'the next key is added a lead time before it is due')
    t.equal(ring.active.kid, first, 'and does not sign yet')
    t.same(ring.published.map((jwk) => jwk.kid), [first, scheduled?.kid])
    t.same(await ring.refresh(), { retired: [] }, 'added once')

    clock.advance(PUBLICATION_LEAD_SECONDS * 1000)
    t.equal(ring.active.kid, scheduled?.kid, 'it signs from its activation time')
    t.ok(ring.verificationKey(first), 'the replaced key still verifies')

    clock.advance((TTL + CLOCK_TOLERANCE_SECONDS) * 1000)
    t.equal(ring.verificationKey(first), undefined, 'retired once its tokens expired')
    t.same(ring.published.map((jwk) => jwk.kid), [scheduled?.kid])
    t.same((await ring.refresh()).retired, [first], 'and deleted from the store')
    t.same((await store.signingKeys.list()).map((key) => key.kid), [scheduled?.kid])
  })

onEachEngine(t, 'replicas agree: one first key, and one next key however many see it due',
  async (t, databaseUrl) => {
    const store = await storeFor(t, databaseUrl)
    const clock = fakeClock()
    const options = {
      store: store.signingKeys,
      algorithm: 'ES256' as const,
      accessTokenTtl: TTL,
      rotationInterval: 3600,
      now: clock.now
    }
    const rings = await Promise.all([1, 2, 3].map(async () => await KeyRing.open(options)))
    t.equal(new Set(rings.map((ring) => ring.active.kid)).size, 1, 'one first key for all')

    clock.advance(HOUR)
    const results = await Promise.all(rings.map(async (ring) => await ring.refresh()))
    t.equal(results.filter((result) => result.scheduled !== undefined).length, 1,
      'one replica adds the next key; the unique generation turns the others away')
    await Promise.all(rings.map(async (ring) => await ring.refresh()))
    clock.advance(PUBLICATION_LEAD_SECONDS * 1000)
    t.equal(new Set(rings.map((ring) => ring.active.kid)).size, 1, 'and all sign with it')
    t.equal((await store.signingKeys.list()).length, 2)
  })

onEachEngine(t, 'a new algorithm gets a key of its own at start; the old key retires',
  async (t, databaseUrl) => {
    const store = await storeFor(t, databaseUrl)
    const clock = fakeClock()
    const es = await KeyRing.open({
      store: store.signingKeys, algorithm: 'ES256', accessTokenTtl: TTL, now: clock.now
    })
    const ed = await KeyRing.open({
      store: store.signingKeys, algorithm: 'EdDSA', accessTokenTtl: TTL, now: clock.now
    })

    t.equal(ed.active.algorithm, 'EdDSA')
    t.ok(ed.verificationKey(es.active.kid), 'tokens of the old key still verify')
    clock.advance((TTL + CLOCK_TOLERANCE_SECONDS) * 1000)
    t.same(ed.published.map((jwk) => jwk.alg), ['EdDSA'])
  })

/**
 * A verifier that caches the key set exactly as long as its Cache-Control allows and never
 * refetches on an unknown kid: the strictest client a key set must satisfy.
 */
function cachingVerifier (fetchKeySet: () => Promise<{ body: JSONWebKeySet, maxAge: number }>,
  now: () => number) {
  let cache: { keys: ReturnType<typeof createLocalJWKSet>, until: number } | undefined
  return async (token: string): Promise<boolean> => {
    if (cache === undefined || now() >= cache.until) {
      const { body, maxAge } = await fetchKeySet()
      cache = { keys: createLocalJWKSet(body), until: now() + maxAge * 1000 }
    }
    return await jwtVerify(token, cache.keys, { currentDate: new Date(now()) })
      .then(() => true, () => false)
  }
}

interface Simulation {
  /** Automatic rotation on both replicas, in seconds. */
  rotationInterval?: number
  /** Manual rotations: when (elapsed ms), and when the new key signs, given the time then. */
  manual?: { at: number, activatesAt: (now: number) => number }
}

/**
 * Two replicas on one store, each reading the keys once a minute at its own phase, signing in
 * turns; a client caches the key set of one replica by its headers, and verifies every live token
 * at every step. Five hours of simulated time.
 */
async function simulate (t: Test, databaseUrl: string, simulation: Simulation) {
  const store = await storeFor(t, databaseUrl)
  const clock = fakeClock()
  const options = {
    store: store.signingKeys,
    algorithm: 'ES256' as const,
    accessTokenTtl: TTL,
    now: clock.now,
    ...(simulation.rotationInterval === undefined
      ? {}
      : { rotationInterval: simulation.rotationInterval })
  }
  const replicas = [await KeyRing.open(options), await KeyRing.open(options)]
  const server = Fastify()
  server.decorate('signingKeys', replicas[1] as KeyRing)
  await server.register(jwksRoutes)
  t.teardown(async () => { await server.close() })
  const verify = cachingVerifier(async () => {
    const response = await server.inject('/.well-known/jwks.json')
    const maxAge = Number(/max-age=(\d+)/.exec(response.headers['cache-control'] as string)?.[1])
    return { body: response.json(), maxAge }
  }, clock.now)

  const live: Array<{ token: string, exp: number }> = []
  const kids = new Set<string>()
  let failures = 0
  let checked = 0
  const step = 20_000
  const reloadSteps = KEY_RELOAD_SECONDS * 1000 / step
  for (let elapsed = step; elapsed <= 5 * HOUR; elapsed += step) {
    clock.advance(step)
    const stepIndex = elapsed / step
    for (const [index, ring] of replicas.entries()) {
      if ((stepIndex + index) % reloadSteps === 0) await ring.refresh()
    }
    if (elapsed === simulation.manual?.at) {
      await scheduleKey(store.signingKeys, await store.signingKeys.list(),
        { algorithm: 'ES256', activatesAt: simulation.manual.activatesAt(clock.now()) })
    }

    const { signingKey, kid, algorithm } = (replicas[stepIndex % 2] as KeyRing).active
    kids.add(kid)
    const sign = createSigner({ key: signingKey, kid, algorithm, expiresIn: TTL * 1000 })
    live.push({
      token: sign({ sub: 'user-1', iat: Math.floor(clock.now() / 1000) }),
      exp: clock.now() + TTL * 1000
    })
    for (const { token, exp } of live) {
      if (exp <= clock.now()) continue
      checked++
      if (!await verify(token)) failures++
    }
  }
  return { failures, checked, kids: kids.size, stored: (await store.signingKeys.list()).length }
}

// The schedule is the same on every engine (the tests above run on both); the long simulations
// run on SQLite.
t.test('rotation never fails a verifier that caches the key set as the headers allow',
  async (t) => {
    const result = await simulate(t, sqliteUrl(t), {
      rotationInterval: 3600,
      // keys rotate, as the CLI does it, between two automatic rotations
      manual: {
        at: 2 * HOUR + 10 * MINUTE,
        activatesAt: (now) => now + PUBLICATION_LEAD_SECONDS * 1000
      }
    })
    t.ok(result.checked > 5000, `${result.checked} verifications`)
    t.ok(result.kids >= 6, `${result.kids} keys signed in turn`)
    t.equal(result.failures, 0, 'not one failed')
    t.ok(result.stored <= 3, `retired keys are deleted: ${result.stored} stored at the end`)
  })

t.test('the same client fails when a key signs the moment it is added',
  async (t) => {
    const result = await simulate(t, sqliteUrl(t),
      { manual: { at: 2 * HOUR + 10 * MINUTE, activatesAt: (now) => now } })
    t.ok(result.failures > 0, `${result.failures} of ${result.checked} verifications failed: ` +
      'the publication lead is what keeps verifiers whole')
  })
