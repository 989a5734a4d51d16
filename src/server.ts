import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app from './app.js'
import { trustProxyFunction } from './config.js'
import { LOG_LEVELS, loggerOptions } from './logger.js'
import { serverOptions } from './server-options.js'

/** How long in-flight requests get to finish once the listener is closed. */
const GRACE_MS = 10_000

/** The level to log at until the configuration is read (a bad LOG_LEVEL is reported then). */
function bootLogLevel (): string {
  const level = process.env.LOG_LEVEL ?? 'info'
  return (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info'
}

function fail (message: string): never {
  process.stderr.write(`fastify-token-issuer: ${message}\n`)
  process.exit(1)
}

async function start (): Promise<void> {
  // TRUST_PROXY is only known once the configuration is read: until then, trust no proxy.
  let trust: (address: string, hop: number) => boolean = () => false
  const fastify = Fastify({
    ...serverOptions((address, hop) => trust(address, hop)),
    logger: loggerOptions(bootLogLevel())
  })
  try {
    await fastify.register(app)
    await fastify.ready()
  } catch (error) {
    // A configuration mistake is the operator's to fix: the message, without a stack trace.
    const { code, message } = error as { code?: string, message: string }
    await fastify.close().catch(() => {})
    fail(`${code === 'FTI_CONFIG' ? 'configuration: ' : ''}${message}`)
  }

  fastify.log.level = fastify.settings.logLevel
  trust = trustProxyFunction(fastify.settings.trustProxy)
  const drainMs = fastify.settings.shutdownDelay * 1000
  // Its own complaints (a second signal, the timeout) go to the log as JSON lines too.
  const logger = {
    error: (message: unknown) => {
      if (message instanceof Error) fastify.log.error({ err: message }, 'closing failed')
      else fastify.log.error(String(message))
    }
  }
  closeWithGrace({ delay: drainMs + GRACE_MS, logger }, async ({ signal, err }) => {
    if (err !== undefined) fastify.log.error({ err }, 'closing after an uncaught error')
    else fastify.log.info({ signal }, 'closing')
    // Readiness fails first; a load balancer needs a moment to notice, a person at Ctrl-C not.
    fastify.startDraining()
    if (signal === 'SIGTERM' && drainMs > 0) await sleep(drainMs)
    // Stops taking connections, lets requests in flight finish, then ends.
    await fastify.close()
  })

  const { host, port } = fastify.settings
  try {
    await fastify.listen({ host, port })
  } catch (error) {
    await fastify.close().catch(() => {})
    const { code } = error as { code?: string }
    fail(`cannot listen on HOST=${host} PORT=${port}: ${code ?? (error as Error).message}`)
  }
}

await start()
