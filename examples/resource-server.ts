import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { tokenVerifier } from '../src/index.js'

/**
 * A resource server: it trusts the access tokens of a running token issuer, verified offline with
 * the issuer's published keys, and answers `GET /resource` only with one.
 *
 *   ISSUER=http://localhost:3000 PORT=4000 node --import tsx examples/resource-server.ts
 *   curl -H "authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:4000/resource
 *   # {"subject":"5b0c..."}
 */

export interface ResourceServerOptions {
  /** The issuer's URL, exactly as its tokens carry it in `iss`. */
  issuer: string
  /** Who the tokens must be for; the issuer's own default audience (the issuer) if left out. */
  audience?: string
  logger?: FastifyServerOptions['logger']
}

/** The app, ready to `inject()` or `listen()`; the issuer is first asked on the first request. */
export function buildResourceServer (options: ResourceServerOptions): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false })

  app.register(tokenVerifier, {
    issuer: options.issuer,
    audience: options.audience ?? options.issuer
  })
  // Registered after the verifier, so `app.authenticate` is there.
  app.register(async (routes) => {
    routes.get('/resource', { preHandler: routes.authenticate }, async (request) => {
      return { subject: request.user.sub }
    })
  })
  return app
}

async function main () {
  const issuer = process.env.ISSUER ?? 'http://localhost:3000'
  const app = buildResourceServer({
    issuer,
    ...(process.env.AUDIENCE === undefined ? {} : { audience: process.env.AUDIENCE }),
    logger: { level: process.env.LOG_LEVEL ?? 'info' }
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  }
  const port = Number(process.env.PORT ?? 4000)
  await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' })
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
