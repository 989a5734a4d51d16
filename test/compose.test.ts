import { readFile } from 'node:fs/promises'
import Fastify from 'fastify'
import t from 'tap'
import { parse } from 'yaml'
import configPlugin from '../plugins/config.js'
import { envSchema } from '../src/config.js'

interface Service {
  image?: string
  build?: string
  environment?: Record<string, string>
}

t.test('compose.yaml runs two replicas whose settings the service accepts', async (t) => {
  const compose = parse(await readFile(new URL('../compose.yaml', import.meta.url), 'utf8')) as {
    services: Record<string, Service>
  }
  const replicas = Object.entries(compose.services).filter(([, service]) => service.build === '.')
  t.same(replicas.map(([name]) => name), ['token-issuer-1', 'token-issuer-2'])
  t.ok(compose.services.postgres && compose.services.redis, 'on PostgreSQL and Redis')

  for (const [name, service] of replicas) {
    // ${NAME:?message} is filled in by whoever runs compose.
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) =>
      [key, String(value).replace(/^\$\{[A-Z_]+:\?[^}]*\}$/, 'k7Vq2mX9pL4sB8nR3tW6yZ1cF5hJ0dGa')]))
    const unknown = Object.keys(env).filter((key) => !(key in envSchema.properties))
    t.same(unknown, [], `${name}: every variable is one the service reads`)

    const fastify = Fastify()
    await fastify.register(configPlugin, { env, dotenv: false })
    await fastify.ready()
    t.match(fastify.settings, {
      databaseUrl: /^postgres:\/\//, redisUrl: /^redis:\/\//, keyRotationInterval: 30 * 86400
    }, `${name}: its settings are valid`)
    await fastify.close()
  }
})
