/**
 * Find senses by meaning: rank all (word, sense) pairs whose top words include a query word.
 *
 * Scoring every sense of every word against the whole vocabulary would cost V·senses·V·d (about 3·10¹⁶ multiply-adds
 * for backpack-gpt2), so the search screens first and checks exactly after:
 * 1. In batches of words (ONNX Runtime, in the server's Backpack worker thread, with progress and cancellation), compute each sense C and
 *    its z-score for the query, z = (q·C − ē·C)/√(Cᵀ Σ_E C): how many standard deviations the query word's score
 *    stands above the vocabulary's mean score for that sense. Top words are exactly the ones with large z.
 * 2. Keep the best-z pairs as candidates and rank the vocabulary for each exactly (E·C, TopK); report those whose
 *    top `top` words include the query, with the query's rank.
 */
import * as ort from 'onnxruntime-node';
import { ModelLensError } from '../../errors';
import type { BackpackModel } from './backpackModel';
import { buildOnnxModel, int, ints, OnnxType } from '../../kernels/onnxGraph';
import { buildSenseGraph, senseNetworkTensorNames } from './backpackGraph';
import { rankVocabulary, resolveWord } from './senses';

export interface SenseSearchOptions {
  query: string;
  /** How deep in a sense's top list the query may sit (default 20). */
  top?: number;
  /** How many pairs to return at most (default 50). */
  limit?: number;
  /** Words per batch (default 512). */
  batch?: number;
}

export interface SenseSearchHit {
  tokenId: number;
  token: string;
  sense: number;
  /** 1-based rank of the query among the sense's top words. */
  rank: number;
  /** E_q·C(x)_ℓ */
  score: number;
  /** Standard deviations above the vocabulary's mean score. */
  z: number;
}

export interface SenseSearchResult {
  modelId: string;
  query: { id: number; token: string };
  top: number;
  hits: SenseSearchHit[];
  /** Words scanned and candidate pairs checked exactly. */
  wordsScanned: number;
  candidatesChecked: number;
}

export interface SearchControl {
  signal?: AbortSignal;
  onProgress?: (message: string, fraction?: number) => void;
}

const searchSessions = new WeakMap<BackpackModel, Promise<ort.InferenceSession>>();

function searchSession(backpack: BackpackModel): Promise<ort.InferenceSession> {
  let session = searchSessions.get(backpack);
  if (!session) {
    session = ort.InferenceSession.create(buildSenseGraph(backpack.config, { screen: true }), { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 });
    searchSessions.set(backpack, session);
  }
  return session;
}

/** Mean [d] and covariance [d, d] of E's rows, computed once per model in ONNX Runtime (a [d, V]·[V, d] product). */
const embeddingMoments = new WeakMap<BackpackModel, Promise<{ mean: Float32Array; covariance: Float32Array }>>();

let momentsSession: Promise<ort.InferenceSession> | undefined;

function moments(backpack: BackpackModel): Promise<{ mean: Float32Array; covariance: Float32Array }> {
  let cached = embeddingMoments.get(backpack);
  if (!cached) {
    cached = (async () => {
      const { vocabSize: V, hidden: d } = backpack.config;
      momentsSession ??= ort.InferenceSession.create(
        buildOnnxModel({
          name: 'embedding-moments',
          inputs: [
            { name: 'embedding', type: OnnxType.float, dims: ['v', 'd'] },
            { name: 'inverse_count', type: OnnxType.float, dims: [] },
          ],
          outputs: [
            { name: 'mean', type: OnnxType.float, dims: ['d'] },
            { name: 'covariance', type: OnnxType.float, dims: ['d', 'd'] },
          ],
          nodes: [
            { op: 'ReduceMean', inputs: ['embedding'], outputs: ['mean'], attributes: { axes: ints([0]), keepdims: int(0) } },
            { op: 'Sub', inputs: ['embedding', 'mean'], outputs: ['centred'] },
            { op: 'Gemm', inputs: ['centred', 'centred'], outputs: ['scatter'], attributes: { transA: int(1) } },
            { op: 'Mul', inputs: ['scatter', 'inverse_count'], outputs: ['covariance'] },
          ],
        }),
        { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 },
      );
      const out = await (await momentsSession).run({
        embedding: new ort.Tensor('float32', backpack.embedding, [V, d]),
        inverse_count: new ort.Tensor('float32', Float32Array.of(1 / V), []),
      });
      return { mean: out.mean.data as Float32Array, covariance: out.covariance.data as Float32Array };
    })();
    cached.catch(() => embeddingMoments.delete(backpack));
    embeddingMoments.set(backpack, cached);
  }
  return cached;
}

/** The `capacity` highest z seen so far: a min-heap, so each offer costs O(log capacity) at most. */
class BestScores {
  private readonly heap: { pair: number; z: number; raw: number }[] = [];

  constructor(private readonly capacity: number) {}

  offer(pair: number, z: number, raw: number): void {
    const heap = this.heap;
    if (heap.length === this.capacity) {
      if (!(z > heap[0].z)) return;
      heap[0] = { pair, z, raw };
      this.siftDown(0);
      return;
    }
    heap.push({ pair, z, raw });
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (heap[parent].z <= heap[i].z) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left].z < heap[smallest].z) smallest = left;
      if (right < heap.length && heap[right].z < heap[smallest].z) smallest = right;
      if (smallest === i) return;
      [heap[smallest], heap[i]] = [heap[i], heap[smallest]];
      i = smallest;
    }
  }

  /** Highest z first. */
  sorted(): { pair: number; z: number; raw: number }[] {
    return [...this.heap].sort((a, b) => b.z - a.z);
  }
}

export async function searchSenses(backpack: BackpackModel, options: SenseSearchOptions, control: SearchControl = {}): Promise<SenseSearchResult> {
  const { vocabSize: V, hidden: d, senses: S } = backpack.config;
  const top = options.top ?? 20;
  const limit = options.limit ?? 50;
  const batch = options.batch ?? 512;
  const queryId = resolveWord(backpack, options.query);
  const session = await searchSession(backpack);
  const feeds = backpack.senseNetworkFeeds(senseNetworkTensorNames(backpack.config));
  const { mean, covariance } = await moments(backpack);
  feeds.query = new ort.Tensor('float32', backpack.embedding.slice(queryId * d, (queryId + 1) * d), [d]);
  feeds.mean = new ort.Tensor('float32', mean, [d]);
  feeds.covariance = new ort.Tensor('float32', covariance, [d, d]);

  // 1. Screen every pair by z, batch by batch, keeping only the best few (never a sort of all V·senses pairs).
  const candidateCount = Math.min(V * S, Math.max(limit * 8, 256));
  const best = new BestScores(candidateCount);
  for (let first = 0; first < V; first += batch) {
    if (control.signal?.aborted) throw new ModelLensError('cancelled', 'Sense search was cancelled.');
    const count = Math.min(batch, V - first);
    const ids = new BigInt64Array(count);
    for (let i = 0; i < count; i++) ids[i] = BigInt(first + i);
    const out = await session.run({ ...feeds, token_ids: new ort.Tensor('int64', ids, [count]) });
    const zBatch = out.z.data as Float32Array;
    const rawBatch = out.raw.data as Float32Array;
    for (let i = 0; i < zBatch.length; i++) best.offer(first * S + i, zBatch[i], rawBatch[i]);
    control.onProgress?.(`screened ${first + count} of ${V} words`, (0.8 * (first + count)) / V);
  }
  const screened = best.sorted();
  const order = screened.map((entry) => entry.pair);
  const z = new Map(screened.map((entry) => [entry.pair, entry.z]));
  const raw = new Map(screened.map((entry) => [entry.pair, entry.raw]));

  // 2. Check the candidates exactly, in batches of whole words' senses.
  const hits: SenseSearchHit[] = [];
  const chunk = 64;
  for (let c = 0; c < order.length; c += chunk) {
    if (control.signal?.aborted) throw new ModelLensError('cancelled', 'Sense search was cancelled.');
    const pairs = order.slice(c, c + chunk);
    const words = [...new Set(pairs.map((p) => Math.floor(p / S)))];
    const vectors = await backpack.senseVectors(words);
    const wanted = new Float32Array(pairs.length * d);
    pairs.forEach((p, i) => {
      const w = words.indexOf(Math.floor(p / S));
      wanted.set(vectors.subarray((w * S + (p % S)) * d, (w * S + (p % S) + 1) * d), i * d);
    });
    const ranked = await rankVocabulary(backpack, wanted, top);
    pairs.forEach((p, i) => {
      for (let r = 0; r < ranked.k; r++) {
        if (Number(ranked.topIds[i * ranked.k + r]) === queryId) {
          const tokenId = Math.floor(p / S);
          hits.push({ tokenId, token: backpack.tokenText(tokenId), sense: p % S, rank: r + 1, score: raw.get(p)!, z: z.get(p)! });
          break;
        }
      }
    });
    control.onProgress?.(`checked ${Math.min(c + chunk, order.length)} of ${order.length} candidate senses`, 0.8 + (0.2 * Math.min(c + chunk, order.length)) / order.length);
  }
  hits.sort((a, b) => a.rank - b.rank || b.z - a.z);
  return {
    modelId: backpack.model.id,
    query: { id: queryId, token: backpack.tokenText(queryId) },
    top,
    hits: hits.slice(0, limit),
    wordsScanned: V,
    candidatesChecked: order.length,
  };
}
