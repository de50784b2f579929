/**
 * The ONNX Runtime kernels of the sparse-coding solvers, as small graphs built in code (onnxGraph.ts):
 *
 * - `correlate`: scores = Q · Aᵀ for a few query rows Q against every row of a dictionary A, one cache-sized block of
 *   A's rows at a time (Gemm with transB). It gives OMP's Aᵀy for a whole block of targets at once, the Gram columns
 *   A·a_s of newly selected atoms, and the per-step correlations of the plain algorithm.
 * - `updateAndRank`: one Batch-OMP step for one target: α = α⁰ − γ·P (P holds the Gram columns of the selected atoms,
 *   one per row), then the atom with the largest |α| (optionally divided by the atom norms), ties to the lower index.
 *
 * onnxruntime-node refuses inputs backed by a SharedArrayBuffer, so blocks of a shared dictionary are copied into a
 * reused scratch buffer first (cache-sized, never the whole matrix); an ordinary dictionary is read in place (worker
 * threads keep a private copy for that reason). Outputs are copied out by the caller.
 */
import * as ort from 'onnxruntime-node';
import { buildOnnxModel, int, ints, OnnxType, type OnnxNode, type OnnxValueInfo } from './onnxGraph';

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
