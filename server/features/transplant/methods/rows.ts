/**
 * Row helpers shared by the methods: gathering rows by id, weighted sums of base rows, and recipes.
 */
import type { RecipePart, TokenRecipe } from './types';

/** Rows `ids` of a [*, dim] matrix, packed into a new array (shared when asked, for worker threads). */
export function gatherRows(matrix: Float32Array, dim: number, ids: ArrayLike<number>, shared = false): Float32Array {
  const out = new Float32Array(shared ? new SharedArrayBuffer(ids.length * dim * 4) : new ArrayBuffer(ids.length * dim * 4));
  for (let i = 0; i < ids.length; i++) out.set(matrix.subarray(ids[i] * dim, (ids[i] + 1) * dim), i * dim);
  return out;
}

/** out[outRow] = Σ weights[j] · base[rows[j]] (accumulated in float64). */
export function weightedSum(
  base: Float32Array,
  dim: number,
  rows: ArrayLike<number>,
  weights: ArrayLike<number>,
  count: number,
  out: Float32Array,
  outRow: number,
  scratch: Float64Array = new Float64Array(dim),
): void {
  scratch.fill(0, 0, dim);
  for (let j = 0; j < count; j++) {
    const w = weights[j];
    if (w === 0) continue;
    const offset = rows[j] * dim;
    for (let d = 0; d < dim; d++) scratch[d] += w * base[offset + d];
  }
  const o = outRow * dim;
  for (let d = 0; d < dim; d++) out[o + d] = scratch[d];
}

/** The mean of base rows [0, rows), leaving out `excluded` ids. */
export function meanRow(base: Float32Array, rows: number, dim: number, excluded?: ReadonlySet<number>): Float32Array {
  const sum = new Float64Array(dim);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    if (excluded?.has(r)) continue;
    const offset = r * dim;
    for (let d = 0; d < dim; d++) sum[d] += base[offset + d];
    count++;
  }
  return Float32Array.from(sum, (v) => (count > 0 ? v / count : 0));
}

/** A recipe's parts: the `limit` largest |weights|, with their tokens. */
export function recipeParts(
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  count: number,
  tokenOf: (id: number) => string,
  limit: number,
): Pick<TokenRecipe, 'parts' | 'moreParts'> {
  const order = Array.from({ length: count }, (_, j) => j).sort((a, b) => Math.abs(weights[b]) - Math.abs(weights[a]) || a - b);
  const parts: RecipePart[] = order.slice(0, limit).map((j) => ({ id: ids[j], token: tokenOf(ids[j]), weight: Math.fround(weights[j]) }));
  return count > limit ? { parts, moreParts: count - limit } : { parts };
}

/** Lets the event loop run (a hover is answered while a long method runs in this thread) and checks for abort. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
