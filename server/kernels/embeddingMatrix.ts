/**
 * One embedding matrix, held once: row-major [rows, dim] values in a SharedArrayBuffer (float32, or IEEE half bits
 * when `storage` is 'f16', which halves memory), plus the L2 norm of every row as stored. Worker threads receive the
 * same buffers (see `toShared` / `fromShared`), never a copy. An 'f16' matrix that fits lives inside a shared
 * WebAssembly memory instead, whose buffer is just as shared, so the kNN kernel can scan it in place
 * (`knnHalfKernel.ts`).
 */
import { ModelLensError } from '../errors';
import { decodeToFloat32, float32ToFloat16Bits } from '../loaders/safetensors';
import { allocateHalfKernelMemory, HALF_KERNEL_RESERVED_BYTES } from './knnHalfKernel';

export type EmbeddingStorage = 'f32' | 'f16';

/** What crosses a worker boundary: typed arrays over SharedArrayBuffers, which postMessage shares, not copies. */
export interface SharedEmbeddingMatrix {
  rows: number;
  dim: number;
  storage: EmbeddingStorage;
  data: Float32Array | Uint16Array;
  norms: Float32Array;
  /** The shared WebAssembly memory that `data` lives in (at HALF_KERNEL_RESERVED_BYTES), for 'f16' matrices that fit. */
  halfKernelMemory?: WebAssembly.Memory;
}

/** Float32 values of all 65536 half-precision bit patterns, decoded once by the safetensors loader's converter. */
let halfTable: Float32Array | undefined;
export function float16ToFloat32Table(): Float32Array {
  if (!halfTable) {
    const codes = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) codes[h] = h;
    halfTable = decodeToFloat32(new Uint8Array(codes.buffer), 'F16');
  }
  return halfTable;
}

/** Rounds float32 values to the nearest half and back (what an 'f16' matrix stores), for references and tests. */
export function roundToFloat16(values: Float32Array): Float32Array {
  const table = float16ToFloat32Table();
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = table[float32ToFloat16Bits(values[i])];
  return out;
}

function checkShape(rows: number, dim: number): void {
  if (!Number.isSafeInteger(rows) || rows < 0 || !Number.isSafeInteger(dim) || dim < 1) {
    throw new ModelLensError('usage', `an embedding matrix needs whole-number rows ≥ 0 and dim ≥ 1, not ${rows} × ${dim}`);
  }
}

export class EmbeddingMatrix implements SharedEmbeddingMatrix {
  private constructor(
    readonly rows: number,
    readonly dim: number,
    readonly storage: EmbeddingStorage,
    readonly data: Float32Array | Uint16Array,
    readonly norms: Float32Array,
    readonly halfKernelMemory?: WebAssembly.Memory,
  ) {}

  /** A zero matrix to fill with `setRows` (for loaders that read a checkpoint a block of rows at a time). */
  static allocate(rows: number, dim: number, storage: EmbeddingStorage = 'f32'): EmbeddingMatrix {
    checkShape(rows, dim);
    const elements = rows * dim;
    const norms = new Float32Array(new SharedArrayBuffer(rows * 4));
    if (storage === 'f16') {
      const memory = allocateHalfKernelMemory(rows, dim);
      if (memory) return new EmbeddingMatrix(rows, dim, storage, new Uint16Array(memory.buffer, HALF_KERNEL_RESERVED_BYTES, elements), norms, memory);
    }
    const bytesPerValue = storage === 'f16' ? 2 : 4;
    let buffer: SharedArrayBuffer;
    try {
      buffer = new SharedArrayBuffer(elements * bytesPerValue);
    } catch (error) {
      throw new ModelLensError(
        'usage',
        `cannot allocate ${((elements * bytesPerValue) / 2 ** 30).toFixed(2)} GiB for a ${rows} × ${dim} ${storage} embedding matrix (${String(error)})`,
        undefined,
        storage === 'f32' ? 'Close other models or load it as f16, which halves the memory.' : 'Close other models and try again.',
      );
    }
    return new EmbeddingMatrix(rows, dim, storage, storage === 'f16' ? new Uint16Array(buffer) : new Float32Array(buffer), norms);
  }

  /** Copies `values` ([rows, dim], row-major) into a new shared matrix, rounding to half when storage is 'f16'. */
  static fromFloat32(values: Float32Array, rows: number, dim: number, storage: EmbeddingStorage = 'f32'): EmbeddingMatrix {
    checkShape(rows, dim);
    if (values.length !== rows * dim) {
      throw new ModelLensError('mismatch', `${values.length} values do not make a ${rows} × ${dim} matrix`);
    }
    const matrix = EmbeddingMatrix.allocate(rows, dim, storage);
    const blockRows = Math.max(1, Math.floor((1 << 20) / dim));
    for (let row = 0; row < rows; row += blockRows) {
      const end = Math.min(rows, row + blockRows);
      matrix.setRows(row, values.subarray(row * dim, end * dim));
    }
    return matrix;
  }

  /** Wraps buffers received from another thread (no copy). Checks that the shapes agree. */
  static fromShared(shared: SharedEmbeddingMatrix): EmbeddingMatrix {
    const { rows, dim, storage, norms, halfKernelMemory } = shared;
    checkShape(rows, dim);
    const expected = storage === 'f16' ? Uint16Array : Float32Array;
    // A typed array over a WebAssembly memory arrives as one over a plain SharedArrayBuffer: view the memory again.
    const data = halfKernelMemory ? new Uint16Array(halfKernelMemory.buffer, HALF_KERNEL_RESERVED_BYTES, shared.data.length) : shared.data;
    if (!(data instanceof expected) || data.length !== rows * dim || !(norms instanceof Float32Array) || norms.length !== rows) {
      throw new ModelLensError('mismatch', `shared embedding matrix buffers do not match ${rows} × ${dim} ${storage}`);
    }
    return new EmbeddingMatrix(rows, dim, storage, data, norms, halfKernelMemory);
  }

  /** The shareable description; post it to a worker and rebuild it there with `fromShared`. */
  toShared(): SharedEmbeddingMatrix {
    const { rows, dim, storage, data, norms, halfKernelMemory } = this;
    return { rows, dim, storage, data, norms, ...(halfKernelMemory ? { halfKernelMemory } : {}) };
  }

  /** Bytes held by the values and the norms. */
  get byteLength(): number {
    return this.data.byteLength + this.norms.byteLength;
  }

  /** Writes rows [firstRow, firstRow + values.length / dim) and updates their norms. */
  setRows(firstRow: number, values: Float32Array): void {
    const { dim } = this;
    const count = values.length / dim;
    if (!Number.isInteger(count) || !Number.isSafeInteger(firstRow) || firstRow < 0 || firstRow + count > this.rows) {
      throw new ModelLensError('usage', `cannot write ${values.length} values as whole rows at row ${firstRow} of a ${this.rows} × ${dim} matrix`);
    }
    const offset = firstRow * dim;
    if (this.data instanceof Float32Array) {
      this.data.set(values, offset);
    } else {
      const data = this.data;
      for (let i = 0; i < values.length; i++) data[offset + i] = float32ToFloat16Bits(values[i]);
    }
    this.updateNorms(firstRow, count);
  }

  /**
   * Writes rows given as IEEE half bits (an F16 checkpoint's raw values) and updates their norms. An 'f16' matrix
   * stores them as they are, with no float32 round trip; an 'f32' matrix stores them decoded.
   */
  setRowsFloat16Bits(firstRow: number, bits: Uint16Array): void {
    const { dim } = this;
    const count = bits.length / dim;
    if (!Number.isInteger(count) || !Number.isSafeInteger(firstRow) || firstRow < 0 || firstRow + count > this.rows) {
      throw new ModelLensError('usage', `cannot write ${bits.length} values as whole rows at row ${firstRow} of a ${this.rows} × ${dim} matrix`);
    }
    if (this.data instanceof Float32Array) {
      this.setRows(firstRow, decodeToFloat32(new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength), 'F16'));
      return;
    }
    this.data.set(bits, firstRow * dim);
    this.updateNorms(firstRow, count);
  }

  /** Recomputes the norms of rows [firstRow, firstRow + count) from the stored values. */
  private updateNorms(firstRow: number, count: number): void {
    const row = new Float32Array(this.dim);
    for (let r = firstRow; r < firstRow + count; r++) {
      this.getRow(r, row);
      this.norms[r] = Math.sqrt(dotF64(row, row));
    }
  }

  private checkRow(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.rows) {
      throw new ModelLensError('usage', `row ${index} is outside the embedding matrix, which has ${this.rows} rows`);
    }
  }

  /** Row `index` as float32 (decoded from half for 'f16'), into `out` when given. */
  getRow(index: number, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    this.checkRow(index);
    const { dim } = this;
    if (out.length < dim) throw new ModelLensError('usage', `getRow needs an output of ${dim} values, got ${out.length}`);
    const offset = index * dim;
    if (this.data instanceof Float32Array) {
      out.set(this.data.subarray(offset, offset + dim));
    } else {
      const table = float16ToFloat32Table();
      const data = this.data;
      for (let j = 0; j < dim; j++) out[j] = table[data[offset + j]];
    }
    return out;
  }

  /** The L2 norm of row `index` as stored. */
  rowNorm(index: number): number {
    this.checkRow(index);
    return this.norms[index];
  }

  /**
   * Σ weights[i] · row(ids[i]) as float32: the query vector for an analogy (a − b + c is weights [1, −1, 1]) or any
   * linear combination of rows.
   */
  weightedSumOfRows(ids: readonly number[], weights: readonly number[]): Float32Array {
    if (ids.length !== weights.length) {
      throw new ModelLensError('usage', `weightedSumOfRows got ${ids.length} rows but ${weights.length} weights`);
    }
    const { dim } = this;
    const sum = new Float64Array(dim);
    const row = new Float32Array(dim);
    ids.forEach((id, i) => {
      this.getRow(id, row);
      const w = weights[i];
      for (let j = 0; j < dim; j++) sum[j] += w * row[j];
    });
    return Float32Array.from(sum);
  }

  /** The mean of rows `ids` (for a text's mean embedding); a zero vector when `ids` is empty. */
  meanOfRows(ids: readonly number[]): Float32Array {
    if (ids.length === 0) return new Float32Array(this.dim);
    return this.weightedSumOfRows(ids, ids.map(() => 1 / ids.length));
  }

  /** The rows `ids` stacked into one [ids.length, dim] Float32Array, e.g. a batch of token queries. */
  gatherRows(ids: readonly number[]): Float32Array {
    const out = new Float32Array(ids.length * this.dim);
    ids.forEach((id, i) => this.getRow(id, out.subarray(i * this.dim, (i + 1) * this.dim)));
    return out;
  }
}

/** Σ a[i]·b[i] accumulated in float64 (the reference precision for exact scores). */
export function dotF64(a: Float32Array, b: Float32Array, length = a.length): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < length; i++) s0 += a[i] * b[i];
  return s0 + s1 + s2 + s3;
}
