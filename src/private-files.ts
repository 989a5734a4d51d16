import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * Creates a directory and any missing parents, owner-only (0700). Each level is made on its own:
 * Node's recursive mkdir loops forever under a path it cannot create, such as /proc/x, where this
 * fails with the error of the first level it cannot make.
 */
export function makePrivateDirectory (path: string): void {
  const missing: string[] = []
  for (let dir = path; !exists(dir); dir = dirname(dir)) {
    missing.unshift(dir)
    if (dirname(dir) === dir) break
  }
  for (const dir of missing) mkdirSync(dir, { mode: 0o700 })
}

function exists (path: string): boolean {
  try {
    statSync(path)
    return true
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return false
    throw error
  }
}
