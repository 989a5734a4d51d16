import { ROOT } from './settings.js'

/** The parts of a V8 .cpuprofile (node --cpu-prof) this reads. */
interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

export interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

const SPECIAL = new Set(['(idle)', '(garbage collector)', '(program)', '(root)'])

/** Where a frame's code lives: a package, a Node.js module, a project file, or V8 itself. */
function area (frame: ProfileNode['callFrame']): string {
  if (SPECIAL.has(frame.functionName)) return frame.functionName
  const url = frame.url
  if (url === '') return `(native) ${frame.functionName || 'anonymous'}`
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1]
  if (pkg !== undefined) return pkg
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/')
  return url.replace(/^file:\/\//, '').replace(ROOT, '')
}

const FASTIFY = new RegExp('^(fastify|@fastify/|find-my-way|fast-json-stringify|avvio|' +
  'light-my-request|fast-querystring|secure-json-parse|abstract-logging|toad-cache|rfdc)')
const NODE_IO = new RegExp('^node:(_http|net|internal/stream|internal/streams|stream|' +
  'internal/http|buffer|events|internal/process|internal/timers|timers|internal/url|url|' +
  'querystring)')

/** A coarse bucket for a frame, to compare profiles at a glance. */
function category (frame: ProfileNode['callFrame']): string {
  const name = frame.functionName
  const url = frame.url
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1]
  if (name === '(garbage collector)') return 'garbage collection'
  if (name === '(program)' || name === '(root)') return 'V8 and native, unattributed'
  if (url === 'node:internal/crypto/sig' || pkg === 'fast-jwt' ||
    pkg === 'ecdsa-sig-formatter' || pkg === '@fastify/jwt') return 'JWT signing and verifying'
  if (pkg === 'kysely' || pkg === 'better-sqlite3') return 'SQL: Kysely and better-sqlite3'
  if (pkg === 'helmet' || pkg === '@fastify/helmet') return 'helmet headers'
  if (pkg === 'ajv' || pkg === 'fast-uri') return 'Ajv validation'
  if (pkg !== undefined && /^(pino|@pinojs\/|pino-|sonic-boom|thread-stream)/.test(pkg)) {
    return 'logging (pino)'
  }
  if (pkg !== undefined && FASTIFY.test(pkg)) {
    return 'Fastify and its plugins'
  }
  if (url.startsWith('node:internal/modules') || name === 'wrapSafe' || name === 'readFileUtf8' ||
    name === 'compileSourceTextModule' || name === 'openFileHandle' ||
    url.startsWith('node:internal/deps/cjs-module-lexer')) return 'module loading (start-up)'
  if (url.startsWith('node:internal/crypto')) return 'other crypto (HMAC, hashes, random, AES)'
  if (NODE_IO.test(url) ||
    name === 'writev' || name === 'writeUtf8String' || name === 'writeBuffer' ||
    name === 'runMicrotasks') return 'Node.js HTTP, sockets, streams, event loop'
  if (pkg === undefined && url !== '' && !url.startsWith('node:')) return 'project code'
  if (pkg === 'argon2') return 'argon2 (the JS side)'
  return 'other'
}

function where (frame: ProfileNode['callFrame']): string {
  if (frame.url === '') return ''
  const file = frame.url.replace(/^file:\/\//, '').replace(ROOT, '')
    .replace(/^.*node_modules\//, '')
  return `${file}:${frame.lineNumber + 1}`
}

const isProject = (frame: ProfileNode['callFrame']) =>
  /\/(dist\/)?(src|plugins|routes|bench|examples)\//.test(frame.url) &&
  !frame.url.includes('node_modules')

function table (rows: Array<[string, number]>, total: number, limit: number): string[] {
  return rows.sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, us]) => {
    const share = (us / total * 100).toFixed(1).padStart(5)
    return `${(us / 1000).toFixed(0).padStart(8)} ms ${share} %  ${name}`
  })
}

/** A text summary: self time by area and by function, and time under each project function. */
export function summariseProfile (profile: CpuProfile, title: string): string {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id)
  }

  const selfByArea = new Map<string, number>()
  const selfByCategory = new Map<string, number>()
  const selfByFunction = new Map<string, number>()
  const underProject = new Map<string, number>()
  let total = 0
  let idle = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    const node = nodes.get(id)
    if (node === undefined) return
    total += delta
    const frame = node.callFrame
    if (frame.functionName === '(idle)') idle += delta
    const a = area(frame)
    selfByArea.set(a, (selfByArea.get(a) ?? 0) + delta)
    if (frame.functionName !== '(idle)') {
      const c = category(frame)
      selfByCategory.set(c, (selfByCategory.get(c) ?? 0) + delta)
    }
    const name = `${frame.functionName || '(anonymous)'} ${where(frame)}`.trim()
    selfByFunction.set(name, (selfByFunction.get(name) ?? 0) + delta)

    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = nodes.get(at)?.callFrame
      if (f === undefined || !isProject(f)) continue
      const key = `${f.functionName || '(anonymous)'} ${where(f)}`
      if (seen.has(key)) continue
      seen.add(key)
      underProject.set(key, (underProject.get(key) ?? 0) + delta)
    }
  })

  const busy = total - idle
  return [
    `# ${title}`,
    '',
    `sampled ${(total / 1e6).toFixed(1)} s of the main thread: ` +
      `${(busy / total * 100).toFixed(1)} % busy, ${(idle / total * 100).toFixed(1)} % idle ` +
      '(percentages below are of busy time; thread-pool work such as argon2 is not sampled)',
    '',
    '## self time by category',
    ...table([...selfByCategory], busy, 20),
    '',
    '## self time by package or file',
    ...table([...selfByArea].filter(([name]) => name !== '(idle)'), busy, 20),
    '',
    '## self time by function',
    ...table([...selfByFunction].filter(([name]) => !name.startsWith('(idle)')), busy, 30),
    '',
    '## time spent in and under project functions (inclusive)',
    ...table([...underProject], busy, 30),
    ''
  ].join('\n')
}
