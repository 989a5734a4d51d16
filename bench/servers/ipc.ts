/** How a benchmark server talks to bench/run.ts: one `ready` message, and a clean stop. */

export function ready (info: Record<string, unknown>): void {
  if (process.send === undefined) {
    console.log(JSON.stringify({ type: 'ready', ...info }))
    return
  }
  process.send({ type: 'ready', ...info })
}

/**
 * Closes on SIGTERM, SIGINT or a lost parent, then exits normally, so `--cpu-prof` gets to
 * write its profile.
 */
export function onStop (close: () => Promise<void>): void {
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    close().then(() => process.exit(0), (error: unknown) => {
      console.error(error)
      process.exit(1)
    })
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
}
