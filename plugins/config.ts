import fastifyEnv from '@fastify/env'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import {
  describeEnvError, envSchema, resolveSettings, type Env, type Settings
} from '../src/config.js'
import { ConfigError } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's settings, read from the environment (and `.env`) at boot. */
    settings: Settings
  }
}

export interface ConfigPluginOptions {
  /** Variables to read instead of `process.env`. */
  env?: Record<string, string | undefined>
  /** Read a `.env` file from the working directory (default: true). */
  dotenv?: boolean
}

/** Reads and checks the configuration once, at boot: a bad value stops the start. */
async function configPlugin (fastify: FastifyInstance, options: ConfigPluginOptions) {
  try {
    await fastify.register(fastifyEnv, {
      schema: structuredClone(envSchema),
      confKey: 'env',
      dotenv: options.dotenv ?? true,
      env: options.env === undefined,
      ...(options.env === undefined ? {} : { data: options.env })
    })
  } catch (error) {
    throw new ConfigError(describeEnvError(error as Error))
  }

  const env = (fastify as unknown as { env: Env }).env
  fastify.decorate('settings', resolveSettings(env))
}

export default fp(configPlugin, { name: 'token-issuer-config', fastify: '5.x' })
