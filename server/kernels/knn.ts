/**
 * Exact k-nearest-neighbour search over an EmbeddingMatrix.
 *
 * Scores, per metric (what `KnnResult.scores` holds):
 * - 'cosine': cosine similarity x·q / (|x| |q|), best first (descending); a zero row or query scores 0;
 * - 'dot': the inner product x·q, best first (descending);
 * - 'euclidean': the Euclidean DISTANCE |x − q|, nearest first (ascending).
 * Ties are broken by the smaller row id. Results are exact (every row is scored), not approximate.
 *
 * The heavy product runs in ONNX Runtime: a graph built in code (Gemm with transB, the per-row norm term, TopK)
 * is run over blocks of rows, so ORT's multi-threaded SIMD kernels do the work and only k candidates per query and
 * block come back. onnxruntime-node refuses SharedArrayBuffer-backed inputs, so each block is first copied into a
 * small, cache-sized scratch buffer (never the whole matrix). For 'f16' storage the graph casts the half block to
 * float32 in ORT (Cast), so no full-size float32 copy ever exists; the block is sized so that its float32 cast, which
 * the product reads right after, stays in cache. Each block yields k + (excluded) + min(k, 8)
 * candidates per query by float32 scores (the margin absorbs float32 rounding near the k-th place); the candidates of
 * all blocks are merged, and the final top k are re-scored in float64 in JS. Those are the scores returned: the same
 * numbers the naive `searchNearestNaive` computes.
 *
 * A single query over an 'f16' matrix held in a WebAssembly memory skips the copy: the WebAssembly kernel in
 * `knnHalfKernel.ts` scans the shared matrix in place, so the query reads the matrix once instead of copying it
 * first (the copy alone costs what the memory-bandwidth floor does). Batches stay with ORT, whose matrix product
 * reuses each block for every query.
 *
 * `searchNearest` blocks its thread while ORT runs; the server calls it through `KnnPool` (worker threads). Several
 * threads can share one search's rows through a claim counter (`KnnRunControl.claimCounter`): each takes the next
 * unclaimed block, so one query uses every core and a thread slowed by other work simply scores fewer blocks.
 */
import * as ort from 'onnxruntime-node';
import { ModelLensError } from '../errors';
import { dotF64, EmbeddingMatrix, float16ToFloat32Table } from './embeddingMatrix';
import { buildOnnxModel, float, int, OnnxType, type OnnxNode, type OnnxValueInfo } from './onnxGraph';
import { HALF_KERNEL_BLOCK_ROWS, HalfKernelScan } from './knnHalfKernel';

export type KnnMetric = 'cosine' | 'dot' | 'euclidean';
export const KNN_METRICS: readonly KnnMetric[] = ['cosine', 'dot', 'euclidean'];

/** Row ids to leave out of one query's results (analogy inputs, the query token itself). */
export type KnnExclusion = readonly number[] | ReadonlySet<number>;

export interface KnnOptions {
  /** How many neighbours per query; fewer come back when the matrix has fewer rows (after exclusions). */
  k: number;
  metric: KnnMetric;
  /** One exclusion list per query (index i for query i); missing entries exclude nothing. */
  exclude?: readonly (KnnExclusion | undefined)[];
}

/** Rows scored so far out of all to score (rows × passes; a batch over maxQueriesPerPass makes several passes). */
export interface KnnProgress {
  rowsDone: number;
  rows: number;
  blocksDone: number;
  blocks: number;
}

export interface KnnRunControl {
  /** Checked before every block; when aborted the search rejects with an error named 'AbortError'. */
  signal?: { readonly aborted: boolean };
  /** Called after every block. */
  onProgress?: (progress: KnnProgress) => void;
  /**
   * Score only rows [start, end) (ids stay global). A pool splits one search into such shards across workers and
   * merges their exact results.
   */
  rowRange?: readonly [start: number, end: number];
  /**
   * Share the rows with other searches of the same queries (on other threads) instead of scoring all of them: each
   * block is claimed by advancing this shared counter (slot 0, rows claimed so far over all passes, starting at 0),
   * so a thread that runs faster scores more blocks, and together the searches score every row exactly once. Their
   * results merge exactly with `mergeRanked`. Progress then counts the rows this search scored.
   */
  claimCounter?: Int32Array;
}

export interface KnnResult {
  /** Row ids, best first. */
  ids: Int32Array;
  /** Scores of `ids` (see the module comment: similarity descending, or euclidean distance ascending). */
  scores: Float32Array;
}

/** A result with the exact float64 ranking keys (larger is better: the similarity, or minus the squared distance). */
export interface RankedKnnResult extends KnnResult {
  keys: Float64Array;
}

export interface KnnKernelSettings {
  /** ORT intra-op threads per session; 0 lets ORT choose (one per physical core). */
  intraOpThreads: number;
  /**
   * Bytes of float32 values scored per ORT run (a cache-sized block). An 'f16' block holds as many rows, so its copy
   * is half this and ORT's float32 cast of it this size.
   */
  blockBytes: number;
  /** Most queries scored in one pass over the matrix; bigger batches make more passes. */
  maxQueriesPerPass: number;
  /** Whether single queries over an 'f16' matrix use the WebAssembly kernel when they can (false: always ORT). */
  halfKernel: boolean;
}

const settings: KnnKernelSettings = { intraOpThreads: 0, blockBytes: 4 << 20, maxQueriesPerPass: 128, halfKernel: true };

/** Changes the kernel settings for this thread (sessions made with other thread counts are dropped). */
export function configureKnnKernels(changes: Partial<KnnKernelSettings>): KnnKernelSettings {
  for (const [key, value] of Object.entries(changes)) {
    const valid = key === 'halfKernel' ? typeof value === 'boolean' : Number.isSafeInteger(value) && (value as number) >= (key === 'intraOpThreads' ? 0 : 1);
    if (!valid) {
      throw new ModelLensError('usage', `kNN kernel setting ${key} must be ${key === 'halfKernel' ? 'true or false' : 'a whole number'}, not ${value}`);
    }
  }
  if (changes.intraOpThreads !== undefined && changes.intraOpThreads !== settings.intraOpThreads) {
    for (const session of sessions.values()) void session.then((s) => s.release()).catch(() => undefined);
    sessions.clear();
  }
  Object.assign(settings, changes);
  return { ...settings };
}

/** An error named 'AbortError', as a cancelled search rejects with. */
export function knnAbortError(message = 'kNN search cancelled'): Error {
  const error = new Error(message);
  error.name = 'AbortError';
  return error;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

/** Checks a search's arguments (throws a 'usage' or 'mismatch' ModelLensError) and returns the number of queries. */
export function checkQueries(matrix: EmbeddingMatrix, queries: Float32Array, options: KnnOptions): number {
  const { dim } = matrix;
  if (queries.length % dim !== 0) {
    throw new ModelLensError('mismatch', `${queries.length} query values are not whole vectors of the matrix dimension ${dim}`);
  }
  if (!Number.isSafeInteger(options.k) || options.k < 0) {
    throw new ModelLensError('usage', `k must be a whole number ≥ 0, not ${options.k}`);
  }
  if (!KNN_METRICS.includes(options.metric)) {
    throw new ModelLensError('usage', `unknown metric "${String(options.metric)}"; use ${KNN_METRICS.join(', ')}`);
  }
  const count = queries.length / dim;
  if (options.exclude && options.exclude.length > count) {
    throw new ModelLensError('usage', `${options.exclude.length} exclusion lists for ${count} queries`);
  }
  return count;
}

function exclusionSet(options: KnnOptions, query: number): ReadonlySet<number> | undefined {
  const list = options.exclude?.[query];
  if (!list) return undefined;
  return list instanceof Set ? list : new Set(list as readonly number[]);
}

// ---------------------------------------------------------------------------------------------------------------
// Exact scores (float64) and a bounded best-k keeper, shared by the naive search and the final re-scoring

/** Larger is better: similarity for cosine and dot, minus the squared distance for euclidean. */
function exactKey(row: Float32Array, rowNorm: number, query: Float32Array, queryNorm: number, metric: KnnMetric): number {
  switch (metric) {
    case 'dot':
      return dotF64(row, query);
    case 'cosine': {
      const denominator = rowNorm * queryNorm;
      return denominator > 0 ? dotF64(row, query) / denominator : 0;
    }
    case 'euclidean': {
      let s = 0;
      for (let j = 0; j < row.length; j++) {
        const d = row[j] - query[j];
        s += d * d;
      }
      return -s;
    }
  }
}

/** NaN keys (from NaN values in a matrix) rank last instead of breaking the ordering. */
function rankable(key: number): number {
  return Number.isNaN(key) ? -Infinity : key;
}

function keyToScore(key: number, metric: KnnMetric): number {
  return metric === 'euclidean' ? Math.sqrt(-key) : key;
}

/** Keeps the `capacity` best (key, id) pairs: higher key wins, then the smaller id. A min-heap of the kept ones. */
class BestKeeper {
  readonly keys: Float64Array;
  readonly ids: Int32Array;
  size = 0;

  constructor(readonly capacity: number) {
    this.keys = new Float64Array(capacity);
    this.ids = new Int32Array(capacity);
  }

  /** True when (ka, ia) ranks below (kb, ib). */
  private static worse(ka: number, ia: number, kb: number, ib: number): boolean {
    return ka < kb || (ka === kb && ia > ib);
  }

  /** Whether (key, id) would be kept now. */
  accepts(key: number, id: number): boolean {
    return this.size < this.capacity || BestKeeper.worse(this.keys[0], this.ids[0], key, id);
  }

  offer(key: number, id: number): void {
    if (this.capacity === 0) return;
    const { keys, ids } = this;
    if (this.size < this.capacity) {
      let i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!BestKeeper.worse(key, id, keys[parent], ids[parent])) break;
        keys[i] = keys[parent];
        ids[i] = ids[parent];
        i = parent;
      }
      keys[i] = key;
      ids[i] = id;
      return;
    }
    if (!BestKeeper.worse(keys[0], ids[0], key, id)) return;
    let i = 0;
    const n = this.size;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && BestKeeper.worse(keys[right], ids[right], keys[left], ids[left]) ? right : left;
      if (!BestKeeper.worse(keys[child], ids[child], key, id)) break;
      keys[i] = keys[child];
      ids[i] = ids[child];
      i = child;
    }
    keys[i] = key;
    ids[i] = id;
  }

  /** The kept pairs, best first. */
  sorted(): { keys: Float64Array; ids: Int32Array } {
    const order = Array.from({ length: this.size }, (_, i) => i);
    order.sort((a, b) => this.keys[b] - this.keys[a] || this.ids[a] - this.ids[b]);
    return { keys: Float64Array.from(order, (i) => this.keys[i]), ids: Int32Array.from(order, (i) => this.ids[i]) };
  }
}

function queryNorm(query: Float32Array): number {
  return Math.sqrt(dotF64(query, query));
}

/** Re-scores candidate rows exactly and returns the best k of them. */
function rescore(matrix: EmbeddingMatrix, query: Float32Array, candidates: Iterable<number>, k: number, metric: KnnMetric): RankedKnnResult {
  const keeper = new BestKeeper(k);
  const row = new Float32Array(matrix.dim);
  const qNorm = queryNorm(query);
  for (const id of candidates) {
    matrix.getRow(id, row);
    keeper.offer(rankable(exactKey(row, matrix.norms[id], query, qNorm, metric)), id);
  }
  return rankedResult(keeper, metric);
}

function rankedResult(keeper: BestKeeper, metric: KnnMetric): RankedKnnResult {
  const best = keeper.sorted();
  return { ids: best.ids, scores: Float32Array.from(best.keys, (key) => keyToScore(key, metric)), keys: best.keys };
}

// ---------------------------------------------------------------------------------------------------------------
// The naive baseline: a plain JS loop over every row

/** Exact kNN with plain JS loops (float64 accumulation). The reference for tests and the baseline for benchmarks. */
export function searchNearestNaive(matrix: EmbeddingMatrix, queries: Float32Array, options: KnnOptions): KnnResult[] {
  const count = checkQueries(matrix, queries, options);
  const { dim, rows, metric } = { dim: matrix.dim, rows: matrix.rows, metric: options.metric };
  const results: KnnResult[] = [];
  const row = new Float32Array(dim);
  const table = matrix.storage === 'f16' ? float16ToFloat32Table() : undefined;
  for (let q = 0; q < count; q++) {
    const query = queries.subarray(q * dim, (q + 1) * dim);
    const qNorm = queryNorm(query);
    const excluded = exclusionSet(options, q);
    const keeper = new BestKeeper(options.k);
    for (let r = 0; r < rows; r++) {
      if (excluded?.has(r)) continue;
      let values: Float32Array;
      if (table) {
        const data = matrix.data as Uint16Array;
        const offset = r * dim;
        for (let j = 0; j < dim; j++) row[j] = table[data[offset + j]];
        values = row;
      } else {
        values = (matrix.data as Float32Array).subarray(r * dim, (r + 1) * dim);
      }
      keeper.offer(rankable(exactKey(values, matrix.norms[r], query, qNorm, metric)), r);
    }
    const best = keeper.sorted();
    results.push({ ids: best.ids, scores: Float32Array.from(best.keys, (key) => keyToScore(key, metric)) });
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------------
// ONNX Runtime kernels

/**
 * The scoring graph for one metric and storage. Inputs: x [b, d] (a block of rows, float32 or float16), q [n, d]
 * (queries, unit length for cosine), scale [1, b] (1/|x| for cosine, |x|² for euclidean, absent for dot), k [1].
 * Outputs: values and indices [n, k] of the k best rows of the block for each query, where "best" is the largest
 * q·x (dot), q·x/|x| (cosine) or the smallest |x|² − 2 q·x (euclidean: the squared distance minus |q|²).
 * The queries are Gemm's A and the block its transposed B: for one query MLAS then runs a GEMV over the rows, and
 * TopK works along the contiguous last axis.
 */
function scoringGraph(metric: KnnMetric, storage: EmbeddingMatrix['storage']): Uint8Array {
  const nodes: OnnxNode[] = [];
  let x = 'x';
  if (storage === 'f16') {
    nodes.push({ op: 'Cast', inputs: ['x'], outputs: ['x32'], attributes: { to: int(OnnxType.float) } });
    x = 'x32';
  }
  const inputs: OnnxValueInfo[] = [
    { name: 'x', type: storage === 'f16' ? OnnxType.float16 : OnnxType.float, dims: ['b', 'd'] },
    { name: 'q', type: OnnxType.float, dims: ['n', 'd'] },
  ];
  if (metric !== 'dot') inputs.push({ name: 'scale', type: OnnxType.float, dims: [1, 'b'] });
  inputs.push({ name: 'k', type: OnnxType.int64, dims: [1] });
  switch (metric) {
    case 'dot':
      nodes.push({ op: 'Gemm', inputs: ['q', x], outputs: ['s'], attributes: { transB: int(1) } });
      break;
    case 'cosine':
      nodes.push({ op: 'Gemm', inputs: ['q', x], outputs: ['qx'], attributes: { transB: int(1) } });
      nodes.push({ op: 'Mul', inputs: ['qx', 'scale'], outputs: ['s'] });
      break;
    case 'euclidean':
      nodes.push({ op: 'Gemm', inputs: ['q', x, 'scale'], outputs: ['s'], attributes: { transB: int(1), alpha: float(-2), beta: float(1) } });
      break;
  }
  nodes.push({
    op: 'TopK',
    inputs: ['s', 'k'],
    outputs: ['values', 'indices'],
    attributes: { axis: int(-1), largest: int(metric === 'euclidean' ? 0 : 1), sorted: int(0) },
  });
  return buildOnnxModel({
    name: `knn_${metric}_${storage}`,
    inputs,
    outputs: [
      { name: 'values', type: OnnxType.float, dims: ['n', 'kb'] },
      { name: 'indices', type: OnnxType.int64, dims: ['n', 'kb'] },
    ],
    nodes,
  });
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function scoringSession(metric: KnnMetric, storage: EmbeddingMatrix['storage']): Promise<ort.InferenceSession> {
  const key = `${metric}/${storage}`;
  let session = sessions.get(key);
  if (!session) {
    const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 };
    if (settings.intraOpThreads > 0) options.intraOpNumThreads = settings.intraOpThreads;
    session = ort.InferenceSession.create(scoringGraph(metric, storage), options);
    session.catch(() => sessions.delete(key));
    sessions.set(key, session);
  }
  return session;
}

/**
 * Fills `out` with the graph's per-row `scale` input for rows [start, start + out.length): 1/|x| (0 for a zero row)
 * for cosine, |x|² for euclidean. Computed per block from the shared norms, so rows rewritten since the last search
 * are scored with their new norms; ORT needs the values in an ordinary ArrayBuffer anyway.
 */
function fillScale(matrix: EmbeddingMatrix, metric: KnnMetric, start: number, out: Float32Array): void {
  const { norms } = matrix;
  if (metric === 'cosine') {
    for (let i = 0; i < out.length; i++) {
      const n = norms[start + i];
      out[i] = n > 0 ? 1 / n : 0;
    }
  } else {
    for (let i = 0; i < out.length; i++) out[i] = norms[start + i] * norms[start + i];
  }
}

/**
 * Scratch blocks to copy matrix rows into, reused across searches: fresh memory costs page faults on first touch.
 * A search takes one and gives it back, so concurrent searches on one thread never share one.
 */
const spareScratch: (Float32Array | Uint16Array)[] = [];

function takeScratch(storage: EmbeddingMatrix['storage'], length: number): Float32Array | Uint16Array {
  const type = storage === 'f16' ? Uint16Array : Float32Array;
  const index = spareScratch.findIndex((buffer) => buffer instanceof type && buffer.length >= length);
  if (index >= 0) return spareScratch.splice(index, 1)[0];
  return new type(length);
}

function giveScratch(buffer: Float32Array | Uint16Array): void {
  spareScratch.push(buffer);
  if (spareScratch.length > 4) spareScratch.shift();
}

/** Candidates per query and block: enough that k survive the exclusions, plus a margin for the exact re-scoring. */
function candidatesPerBlock(k: number, longestExclusion: number): number {
  return k + longestExclusion + Math.min(k, 8);
}

/**
 * Exact kNN for a batch of queries ([count, dim] row-major) by ONNX Runtime kernels, or the half kernel for a
 * single query over an 'f16' matrix. Rejects with an 'AbortError' when `control.signal` is aborted (checked before
 * each block).
 */
export async function searchNearest(
  matrix: EmbeddingMatrix,
  queries: Float32Array,
  options: KnnOptions,
  control: KnnRunControl = {},
): Promise<KnnResult[]> {
  return (await searchNearestRanked(matrix, queries, options, control)).map(({ ids, scores }) => ({ ids, scores }));
}

/** `searchNearest`, with the exact ranking keys that `mergeRanked` needs to merge row-range shards. */
export async function searchNearestRanked(
  matrix: EmbeddingMatrix,
  queries: Float32Array,
  options: KnnOptions,
  control: KnnRunControl = {},
): Promise<RankedKnnResult[]> {
  const count = checkQueries(matrix, queries, options);
  if (control.signal?.aborted) throw knnAbortError();
  const [firstRow, endRow] = control.rowRange ?? [0, matrix.rows];
  if (!Number.isSafeInteger(firstRow) || !Number.isSafeInteger(endRow) || firstRow < 0 || endRow < firstRow || endRow > matrix.rows) {
    throw new ModelLensError('usage', `row range [${firstRow}, ${endRow}) is outside the matrix's ${matrix.rows} rows`);
  }
  if (count === 0) return [];
  if (options.k === 0 || endRow === firstRow) {
    return Array.from({ length: count }, () => ({ ids: new Int32Array(0), scores: new Float32Array(0), keys: new Float64Array(0) }));
  }
  const { dim, storage } = matrix;
  const halfScan = count === 1 ? claimHalfKernelScan(matrix, queries, options.metric) : undefined;
  try {
    const engine: ScoringEngine = halfScan ? { halfScan } : { session: await scoringSession(options.metric, storage) };
    const blockRows = Math.max(1, Math.min(endRow - firstRow, halfScan ? HALF_KERNEL_BLOCK_ROWS : Math.floor(settings.blockBytes / (dim * 4))));
    const candidates: Set<number>[] = Array.from({ length: count }, () => new Set<number>());
    const passes = Math.ceil(count / settings.maxQueriesPerPass);
    const blocks = Math.ceil((endRow - firstRow) / blockRows);
    if (control.claimCounter && passes * (endRow - firstRow) > 0x7fffffff) {
      throw new ModelLensError('usage', `${passes} passes over ${endRow - firstRow} rows are too many to share through a 32-bit claim counter`);
    }
    const job: ScoringJob = {
      ...{ matrix, engine, options, control, firstRow, endRow, blockRows, passes },
      ...{ blocks: blocks * passes, blocksDone: 0, rowsDone: 0, pass: 0 },
    };
    for (; job.pass < passes; job.pass++) {
      const first = job.pass * settings.maxQueriesPerPass;
      const n = Math.min(count - first, settings.maxQueriesPerPass);
      await scorePass(job, queries.subarray(first * dim, (first + n) * dim), first, candidates);
    }
    return candidates.map((ids, q) => rescore(matrix, queries.subarray(q * dim, (q + 1) * dim), ids, options.k, options.metric));
  } finally {
    halfScan?.release();
  }
}

/**
 * A scan of an 'f16' matrix by the WebAssembly kernel, which reads the shared matrix in place (see knnHalfKernel.ts),
 * set up for one query; undefined when the matrix is not in a kernel memory, no slot is free, or the query's values are
 * too large for the kernel's scaling. ONNX Runtime then does the work.
 */
function claimHalfKernelScan(matrix: EmbeddingMatrix, query: Float32Array, metric: KnnMetric): HalfKernelScan | undefined {
  if (!matrix.halfKernelMemory || !settings.halfKernel) return undefined;
  const scan = HalfKernelScan.claim(matrix.halfKernelMemory, matrix.data.byteOffset, matrix.dim);
  if (scan && !scan.setQuery(passQueryValues(query, matrix.dim, metric))) {
    scan.release();
    return undefined;
  }
  return scan;
}

/** What scores a search's blocks: the ONNX Runtime graph, or the half kernel (one query over an 'f16' matrix). */
type ScoringEngine = { session: ort.InferenceSession } | { halfScan: HalfKernelScan };

interface ScoringJob {
  matrix: EmbeddingMatrix;
  engine: ScoringEngine;
  options: KnnOptions;
  control: KnnRunControl;
  firstRow: number;
  endRow: number;
  blockRows: number;
  blocks: number;
  blocksDone: number;
  rowsDone: number;
  passes: number;
  pass: number;
}

/**
 * The next block of this pass to score, as [start, row count], or undefined when the pass is done: the next one in
 * order, or, with a claim counter, the next one no other thread has claimed.
 */
function nextBlock(job: ScoringJob, previousEnd: number | undefined): [start: number, rows: number] | undefined {
  const { firstRow, endRow, blockRows, pass } = job;
  const counter = job.control.claimCounter;
  if (!counter) {
    const start = previousEnd ?? firstRow;
    return start < endRow ? [start, Math.min(blockRows, endRow - start)] : undefined;
  }
  const rows = endRow - firstRow;
  const passEnd = (pass + 1) * rows;
  for (;;) {
    const claimed = Atomics.load(counter, 0);
    if (claimed >= passEnd) return undefined;
    const end = Math.min(claimed + blockRows, passEnd);
    if (Atomics.compareExchange(counter, 0, claimed, end) === claimed) return [firstRow + claimed - pass * rows, end - claimed];
  }
}

/** A pass's queries as the kernels take them: a copy, with each query scaled to unit length for cosine. */
function passQueryValues(queries: Float32Array, dim: number, metric: KnnMetric): Float32Array {
  const values = Float32Array.from(queries);
  if (metric === 'cosine') {
    for (let start = 0; start < values.length; start += dim) {
      const vector = values.subarray(start, start + dim);
      const norm = queryNorm(vector);
      if (norm > 0) for (let j = 0; j < dim; j++) vector[j] /= norm;
    }
  }
  return values;
}

interface BlockScorer {
  /** Scores rows [start, start + rows) for the pass's queries and offers each query's best of them to its keeper. */
  score(start: number, rows: number): Promise<void> | void;
  /** Gives back what the pass borrowed. */
  finish(): void;
}

/** One pass over the rows for up to maxQueriesPerPass queries; adds each query's candidates to `candidates`. */
async function scorePass(job: ScoringJob, queries: Float32Array, firstQuery: number, candidates: Set<number>[]): Promise<void> {
  const { control, firstRow, endRow } = job;
  const { k } = job.options;
  const n = queries.length / job.matrix.dim;
  const exclusions = Array.from({ length: n }, (_, q) => exclusionSet(job.options, firstQuery + q));
  const keepers = Array.from({ length: n }, () => new BestKeeper(k + Math.min(k, 8)));
  const { engine } = job;
  const scorer = 'halfScan' in engine ? halfKernelScorer(job, engine.halfScan, exclusions[0], keepers[0]) : onnxScorer(job, engine.session, queries, exclusions, keepers);
  try {
    for (let block = nextBlock(job, undefined); block; block = nextBlock(job, block[0] + block[1])) {
      if (control.signal?.aborted) throw knnAbortError();
      const [start, b] = block;
      await scorer.score(start, b);
      job.blocksDone++;
      job.rowsDone += b;
      control.onProgress?.({
        rowsDone: job.rowsDone,
        rows: job.passes * (endRow - firstRow),
        blocksDone: job.blocksDone,
        blocks: job.blocks,
      });
    }
  } finally {
    scorer.finish();
  }
  for (let q = 0; q < n; q++) {
    const kept = keepers[q];
    for (let i = 0; i < kept.size; i++) candidates[firstQuery + q].add(kept.ids[i]);
  }
}

/**
 * Scores blocks in ONNX Runtime: each block is copied into a scratch buffer (ORT cannot read shared memory) and the
 * graph returns the best `candidatesPerBlock` rows of it per query. The scratch goes back once the pass is done.
 */
function onnxScorer(
  job: ScoringJob,
  session: ort.InferenceSession,
  queries: Float32Array,
  exclusions: (ReadonlySet<number> | undefined)[],
  keepers: BestKeeper[],
): BlockScorer {
  const { matrix, options, blockRows } = job;
  const { dim } = matrix;
  const { metric } = options;
  const n = queries.length / dim;
  const longestExclusion = Math.max(0, ...exclusions.map((set) => set?.size ?? 0));
  const perBlock = candidatesPerBlock(options.k, longestExclusion);
  const queryTensor = new ort.Tensor('float32', passQueryValues(queries, dim, metric), [n, dim]);
  const scale = metric === 'dot' ? undefined : new Float32Array(blockRows);
  const tensorType = matrix.storage === 'f16' ? 'float16' : 'float32';
  const scratch = takeScratch(matrix.storage, blockRows * dim);
  const score = async (start: number, b: number) => {
    const values = scratch.subarray(0, b * dim);
    values.set(matrix.data.subarray(start * dim, (start + b) * dim));
    const kb = Math.min(b, perBlock);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor(tensorType, values, [b, dim]),
      q: queryTensor,
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(kb)), [1]),
    };
    if (scale) {
      const rowScale = scale.subarray(0, b);
      fillScale(matrix, metric, start, rowScale);
      feeds.scale = new ort.Tensor('float32', rowScale, [1, b]);
    }
    const out = await session.run(feeds);
    const blockValues = out.values.data as Float32Array;
    const blockIndices = out.indices.data as BigInt64Array;
    for (let q = 0; q < n; q++) {
      const excluded = exclusions[q];
      const keeper = keepers[q];
      for (let i = q * kb; i < (q + 1) * kb; i++) {
        const id = start + Number(blockIndices[i]);
        if (excluded?.has(id)) continue;
        keeper.offer(rankable(metric === 'euclidean' ? -blockValues[i] : blockValues[i]), id);
      }
    }
  };
  return { score, finish: () => giveScratch(scratch) };
}

/**
 * Scores blocks of an 'f16' matrix with the WebAssembly kernel, in place, for one query (already in `scan`): every
 * row's q·x comes back, turned here into the graph's ranking key (q·x/|x| for cosine, −(|x|² − 2q·x) for euclidean).
 */
function halfKernelScorer(job: ScoringJob, scan: HalfKernelScan, excluded: ReadonlySet<number> | undefined, keeper: BestKeeper): BlockScorer {
  const { norms } = job.matrix;
  const { metric } = job.options;
  const { scores } = scan;
  const score = (start: number, b: number) => {
    scan.scoreRows(start, b);
    for (let i = 0; i < b; i++) {
      const id = start + i;
      const norm = norms[id];
      const qx = scores[i];
      const key = rankable(metric === 'dot' ? qx : metric === 'cosine' ? (norm > 0 ? qx / norm : 0) : 2 * qx - norm * norm);
      if (keeper.accepts(key, id) && !excluded?.has(id)) keeper.offer(key, id);
    }
  };
  return { score, finish: () => undefined };
}
/**
 * Merges the results of searches over disjoint row ranges (one list of per-query results per range) into the best
 * k per query by their exact keys: a sharded search answers exactly what one search over all rows does.
 */
export function mergeRanked(parts: readonly RankedKnnResult[][], k: number, metric: KnnMetric): RankedKnnResult[] {
  const count = parts[0]?.length ?? 0;
  return Array.from({ length: count }, (_, q) => {
    const keeper = new BestKeeper(k);
    for (const part of parts) {
      const { ids, keys } = part[q];
      for (let i = 0; i < ids.length; i++) keeper.offer(keys[i], ids[i]);
    }
    return rankedResult(keeper, metric);
  });
}
