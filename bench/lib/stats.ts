/** The value at quantile `q` (0..1) of ascending values, nearest rank; NaN when empty. */
export function percentile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[index] as number
}

export function median (values: number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? sorted[middle] as number
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

export function min (values: number[]): number {
  return values.length === 0 ? NaN : Math.min(...values)
}

export function max (values: number[]): number {
  return values.length === 0 ? NaN : Math.max(...values)
}

/** Coefficient of variation (standard deviation / mean): how much rounds disagree. */
export function spread (values: number[]): number {
  if (values.length < 2) return 0
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length
  const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) /
    (values.length - 1)
  return Math.sqrt(variance) / mean
}
