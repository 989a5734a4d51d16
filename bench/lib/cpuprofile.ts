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
