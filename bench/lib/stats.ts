/** Small statistics helpers: percentiles, means and Jain's fairness index. */

export interface Distribution {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of the finite values (NaN fields when there are none). */
export function distribution(values: readonly number[]): Distribution {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  const at = (q: number): number =>
    n === 0 ? NaN : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!;
  return {
    count: n,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    max: n === 0 ? NaN : sorted[n - 1]!,
    mean: mean(sorted),
  };
}

/** The arithmetic mean (NaN of none). */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Jain's index (Σx)² / (n·Σx²): 1 = perfectly even, 1/n = one takes all. */
export function jainIndex(values: readonly number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? NaN : (sum * sum) / (values.length * squares);
}

export function round(value: number, digits = 0): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
