/**
 * The ONNX Runtime kernels of the sparse-coding solvers, as small graphs built in code (onnxGraph.ts):
 *
 * - `correlate`: scores = Q · Aᵀ for a few query rows Q against every row of a dictionary A, one cache-sized block of
 *   A's rows at a time (Gemm with transB). It gives OMP's Aᵀy for a whole block of targets at once, the Gram columns
 *   A·a_s of newly selected atoms, and the per-step correlations of the plain algorithm.
 * - `updateAndRank`: one Batch-OMP step for one target: α = α⁰ − γ·P (P holds the Gram columns of the selected atoms,
 *   one per row), then the atom with the largest |α| (optionally divided by the atom norms), ties to the lower index.
 * - `OmpStepKernel` (below): the same step as a fused WebAssembly SIMD loop, which the solver uses when it can; the
 *   ONNX Runtime graph is the fallback.
 *
 * onnxruntime-node refuses inputs backed by a SharedArrayBuffer, so blocks of a shared dictionary are copied into a
 * reused scratch buffer first (cache-sized, never the whole matrix); an ordinary dictionary is read in place (worker
 * threads keep a private copy for that reason). Outputs are copied out by the caller.
 */
import * as ort from 'onnxruntime-node';
import { buildOnnxModel, int, ints, OnnxType, type OnnxNode, type OnnxValueInfo } from './onnxGraph';
import {
  add, assembleModule, block, br, brIf, end, f32load, f32x4, geU, get, gtU, I32, i32, i32x4, loop, ltU, mul, select, set, shl, sub,
  V128, v128, v128f32, v128i32, vload, vstore,
} from './wasmAssembler';

export interface OmpKernelSettings {
  /** ORT intra-op threads per session; 0 lets ORT choose. Workers use 1 (the workers are the parallelism). */
  intraOpThreads: number;
  /** Bytes of dictionary rows scored per ORT run in `correlate`. */
  blockBytes: number;
}

/** Bytes of scores per fused Gemm + ArgMax run (see bestRows). */
const SCORE_BLOCK_BYTES = 2 << 20;

export const DEFAULT_OMP_KERNEL_SETTINGS: OmpKernelSettings = { intraOpThreads: 1, blockBytes: 4 << 20 };

function correlateGraph(): Uint8Array {
  return buildOnnxModel({
    name: 'omp_correlate',
    inputs: [
      { name: 'q', type: OnnxType.float, dims: ['n', 'd'] },
      { name: 'x', type: OnnxType.float, dims: ['b', 'd'] },
    ],
    outputs: [{ name: 's', type: OnnxType.float, dims: ['n', 'b'] }],
    nodes: [{ op: 'Gemm', inputs: ['q', 'x'], outputs: ['s'], attributes: { transB: int(1) } }],
  });
}

function updateAndRankGraph(scaled: boolean): Uint8Array {
  const inputs: OnnxValueInfo[] = [
    { name: 'gamma', type: OnnxType.float, dims: [1, 's'] },
    { name: 'panel', type: OnnxType.float, dims: ['s', 'n'] },
    { name: 'alpha0', type: OnnxType.float, dims: [1, 'n'] },
  ];
  if (scaled) inputs.push({ name: 'inverse_norms', type: OnnxType.float, dims: [1, 'n'] });
  const nodes: OnnxNode[] = [
    // alpha = alpha0 − gamma · panel. MatMul, not Gemm: ORT runs a 1-row MatMul as a fast GEMV (about 4× Gemm's).
    { op: 'MatMul', inputs: ['gamma', 'panel'], outputs: ['explained'] },
    { op: 'Sub', inputs: ['alpha0', 'explained'], outputs: ['alpha'] },
    { op: 'Abs', inputs: ['alpha'], outputs: ['magnitude'] },
  ];
  let ranked = 'magnitude';
  if (scaled) {
    nodes.push({ op: 'Mul', inputs: ['magnitude', 'inverse_norms'], outputs: ['scaled'] });
    ranked = 'scaled';
  }
  // The best atom (the first on ties) and its score. A selected atom scores ≈ 0 after the refit (the residual is
  // orthogonal to it), so it only comes out on top when every atom does: the caller then stops the target.
  nodes.push({ op: 'ArgMax', inputs: [ranked], outputs: ['index'], attributes: { axis: int(1), keepdims: int(0), select_last_index: int(0) } });
  nodes.push({ op: 'ReduceMax', inputs: [ranked], outputs: ['value'], attributes: { axes: ints([1]), keepdims: int(0) } });
  return buildOnnxModel({
    name: scaled ? 'omp_update_rank_scaled' : 'omp_update_rank',
    inputs,
    outputs: [
      { name: 'value', type: OnnxType.float, dims: [1] },
      { name: 'index', type: OnnxType.int64, dims: [1] },
    ],
    nodes,
  });
}

/**
 * The best row of a block for each query: ArgMax over |q·x| (× 1/|x| when scaled), the first on ties, and its score.
 * Only `count` values leave ONNX Runtime instead of count × block scores.
 */
function bestRowGraph(scaled: boolean): Uint8Array {
  const inputs: OnnxValueInfo[] = [
    { name: 'q', type: OnnxType.float, dims: ['n', 'd'] },
    { name: 'x', type: OnnxType.float, dims: ['b', 'd'] },
  ];
  const nodes: OnnxNode[] = [
    { op: 'Gemm', inputs: ['q', 'x'], outputs: ['s'], attributes: { transB: int(1) } },
    { op: 'Abs', inputs: ['s'], outputs: ['magnitude'] },
  ];
  let ranked = 'magnitude';
  if (scaled) {
    inputs.push({ name: 'inverse_norms', type: OnnxType.float, dims: [1, 'b'] });
    nodes.push({ op: 'Mul', inputs: ['magnitude', 'inverse_norms'], outputs: ['scaled'] });
    ranked = 'scaled';
  }
  nodes.push({ op: 'ArgMax', inputs: [ranked], outputs: ['index'], attributes: { axis: int(1), keepdims: int(0), select_last_index: int(0) } });
  nodes.push({ op: 'ReduceMax', inputs: [ranked], outputs: ['value'], attributes: { axes: ints([1]), keepdims: int(0) } });
  return buildOnnxModel({
    name: scaled ? 'omp_best_row_scaled' : 'omp_best_row',
    inputs,
    outputs: [
      { name: 'value', type: OnnxType.float, dims: ['n'] },
      { name: 'index', type: OnnxType.int64, dims: ['n'] },
    ],
    nodes,
  });
}

/** Receives one block of scores: `scores` is [n, rows] row-major for dictionary rows [start, start + rows). */
export type ScoreSink = (start: number, rows: number, scores: Float32Array) => void;

export class OmpKernels {
  private scratch = new Float32Array(0);

  private constructor(
    readonly settings: OmpKernelSettings,
    private readonly correlateSession: ort.InferenceSession,
    private readonly rankSession: ort.InferenceSession,
    private readonly rankScaledSession: ort.InferenceSession,
    private readonly bestSession: ort.InferenceSession,
    private readonly bestScaledSession: ort.InferenceSession,
  ) {}

  static async create(changes: Partial<OmpKernelSettings> = {}): Promise<OmpKernels> {
    const settings = { ...DEFAULT_OMP_KERNEL_SETTINGS, ...changes };
    const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 };
    if (settings.intraOpThreads > 0) options.intraOpNumThreads = settings.intraOpThreads;
    const [correlate, rank, rankScaled, best, bestScaled] = await Promise.all([
      ort.InferenceSession.create(correlateGraph(), options),
      ort.InferenceSession.create(updateAndRankGraph(false), options),
      ort.InferenceSession.create(updateAndRankGraph(true), options),
      ort.InferenceSession.create(bestRowGraph(false), options),
      ort.InferenceSession.create(bestRowGraph(true), options),
    ]);
    return new OmpKernels(settings, correlate, rank, rankScaled, best, bestScaled);
  }

  async release(): Promise<void> {
    await Promise.all([this.correlateSession, this.rankSession, this.rankScaledSession, this.bestSession, this.bestScaledSession].map((s) => s.release()));
  }

  /** Splits rows [from, to) into blocks ONNX Runtime can read: in place for an ordinary buffer, else copied. */
  private *blocks(
    dictionary: Float32Array,
    dim: number,
    from: number,
    to: number,
    maxRows = Infinity,
  ): Generator<{ start: number; rows: number; block: Float32Array }> {
    const shared = dictionary.buffer instanceof SharedArrayBuffer;
    const blockBytes = shared ? this.settings.blockBytes : 16 * this.settings.blockBytes;
    const blockRows = Math.max(1, Math.min(to - from, maxRows, Math.floor(blockBytes / (dim * 4))));
    if (shared && this.scratch.length < blockRows * dim) this.scratch = new Float32Array(blockRows * dim);
    for (let start = from; start < to; start += blockRows) {
      const rows = Math.min(blockRows, to - start);
      let block = dictionary.subarray(start * dim, (start + rows) * dim);
      if (shared) {
        const copy = this.scratch.subarray(0, rows * dim);
        copy.set(block);
        block = copy;
      }
      yield { start, rows, block };
    }
  }

  /**
   * For each of `count` queries, the dictionary row with the largest |q·x| (÷|x| with `inverseNorms`), the lower index
   * on ties, and that score. Writes `bestIndex` and `bestValue` (length ≥ count).
   */
  async bestRows(
    dictionary: Float32Array,
    dim: number,
    rows: number,
    queries: Float32Array,
    count: number,
    inverseNorms: Float32Array | undefined,
    bestIndex: Int32Array,
    bestValue: Float32Array,
    shouldStop?: () => boolean,
  ): Promise<void> {
    bestIndex.fill(-1, 0, count);
    bestValue.fill(-1, 0, count);
    if (count === 0) return;
    const q = new ort.Tensor('float32', queries.length === count * dim ? queries : queries.subarray(0, count * dim), [count, dim]);
    // The scores of a block exist only inside ONNX Runtime, between the Gemm and the ArgMax: keeping them about
    // L2-sized (count × blockRows floats) avoids streaming a huge score matrix through memory when D is small.
    const maxRows = Math.max(256, Math.floor(SCORE_BLOCK_BYTES / (4 * count)));
    for (const { start, rows: blockRows, block } of this.blocks(dictionary, dim, 0, rows, maxRows)) {
      if (shouldStop?.()) return;
      const feeds: Record<string, ort.Tensor> = { q, x: new ort.Tensor('float32', block, [blockRows, dim]) };
      if (inverseNorms) feeds.inverse_norms = new ort.Tensor('float32', inverseNorms.subarray(start, start + blockRows), [1, blockRows]);
      const output = await (inverseNorms ? this.bestScaledSession : this.bestSession).run(feeds);
      const values = output.value.data as Float32Array;
      const indices = output.index.data as BigInt64Array;
      for (let i = 0; i < count; i++) {
        // Strictly greater: on a tie the earlier block (the lower index) keeps it.
        if (values[i] > bestValue[i]) {
          bestValue[i] = values[i];
          bestIndex[i] = start + Number(indices[i]);
        }
      }
    }
  }

  /**
   * Scores `count` query rows (`queries`, [count, dim], an ordinary buffer) against dictionary rows [from, to) of
   * `dictionary` ([rows, dim], may be shared), a block at a time; `sink` gets each block's [count, blockRows] scores.
   * `shouldStop` is polled between blocks.
   */
  async correlate(
    dictionary: Float32Array,
    dim: number,
    from: number,
    to: number,
    queries: Float32Array,
    count: number,
    sink: ScoreSink,
    shouldStop?: () => boolean,
  ): Promise<void> {
    if (count === 0 || to <= from) return;
    const q = new ort.Tensor('float32', queries.length === count * dim ? queries : queries.subarray(0, count * dim), [count, dim]);
    // Output blocks of about 2 MiB: ONNX Runtime reuses their memory, where a huge output would be fresh pages
    // (page faults) on every run.
    const maxRows = Math.max(256, Math.floor(SCORE_BLOCK_BYTES / (4 * count)));
    for (const { start, rows, block } of this.blocks(dictionary, dim, from, to, maxRows)) {
      if (shouldStop?.()) return;
      const output = await this.correlateSession.run({ q, x: new ort.Tensor('float32', block, [rows, dim]) });
      sink(start, rows, output.s.data as Float32Array);
    }
  }

  /**
   * α = α⁰ − γ·P for one target, and the best atom by |α| (divided by the atom norms when `inverseNorms` is given),
   * the lower index on ties, with its score. `panel` holds γ.length rows of n values (an ordinary buffer).
   */
  async updateAndRank(
    gamma: Float32Array,
    panel: Float32Array,
    alpha0: Float32Array,
    inverseNorms: Float32Array | undefined,
  ): Promise<{ value: number; index: number }> {
    const s = gamma.length;
    const n = alpha0.length;
    const feeds: Record<string, ort.Tensor> = {
      gamma: new ort.Tensor('float32', gamma, [1, s]),
      panel: new ort.Tensor('float32', panel, [s, n]),
      alpha0: new ort.Tensor('float32', alpha0, [1, n]),
    };
    if (inverseNorms) feeds.inverse_norms = new ort.Tensor('float32', inverseNorms, [1, n]);
    const output = await (inverseNorms ? this.rankScaledSession : this.rankSession).run(feeds);
    return { value: (output.value.data as Float32Array)[0], index: Number((output.index.data as BigInt64Array)[0]) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The Batch-OMP step as a WebAssembly SIMD kernel
//
// One ONNX Runtime run costs about 70 µs of fixed overhead (tensors, the run call, four more passes over α for Sub,
// Abs, ArgMax and ReduceMax), as much as the update itself at a few dozen selected atoms. The step is memory-bound
// (it reads s·N Gram values to do s·N multiply-adds), so a fused loop that streams the panel once, keeps a tile of α
// in L1 and ranks it there reaches the same bandwidth without the overhead. The module is assembled here, like the
// ONNX graphs above, from a few dozen instructions; it needs WebAssembly SIMD (Node ≥ 16.4).

/** Elements of α ranked per tile: 4 KiB, so the tile stays in L1 while the panel rows stream past it. */
const UPDATE_TILE = 1024;

/**
 * The module's one function, `update_rank(panel, gamma, s, alpha0, scale, stride, count, tile, out)` (byte addresses
 * and counts, all i32): for i < count (a multiple of 4), α_i = α⁰_i − Σ_{j<s} γ_j·P[j, i] with P's rows `stride` bytes
 * apart, then v_i = |α_i|·scale_i; writes the per-lane best v (f32x4) and its index (i32x4) to `out` (first index on
 * ties within a lane). Rows are taken four at a time, so α is loaded and stored once per four panel rows.
 */
function updateRankModule(): Uint8Array<ArrayBuffer> {
  // Parameters 0–8, then locals.
  const [panel, gamma, s, alpha0, scale, stride, count, tile, out] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [t0, tileBytes, i, j, row, r1, r2, r3, a0, sc] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const [g0, g1, g2, g3, bestV, bestI, idx, four] = [19, 20, 21, 22, 23, 24, 25, 26];
  /** for (i = 0; i < tileBytes; i += 16) body */
  const overTile = (body: number[]) => [...i32(0), ...set(i), ...block, ...loop, ...get(i), ...get(tileBytes), ...geU, ...brIf(1), ...body, ...get(i), ...i32(16), ...add, ...set(i), ...br(0), ...end, ...end];
  const at = (base: number) => [...get(base), ...get(i), ...add];
  /** α tile −= g·row for one row: the value left on the stack is the panel term. */
  const term = (g: number, r: number) => [...get(g), ...at(r), ...vload(), ...f32x4.mul, ...f32x4.sub];
  const splatGamma = (g: number, offset: number) => [...get(gamma), ...get(j), ...i32(2), ...shl, ...add, ...f32load(offset), ...f32x4.splat, ...set(g)];
  const rowOf = (target: number, extraRows: number) => [...get(row), ...get(stride), ...i32(extraRows), ...mul, ...add, ...set(target)];

  const body = [
    ...v128f32(-1), ...set(bestV),
    ...v128i32(-1, -1, -1, -1), ...set(bestI),
    ...v128i32(0, 1, 2, 3), ...set(idx),
    ...v128i32(4, 4, 4, 4), ...set(four),
    ...i32(0), ...set(t0),
    ...block, ...loop,
    ...get(t0), ...get(count), ...geU, ...brIf(1),
    // tileBytes = 4 · min(TILE, count − t0); a0, sc: this tile's α⁰ and scale
    ...get(count), ...get(t0), ...sub, ...set(tileBytes),
    ...get(tileBytes), ...i32(UPDATE_TILE), ...get(tileBytes), ...i32(UPDATE_TILE), ...ltU, ...select, ...i32(2), ...shl, ...set(tileBytes),
    ...get(alpha0), ...get(t0), ...i32(2), ...shl, ...add, ...set(a0),
    ...get(scale), ...get(t0), ...i32(2), ...shl, ...add, ...set(sc),
    // tile ← α⁰
    ...overTile([...at(tile), ...at(a0), ...vload(), ...vstore()]),
    // four rows at a time
    ...i32(0), ...set(j),
    ...block, ...loop,
    ...get(j), ...i32(4), ...add, ...get(s), ...gtU, ...brIf(1),
    ...splatGamma(g0, 0), ...splatGamma(g1, 4), ...splatGamma(g2, 8), ...splatGamma(g3, 12),
    ...get(panel), ...get(j), ...get(stride), ...mul, ...add, ...get(t0), ...i32(2), ...shl, ...add, ...set(row),
    ...rowOf(r1, 1), ...rowOf(r2, 2), ...rowOf(r3, 3),
    ...overTile([...at(tile), ...at(tile), ...vload(), ...term(g0, row), ...term(g1, r1), ...term(g2, r2), ...term(g3, r3), ...vstore()]),
    ...get(j), ...i32(4), ...add, ...set(j),
    ...br(0), ...end, ...end,
    // the remaining rows
    ...block, ...loop,
    ...get(j), ...get(s), ...geU, ...brIf(1),
    ...splatGamma(g0, 0),
    ...get(panel), ...get(j), ...get(stride), ...mul, ...add, ...get(t0), ...i32(2), ...shl, ...add, ...set(row),
    ...overTile([...at(tile), ...at(tile), ...vload(), ...term(g0, row), ...vstore()]),
    ...get(j), ...i32(1), ...add, ...set(j),
    ...br(0), ...end, ...end,
    // rank: v = |α|·scale; per lane keep the first strict maximum
    ...overTile([
      ...at(tile), ...vload(), ...f32x4.abs, ...at(sc), ...vload(), ...f32x4.mul, ...set(g0),
      ...get(g0), ...get(bestV), ...f32x4.gt, ...set(g1),
      ...get(g0), ...get(bestV), ...get(g1), ...v128.bitselect, ...set(bestV),
      ...get(idx), ...get(bestI), ...get(g1), ...v128.bitselect, ...set(bestI),
      ...get(idx), ...get(four), ...i32x4.add, ...set(idx),
    ]),
    ...get(t0), ...i32(UPDATE_TILE), ...add, ...set(t0),
    ...br(0), ...end, ...end,
    ...get(out), ...get(bestV), ...vstore(0),
    ...get(out), ...get(bestI), ...vstore(16),
  ];
  return assembleModule([{ name: 'update_rank', params: Array.from({ length: 9 }, () => I32), locals: [[10, I32], [8, V128]], body }]);
}

let updateRankCompiled: WebAssembly.Module | undefined;

/**
 * The Batch-OMP step kernel over its own WebAssembly memory, which holds the solver's Gram panels, α⁰ rows, γ and atom
 * scales (views handed out by `allocate`, all 16-byte aligned). Results match `OmpKernels.updateAndRank` up to the
 * order of floating-point additions.
 */
export class OmpStepKernel {
  private used = 0;
  private readonly tile: number;
  private readonly out: number;
  private readonly outValues: Float32Array;
  private readonly outIndices: Int32Array;

  private constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly run: (...args: number[]) => void,
  ) {
    this.tile = this.allocate(UPDATE_TILE).byteOffset;
    const out = this.allocate(8);
    this.out = out.byteOffset;
    this.outValues = out.subarray(0, 4);
    this.outIndices = new Int32Array(out.buffer, out.byteOffset + 16, 4);
  }

  /**
   * A kernel whose memory has room for `floats` values besides its own scratch; undefined when WebAssembly SIMD is
   * missing or the memory cannot be had (the caller then uses ONNX Runtime).
   */
  static create(floats: number): OmpStepKernel | undefined {
    const bytes = floats * 4 + (UPDATE_TILE + 64) * 4 + 4096;
    const pages = Math.ceil(bytes / 65536);
    if (pages > 65536) return undefined;
    try {
      updateRankCompiled ??= new WebAssembly.Module(updateRankModule());
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
      const instance = new WebAssembly.Instance(updateRankCompiled, { env: { memory } });
      return new OmpStepKernel(memory, instance.exports.update_rank as (...args: number[]) => void);
    } catch {
      return undefined;
    }
  }

  /** A zeroed view of `length` floats in the kernel's memory. Throws when the memory is full (a bug). */
  allocate(length: number): Float32Array {
    const offset = this.used;
    const bytes = Math.ceil((length * 4) / 16) * 16;
    if (offset + bytes > this.memory.buffer.byteLength) throw new Error(`OmpStepKernel: out of memory (${length} floats)`);
    this.used += bytes;
    return new Float32Array(this.memory.buffer, offset, length);
  }

  /**
   * α = α⁰ − γ·P and the best atom by |α|·scale (the lower index on ties), with its score: `gamma` holds s values,
   * `panel` s rows of n values (a view of this kernel's memory, as are `alpha0` and `scale`, each n values).
   */
  updateAndRank(gamma: Float32Array, s: number, panel: Float32Array, alpha0: Float32Array, scale: Float32Array): { value: number; index: number } {
    const n = alpha0.length;
    const vectorized = n - (n % 4);
    this.run(panel.byteOffset, gamma.byteOffset, s, alpha0.byteOffset, scale.byteOffset, n * 4, vectorized, this.tile, this.out);
    let value = -1;
    let index = -1;
    for (let lane = 0; lane < 4; lane++) {
      const v = this.outValues[lane];
      const at = this.outIndices[lane];
      if (at >= 0 && (v > value || (v === value && at < index))) {
        value = v;
        index = at;
      }
    }
    // The last n mod 4 atoms in float32 scalar arithmetic; they come last, so only a strictly larger score wins.
    for (let i = vectorized; i < n; i++) {
      let alpha = alpha0[i];
      for (let j = 0; j < s; j++) alpha = Math.fround(alpha - Math.fround(gamma[j] * panel[j * n + i]));
      const v = Math.fround(Math.abs(alpha) * scale[i]);
      if (v > value) {
        value = v;
        index = i;
      }
    }
    return { value, index };
  }
}
