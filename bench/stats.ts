/** Small statistics helpers for the bench. */

/** Median, min and max of some samples. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

export function spread (samples: readonly number[]): Spread {
  if (samples.length === 0 || samples.some(Number.isNaN)) return { median: Number.NaN, min: Number.NaN, max: Number.NaN }
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number }
}

/** (max - min) / median: how far apart the runs were. */
export function relativeSpread (s: Spread): number {
  return s.median === 0 ? 0 : (s.max - s.min) / s.median
}

/** The `p`-th percentile (0 < p <= 1, nearest rank) of sorted samples. */
export function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.max(1, Math.ceil(p * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1] as number
}

/** Latencies appended one by one into a growing Float64Array (no boxing, cheap to sort). */
export class Samples {
  #values = new Float64Array(1 << 16)
  #length = 0

  add (value: number): void {
    if (this.#length === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2)
      bigger.set(this.#values)
      this.#values = bigger
    }
    this.#values[this.#length++] = value
  }

  get length (): number {
    return this.#length
  }

  /** A sorted copy. */
  sorted (): Float64Array {
    return this.#values.slice(0, this.#length).sort()
  }
}
