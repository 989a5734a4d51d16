/**
 * Lets a log line that repeats (the same failure on every request during an outage) through
 * once per interval, and counts the ones it held back, so an outage reads as a few lines that
 * say how often, not thousands of stack traces.
 */
export class LogThrottle {
  readonly #intervalMs: number
  #next = 0
  #held = 0

  constructor (intervalMs: number) {
    this.#intervalMs = intervalMs
  }

  /** undefined: hold this line back; otherwise how many were held back before it. */
  pass (now = Date.now()): number | undefined {
    if (now < this.#next) {
      this.#held += 1
      return undefined
    }
    const held = this.#held
    this.#held = 0
    this.#next = now + this.#intervalMs
    return held
  }
}

/** How often a store outage is logged, at most. */
export const STORE_OUTAGE_LOG_MS = 10_000

const throttles = new WeakMap<object, Map<string, LogThrottle>>()

/**
 * The throttle of one kind of line of one owner (one store, say), so two services in a process
 * log apart.
 */
export function throttleOf (
  owner: object, kind = 'store', intervalMs = STORE_OUTAGE_LOG_MS
): LogThrottle {
  let kinds = throttles.get(owner)
  if (kinds === undefined) {
    kinds = new Map()
    throttles.set(owner, kinds)
  }
  let throttle = kinds.get(kind)
  if (throttle === undefined) {
    throttle = new LogThrottle(intervalMs)
    kinds.set(kind, throttle)
  }
  return throttle
}
