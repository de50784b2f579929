/**
 * Small dense linear algebra for the sparse-coding kernels: an incrementally grown Cholesky factor of the Gram matrix
 * of the selected atoms, with the triangular solves OMP needs. Everything here is float64 on small (k × k) problems;
 * the big products live in ONNX Runtime (see ompKernels.ts).
 *
 * Layout: the lower-triangular factor L is a Float64Array of capacity × capacity, row-major; row i holds L[i, 0..i].
 */

/** Dot product in float64 of `length` values of two float32 rows (a plain loop; rows are short here). */
export function dot64(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, length: number): number {
  let s0 = 0;
  let s1 = 0;
  let j = 0;
  for (; j + 1 < length; j += 2) {
    s0 += a[aOffset + j] * b[bOffset + j];
    s1 += a[aOffset + j + 1] * b[bOffset + j + 1];
  }
  if (j < length) s0 += a[aOffset + j] * b[bOffset + j];
  return s0 + s1;
}

/** Squared Euclidean norm in float64 of `length` values starting at `offset`. */
export function squaredNorm64(a: Float32Array, offset: number, length: number): number {
  return dot64(a, offset, a, offset, length);
}

/**
 * Appends one atom to a Cholesky factor L (L Lᵀ = G_II for the `size` atoms selected so far).
 *
 * `cross[j]` = ⟨a_new, a_j⟩ for j < size and `diagonal` = ⟨a_new, a_new⟩. Solves L w = cross, then the new row is
 * [w, sqrt(diagonal − |w|²)]. Returns false (and leaves L unchanged) when the new atom is numerically in the span of
 * the others: the squared pivot is at most `relativePivotTolerance` × diagonal (or the diagonal is not positive).
 */
export function choleskyAppend(
  factor: Float64Array,
  capacity: number,
  size: number,
  cross: Float64Array,
  diagonal: number,
  relativePivotTolerance: number,
): boolean {
  if (!(diagonal > 0) || !Number.isFinite(diagonal)) return false;
  const row = size * capacity;
  let sumSquares = 0;
  for (let i = 0; i < size; i++) {
    let s = cross[i];
    const ri = i * capacity;
    for (let j = 0; j < i; j++) s -= factor[ri + j] * factor[row + j];
    const w = s / factor[ri + i];
    factor[row + i] = w;
    sumSquares += w * w;
  }
  const pivot = diagonal - sumSquares;
  if (!(pivot > relativePivotTolerance * diagonal)) {
    for (let i = 0; i < size; i++) factor[row + i] = 0;
    return false;
  }
  factor[row + size] = Math.sqrt(pivot);
  return true;
}

/** Solves Lᵀ x = z for the leading `size` × `size` block of L (back substitution); writes x into `out`. */
export function solveUpperTransposed(factor: Float64Array, capacity: number, size: number, z: Float64Array, out: Float64Array): void {
  for (let i = size - 1; i >= 0; i--) {
    let s = z[i];
    for (let j = i + 1; j < size; j++) s -= factor[j * capacity + i] * out[j];
    out[i] = s / factor[i * capacity + i];
  }
}

/** Solves L z = b for the leading `size` × `size` block of L (forward substitution); writes z into `out`. */
export function solveLower(factor: Float64Array, capacity: number, size: number, b: ArrayLike<number>, out: Float64Array): void {
  for (let i = 0; i < size; i++) {
    let s = b[i];
    const ri = i * capacity;
    for (let j = 0; j < i; j++) s -= factor[ri + j] * out[j];
    out[i] = s / factor[ri + i];
  }
}

/**
 * One more component of z = L⁻¹ b when b grows by one entry: z[size] = (b_new − L[size, 0..size) · z) / L[size, size].
 * (OMP's b = Aᵀy restricted to the selected atoms only ever grows at the end.)
 */
export function extendForward(factor: Float64Array, capacity: number, size: number, bNew: number, z: Float64Array): number {
  let s = bNew;
  const row = size * capacity;
  for (let j = 0; j < size; j++) s -= factor[row + j] * z[j];
  const value = s / factor[row + size];
  z[size] = value;
  return value;
}

/** Cosine similarity in float64 of two float32 rows; 0 when either is the zero vector. */
export function cosine64(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, length: number): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let j = 0; j < length; j++) {
    const x = a[aOffset + j];
    const y = b[bOffset + j];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Replaces `values` by softmax(values), stably (max subtracted); returns it. */
export function softmaxInPlace(values: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] = Math.exp(values[i] - max);
  for (let i = 0; i < values.length; i++) values[i] /= sum;
  return values;
}

/** The indices of the k largest values, largest first (ties: lower index first), in one pass without sorting all. */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (top.length === k && !(v > values[top[k - 1]])) continue;
    let at = top.length === k ? k - 1 : top.length;
    while (at > 0 && v > values[top[at - 1]]) at--;
    if (top.length === k) top.pop();
    top.splice(at, 0, i);
  }
  return top;
}
