import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export interface MetricsSources {
  /** When the active signing key started signing (ms); undefined for HS256. */
  activeKeySince?: () => number
  /** Whether Redis answers; undefined when none is configured. */
  redisUp: () => boolean | undefined
}

/**
 * What one token issuer counts, in a registry of its own: two issuers in one process never mix
 * their numbers. Prometheus names, with the `token_issuer_` prefix.
 */
export class IssuerMetrics {
  readonly registry: Registry
  readonly tokensIssued: Counter<'grant'>
  readonly tokenErrors: Counter<'endpoint' | 'error'>
  readonly refreshReuse: Counter
  readonly lockouts: Counter
  readonly passwordHashSeconds: Histogram
  readonly requestSeconds: Histogram<'method' | 'route' | 'status_code'>

  constructor (sources: MetricsSources, registry = new Registry()) {
    this.registry = registry
    const registers = [registry]

    this.tokensIssued = new Counter({
      name: 'token_issuer_tokens_issued_total',
      help: 'Access tokens issued, by grant (direct: issueAccessToken)',
      labelNames: ['grant'],
      registers
    })
    this.tokenErrors = new Counter({
      name: 'token_issuer_oauth_errors_total',
      help: 'OAuth error answers, by endpoint and RFC 6749 error code',
      labelNames: ['endpoint', 'error'],
      registers
    })
    this.refreshReuse = new Counter({
      name: 'token_issuer_refresh_reuse_total',
      help: 'Spent refresh tokens presented again after the grace period: families ended',
      registers
    })
    this.lockouts = new Counter({
      name: 'token_issuer_lockouts_total',
      help: 'Usernames locked after failed logins',
      registers
    })
    this.passwordHashSeconds = new Histogram({
      name: 'token_issuer_password_verify_seconds',
      help: 'Time of one argon2id password verification',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2],
      registers
    })
    this.requestSeconds = new Histogram({
      name: 'token_issuer_http_request_duration_seconds',
      help: 'Time to answer a request, by method, route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers
    })

    const keySince = sources.activeKeySince
    if (keySince !== undefined) {
      new Gauge({ // eslint-disable-line no-new
        name: 'token_issuer_signing_key_age_seconds',
        help: 'How long the active signing key has been signing',
        registers,
        collect () { this.set(Math.max(0, (Date.now() - keySince()) / 1000)) }
      })
    }
    if (sources.redisUp() !== undefined) {
      new Gauge({ // eslint-disable-line no-new
        name: 'token_issuer_redis_up',
        help: 'Whether the shared Redis answers (1) or the process falls back (0)',
        registers,
        collect () { this.set(sources.redisUp() === true ? 1 : 0) }
      })
    }
  }
}
