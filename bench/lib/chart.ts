import type { Summary } from './report.js'

const ROW = 24
const LABEL_WIDTH = 360
const PANEL_WIDTH = 330
const VALUE_WIDTH = 90
const TOP = 56

function escape (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

interface Panel {
  title: string
  x: number
  values: number[]
  unit: string
  colour: string
}

/** Log-scale bars: values span from dozens (logins) to tens of thousands (the ceilings). */
function panel (p: Panel, height: number): string {
  const finite = p.values.filter((v) => Number.isFinite(v) && v > 0)
  const low = 10 ** Math.floor(Math.log10(finite.length === 0 ? 1 : Math.min(...finite)))
  const high = Math.max(low * 10, 10 ** Math.ceil(Math.log10(Math.max(...finite, 1))))
  const scale = (v: number) => (Math.log10(v) - Math.log10(low)) /
    (Math.log10(high) - Math.log10(low)) * PANEL_WIDTH
  const parts = [`<text x="${p.x}" y="${TOP - 28}" class="title">${escape(p.title)}</text>`]
  for (let tick = low; tick <= high * 1.001; tick *= 10) {
    const x = (p.x + scale(tick)).toFixed(1)
    parts.push(`<line x1="${x}" y1="${TOP - 8}" x2="${x}" y2="${height - 16}" class="grid"/>`,
      `<text x="${x}" y="${TOP - 12}" class="tick">${tick.toLocaleString('en-US')}</text>`)
  }
  p.values.forEach((value, i) => {
    const y = TOP + i * ROW
    if (!Number.isFinite(value) || value <= 0) {
      parts.push(`<text x="${p.x + 4}" y="${y + 15}" class="value">n/a</text>`)
      return
    }
    const width = Math.max(1, scale(value))
    const shown = value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2)
    parts.push(
      `<rect x="${p.x}" y="${y + 4}" width="${width.toFixed(1)}" height="${ROW - 8}" ` +
        `fill="${p.colour}"/>`,
      `<text x="${(p.x + width + 4).toFixed(1)}" y="${y + 16}" class="value">` +
        `${shown} ${p.unit}</text>`)
  })
  return parts.join('\n')
}

/** The chart of BENCHMARKS.md: median req/s and median p99 of every scenario. */
export function chartSvg (summaries: Summary[]): string {
  const height = TOP + summaries.length * ROW + 24
  const width = LABEL_WIDTH + 2 * (PANEL_WIDTH + VALUE_WIDTH) + 20
  const labels = summaries.map((s, i) =>
    `<text x="${LABEL_WIDTH - 8}" y="${TOP + i * ROW + 16}" class="label">` +
      `${escape(s.label)}</text>`)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    '<style>.label{text-anchor:end}.title{font-weight:bold;font-size:13px}' +
      '.tick{text-anchor:middle;fill:#666;font-size:10px}.grid{stroke:#ddd}' +
      '.value{fill:#222;font-size:11px}</style>',
    '<rect width="100%" height="100%" fill="white"/>',
    ...labels,
    panel({
      title: 'req/s (median of rounds, log scale)',
      x: LABEL_WIDTH,
      values: summaries.map((s) => s.rps),
      unit: '',
      colour: '#4878a8'
    }, height),
    panel({
      title: 'p99 latency, ms (median of rounds, log scale)',
      x: LABEL_WIDTH + PANEL_WIDTH + VALUE_WIDTH,
      values: summaries.map((s) => s.p99),
      unit: 'ms',
      colour: '#d08040'
    }, height),
    '</svg>',
    ''
  ].join('\n')
}
