/**
 * Scores a half-precision (f16) embedding matrix against one query in place, with a WebAssembly SIMD loop.
 *
 * Why: ONNX Runtime cannot read a SharedArrayBuffer, so its kNN path copies every block of the shared matrix into a
 * scratch buffer, casts it to float32 and multiplies: for a single query that is a full extra copy of the matrix on
 * top of the one read the product needs, which leaves it at about 2× the memory-bandwidth floor. A WebAssembly
 * module can read a shared memory directly, so an 'f16' matrix that fits in one (4 GiB) lives inside a shared
 * `WebAssembly.Memory` (see `EmbeddingMatrix.allocate`), and this kernel streams it once, eight halves per load,
 * widened to float32 in registers with a few integer operations (see `dotRowsModule`), multiplied into the query and
 * summed. Infinities and NaNs widen to large finite values (≥ 2^16), which only affects screening: the candidates
 * are re-scored exactly from the stored values (`knn.ts`).
 *
 * Memory layout: the first `HALF_KERNEL_RESERVED_BYTES` of the memory hold a table of scratch slots (query and
 * block scores), one per concurrent search, claimed with Atomics by whichever thread runs it; the matrix follows.
 */
import {
  add, and, assembleModule, block, br, brIf, end, eqz, f32add, f32store, f32x4, geU, get, I32, i32, i32x4, loop, ltU, set, shl, tee,
  V128, v128, v128f32, v128i32, vload, vload64Zero,
} from './wasmAssembler';

/**
 * Scratch slots: how many searches (threads) can scan one matrix at once; more fall back to ONNX Runtime, as do all
 * once a thread that died holding slots has left none free.
 */
const SLOTS = 16;
/** Most rows scored per kernel call (a slot holds their scores). */
export const HALF_KERNEL_BLOCK_ROWS = 1024;
/** Largest dimension the kernel's query slot holds. */
const MAX_DIM = 16384;
const SLOT_BYTES = MAX_DIM * 4 + HALF_KERNEL_BLOCK_ROWS * 4;
/** Bytes before the matrix: the slot-claim table (one page) and the slots, a whole number of pages. */
export const HALF_KERNEL_RESERVED_BYTES = 65536 + SLOTS * SLOT_BYTES;
const PAGE = 65536;
export const WASM_MAX_PAGES = 65536;
/** The power of two the kernel's query carries (see `dotRowsModule`). */
const HALF_SCALE = 2 ** 112;

/** Whether an [rows, dim] half matrix can be scanned by this kernel (and so be allocated in a WebAssembly memory). */
export function halfKernelFits(rows: number, dim: number): boolean {
  return dim % 4 === 0 && dim <= MAX_DIM && HALF_KERNEL_RESERVED_BYTES + rows * dim * 2 <= WASM_MAX_PAGES * PAGE;
}

/** Pages of a memory for an [rows, dim] half matrix. */
export function halfKernelPages(rows: number, dim: number): number {
  return Math.ceil((HALF_KERNEL_RESERVED_BYTES + rows * dim * 2) / PAGE);
}

/**
 * `dot_rows_f16(rows, count, rowBytes, query, out)`: for r < count, out[r] = Σ_j half(rows[r·rowBytes/2 + j])·query'[j]
 * over rowBytes / 2 values (a multiple of 4), in float32 with eight partial sums; byte addresses, all i32.
 *
 * The query is laid out for the loop (`HalfKernelScan.setQuery`): per eight values, the even ones then the odd ones,
 * each times 2^112. A 16-byte load holds eight halves as four 32-bit words, an even half in each low 16 bits and an
 * odd one in each high 16 bits. An arithmetic shift right by 3 moves a high half's sign to bit 31 and its exponent
 * and mantissa to bits 27–13, and masking with 0x8fffe000 clears what is left: the bits of the half's value times
 * 2^−112 as a float32, exactly, subnormal halves included. The low halves take a shift left by 16 first. The 2^112
 * lives in the query, so widening costs two or three integer operations per four values and no multiply.
 */
function dotRowsModule(): Uint8Array<ArrayBuffer> {
  const [rows, count, rowBytes, query, out] = [0, 1, 2, 3, 4];
  const [p, mainEnd, q, outEnd] = [5, 6, 7, 8];
  const [even, odd, words, mask] = [9, 10, 11, 12];
  const accumulate = (acc: number, widen: number[], queryOffset: number) => [
    ...get(acc), ...get(words), ...widen, ...get(mask), ...v128.and, ...get(q), ...vload(queryOffset), ...f32x4.mul, ...f32x4.add, ...set(acc),
  ];
  /** Both lanes of the words in `words`: the even halves (shifted up first) and the odd ones. */
  const accumulateWords = [
    ...accumulate(even, [...i32(16), ...i32x4.shl, ...i32(3), ...i32x4.shrS], 0),
    ...accumulate(odd, [...i32(3), ...i32x4.shrS], 16),
  ];
  const body = [
    ...v128i32(-0x70002000, -0x70002000, -0x70002000, -0x70002000), ...set(mask),
    ...get(out), ...get(count), ...i32(2), ...shl, ...add, ...set(outEnd),
    ...get(rows), ...set(p),
    ...block, ...loop,
    ...get(out), ...get(outEnd), ...geU, ...brIf(1),
    ...v128f32(0), ...set(even), ...v128f32(0), ...set(odd),
    ...get(p), ...get(rowBytes), ...i32(-16), ...and, ...add, ...set(mainEnd),
    ...get(query), ...set(q),
    // eight halves at a time
    ...block,
    ...get(p), ...get(mainEnd), ...geU, ...brIf(0),
    ...loop,
    ...get(p), ...vload(), ...set(words),
    ...accumulateWords,
    ...get(p), ...i32(16), ...add, ...tee(p),
    ...get(q), ...i32(32), ...add, ...set(q),
    ...get(mainEnd), ...ltU, ...brIf(0),
    ...end, ...end,
    // the last four halves of a width that is 4 more than a multiple of 8 (the query pads them with zeros)
    ...block,
    ...get(rowBytes), ...i32(8), ...and, ...eqz, ...brIf(0),
    ...get(p), ...vload64Zero(), ...set(words),
    ...accumulateWords,
    ...get(p), ...i32(8), ...add, ...set(p),
    ...end,
    // out[r] = the sum of the eight partial sums
    ...get(out),
    ...get(even), ...get(odd), ...f32x4.add, ...tee(even), ...f32x4.extractLane(0),
    ...get(even), ...f32x4.extractLane(1), ...f32add,
    ...get(even), ...f32x4.extractLane(2), ...f32add,
    ...get(even), ...f32x4.extractLane(3), ...f32add,
    ...f32store(),
    ...get(out), ...i32(4), ...add, ...set(out),
    ...br(0), ...end, ...end,
  ];
  return assembleModule(
    [{ name: 'dot_rows_f16', params: [I32, I32, I32, I32, I32], locals: [[4, I32], [4, V128]], body }],
    { shared: true, maximumPages: WASM_MAX_PAGES },
  );
}

let compiled: WebAssembly.Module | undefined;
let unsupported = false;

function dotRowsCompiled(): WebAssembly.Module | undefined {
  if (!compiled && !unsupported) {
    try {
      compiled = new WebAssembly.Module(dotRowsModule());
    } catch {
      unsupported = true; // no WebAssembly SIMD or shared memories: ONNX Runtime does the work
    }
  }
  return compiled;
}

/** A shared memory for an [rows, dim] half matrix, or undefined when it does not fit or cannot be had. */
export function allocateHalfKernelMemory(rows: number, dim: number): WebAssembly.Memory | undefined {
  if (!halfKernelFits(rows, dim) || !dotRowsCompiled()) return undefined;
  const pages = halfKernelPages(rows, dim);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return undefined;
  }
}

/** This thread's instance per memory. */
const instances = new WeakMap<WebAssembly.Memory, (...args: number[]) => void>();

/** One claimed scratch slot of a matrix's memory: write the query, score blocks of rows, then release it. */
export class HalfKernelScan {
  readonly query: Float32Array;
  readonly scores: Float32Array;
  private released = false;

  private constructor(
    private readonly claims: Int32Array,
    private readonly slot: number,
    private readonly run: (...args: number[]) => void,
    private readonly dataOffset: number,
    private readonly rowBytes: number,
    dim: number,
  ) {
    const base = 65536 + slot * SLOT_BYTES;
    this.query = new Float32Array(claims.buffer, base, Math.ceil(dim / 8) * 8);
    this.scores = new Float32Array(claims.buffer, base + MAX_DIM * 4, HALF_KERNEL_BLOCK_ROWS);
  }

  /**
   * Claims a slot of `memory` (which holds an [rows, dim] half matrix at byte `dataOffset`) for one scan; undefined
   * when every slot is busy or the kernel is unavailable (the caller then uses ONNX Runtime).
   */
  static claim(memory: WebAssembly.Memory, dataOffset: number, dim: number): HalfKernelScan | undefined {
    const module = dotRowsCompiled();
    if (!module || dim % 4 !== 0 || dim > MAX_DIM) return undefined;
    let run = instances.get(memory);
    if (!run) {
      run = new WebAssembly.Instance(module, { env: { memory } }).exports.dot_rows_f16 as (...args: number[]) => void;
      instances.set(memory, run);
    }
    const claims = new Int32Array(memory.buffer, 0, SLOTS);
    for (let slot = 0; slot < SLOTS; slot++) {
      if (Atomics.compareExchange(claims, slot, 0, 1) === 0) return new HalfKernelScan(claims, slot, run, dataOffset, dim * 2, dim);
    }
    return undefined;
  }

  /**
   * Writes `query` in the kernel's layout (see `dotRowsModule`): per eight values the even ones, then the odd ones,
   * times 2^112. False when a value that large overflows float32 (|value| ≥ 2^16); the caller then uses ONNX Runtime.
   */
  setQuery(query: Float32Array): boolean {
    const out = this.query;
    const dim = this.rowBytes / 2;
    for (let base = 0; base < dim; base += 8) {
      for (let i = 0; i < 4; i++) {
        const j = base + 2 * i;
        out[base + i] = j < dim ? query[j] * HALF_SCALE : 0;
        out[base + 4 + i] = j < dim ? query[j + 1] * HALF_SCALE : 0;
      }
    }
    for (let j = 0; j < out.length; j++) if (!Number.isFinite(out[j])) return false;
    return true;
  }

  /** Scores rows [start, start + count) (count ≤ HALF_KERNEL_BLOCK_ROWS) against `query` into `scores[0, count)`. */
  scoreRows(start: number, count: number): void {
    if (this.released) throw new Error('HalfKernelScan used after release');
    this.run(this.dataOffset + start * this.rowBytes, count, this.rowBytes, this.query.byteOffset, this.scores.byteOffset);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    Atomics.store(this.claims, this.slot, 0);
  }
}
