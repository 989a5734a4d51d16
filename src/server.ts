import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app from './app.js'
import { loggerOptions } from './logger.js'

/** How long in-flight requests get to finish after SIGTERM or SIGINT. */
const GRACE_MS = 10_000

async function start (): Promise<void> {
  const fastify = Fastify({
    logger: loggerOptions(process.env.LOG_LEVEL ?? 'info'),
    trustProxy: false
  })
  try {
    await fastify.register(app)
    await fastify.ready()
  } catch (error) {
    // A configuration mistake is the operator's to fix: the message, without a stack trace.
    const { code, message } = error as { code?: string, message: string }
    const kind = code === 'FTI_CONFIG' ? 'configuration: ' : ''
    process.stderr.write(`fastify-token-issuer: ${kind}${message}\n`)
    await fastify.close().catch(() => {})
    process.exit(1)
  }

  fastify.log.level = fastify.settings.logLevel
  closeWithGrace({ delay: GRACE_MS }, async ({ signal, err }) => {
    if (err !== undefined) fastify.log.error({ err }, 'closing after an uncaught error')
    else fastify.log.info({ signal }, 'closing')
    await fastify.close()
  })

  try {
    await fastify.listen({ host: fastify.settings.host, port: fastify.settings.port })
  } catch (error) {
    fastify.log.fatal({ err: error }, 'cannot listen')
    await fastify.close()
    process.exit(1)
  }
}

await start()
