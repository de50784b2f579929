/**
 * Nearest neighbours in a model's vocabulary: by token, id, text (the mean of its tokens) or analogy (a − b + c),
 * with the edges among the neighbours that the graph view draws. The search itself runs in the kNN worker pool.
 */
import { ModelLensError } from '../../errors';
import type { EmbeddingMatrix } from '../../kernels/embeddingMatrix';
import type { KnnMetric } from '../../kernels/knn';
import type { OpenedModel } from '../../registry/types';
import type { TokenizerHandle } from '../../tokenization/tokenizer';
import type { EmbeddingIndex, EmbeddingSpace, LoadProgress } from './embeddingIndex';

export type QueryKind = 'token' | 'id' | 'text' | 'analogy';

export interface NeighbourQuery {
  kind: 'token' | 'id' | 'text';
  value: string;
}

export interface NeighbourOptions {
  k: number;
  metric: KnnMetric;
  space: EmbeddingSpace;
}

export interface Neighbour {
  id: number;
  token: string;
  /** Cosine or dot similarity (higher is closer), or euclidean distance (lower is closer). */
  score: number;
}

export interface NeighbourEdge {
  source: number;
  target: number;
  score: number;
}

export interface NeighbourhoodResult {
  model: { id: string; name: string };
  query: { label: string; id?: number; kind: QueryKind };
  k: number;
  metric: KnnMetric;
  space: EmbeddingSpace;
  neighbours: Neighbour[];
  /** Pairs of neighbours at least as close to each other as the farthest neighbour is to the query. */
  edges: NeighbourEdge[];
  threshold: number;
}

export interface Control {
  signal?: AbortSignal;
  onProgress?: (message: string, fraction?: number) => void;
}

export const MAX_K = 200;

export function checkOptions(options: NeighbourOptions): void {
  if (!Number.isInteger(options.k) || options.k < 1 || options.k > MAX_K) {
    throw new ModelLensError('usage', `k must be a whole number from 1 to ${MAX_K}, not ${options.k}.`);
  }
  if (!['cosine', 'dot', 'euclidean'].includes(options.metric)) throw new ModelLensError('usage', `unknown metric "${options.metric}"; use cosine, dot or euclidean.`);
  if (!['input', 'output'].includes(options.space)) throw new ModelLensError('usage', `unknown space "${options.space}"; use input or output.`);
}

function requireTokenizer(model: OpenedModel): TokenizerHandle {
  if (!model.tokenizer) throw new ModelLensError('usage', 'has no tokenizer or word list to name tokens with.', model.path);
  return model.tokenizer;
}

/** A token by its vocabulary string, trying the word-start forms (Ġword, ▁word) a person usually means. */
export function resolveToken(tokenizer: TokenizerHandle, value: string): number | undefined {
  for (const candidate of [value, `Ġ${value}`, `▁${value}`, value.toLowerCase()]) {
    const id = tokenizer.tokenToId(candidate);
    if (id !== undefined && id >= 0) return id;
  }
  const pieces = tokenizer.tokenize(value).filter((token) => !token.special && token.id >= 0);
  return pieces.length === 1 ? pieces[0].id : undefined;
}

export function tokenLabel(tokenizer: TokenizerHandle, id: number): string {
  return tokenizer.idToToken(id) ?? `#${id}`;
}

function checkRow(matrix: EmbeddingMatrix, id: number, model: OpenedModel): void {
  if (!Number.isInteger(id) || id < 0 || id >= matrix.rows) {
    throw new ModelLensError('usage', `id ${id} is outside the embedding (${matrix.rows} rows).`, model.path);
  }
}

/** The query vector, the ids to leave out of the results, and how to label the query. */
function queryVector(model: OpenedModel, matrix: EmbeddingMatrix, query: NeighbourQuery) {
  const tokenizer = requireTokenizer(model);
  if (query.kind === 'id') {
    const id = Number(query.value);
    checkRow(matrix, id, model);
    return { vector: matrix.getRow(id), exclude: [id], label: tokenLabel(tokenizer, id), id };
  }
  if (query.kind === 'token') {
    const id = resolveToken(tokenizer, query.value);
    if (id === undefined) {
      throw new ModelLensError('not-found', `"${query.value}" is not a single token of ${model.name}.`, undefined, 'Search by text to use the mean of its tokens.');
    }
    checkRow(matrix, id, model);
    return { vector: matrix.getRow(id), exclude: [id], label: tokenLabel(tokenizer, id), id };
  }
  const ids = tokenizer
    .tokenize(query.value)
    .filter((token) => !token.special && token.id >= 0 && token.id < matrix.rows)
    .map((token) => token.id);
  if (ids.length === 0) throw new ModelLensError('usage', `"${query.value}" has no tokens in the vocabulary of ${model.name}.`);
  return { vector: matrix.meanOfRows(ids), exclude: ids.length === 1 ? ids : [], label: query.value, id: ids.length === 1 ? ids[0] : undefined };
}

function similarity(a: Float32Array, b: Float32Array, metric: KnnMetric): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (metric === 'dot') return dot;
  if (metric === 'cosine') return aa === 0 || bb === 0 ? 0 : dot / Math.sqrt(aa * bb);
  return Math.sqrt(Math.max(0, aa + bb - 2 * dot));
}

/** Edges among neighbours that are at least as close to each other as the farthest neighbour is to the query. */
export function neighbourEdges(matrix: EmbeddingMatrix, neighbours: Neighbour[], metric: KnnMetric): { edges: NeighbourEdge[]; threshold: number } {
  if (neighbours.length < 2) return { edges: [], threshold: 0 };
  const threshold = neighbours[neighbours.length - 1].score;
  const rows = neighbours.map((neighbour) => matrix.getRow(neighbour.id));
  const edges: NeighbourEdge[] = [];
  for (let i = 0; i < neighbours.length; i++) {
    for (let j = i + 1; j < neighbours.length; j++) {
      const score = similarity(rows[i], rows[j], metric);
      const close = metric === 'euclidean' ? score <= threshold : score >= threshold;
      if (close) edges.push({ source: neighbours[i].id, target: neighbours[j].id, score });
    }
  }
  return { edges, threshold };
}

async function search(
  index: EmbeddingIndex,
  model: OpenedModel,
  options: NeighbourOptions,
  control: Control,
  build: (matrix: EmbeddingMatrix) => { vector: Float32Array; exclude: number[]; label: string; id?: number; kind: QueryKind },
): Promise<NeighbourhoodResult> {
  checkOptions(options);
  const loading = (progress: LoadProgress) => control.onProgress?.(`loading ${model.name} ${options.space} embedding`, progress.rowsDone / progress.rows);
  const matrix = await index.matrix(model, options.space, loading, control.signal);
  const query = build(matrix);
  const [result] = await index.pool.search(matrix, query.vector, { k: options.k, metric: options.metric, exclude: [query.exclude] }, {
    signal: control.signal,
    onProgress: (progress) => control.onProgress?.('searching', progress.rowsDone / progress.rows),
  });
  const tokenizer = requireTokenizer(model);
  const neighbours = Array.from(result.ids, (id, rank) => ({ id, token: tokenLabel(tokenizer, id), score: result.scores[rank] }));
  return {
    model: { id: model.id, name: model.name },
    query: { label: query.label, id: query.id, kind: query.kind },
    k: options.k,
    metric: options.metric,
    space: options.space,
    neighbours,
    ...neighbourEdges(matrix, neighbours, options.metric),
  };
}

export function findNeighbours(index: EmbeddingIndex, model: OpenedModel, query: NeighbourQuery, options: NeighbourOptions, control: Control = {}): Promise<NeighbourhoodResult> {
  return search(index, model, options, control, (matrix) => ({ ...queryVector(model, matrix, query), kind: query.kind }));
}

/** a − b + c: "king − man + woman". The three inputs are left out of the results. */
export function findAnalogy(
  index: EmbeddingIndex,
  model: OpenedModel,
  words: { a: string; b: string; c: string },
  options: NeighbourOptions,
  control: Control = {},
): Promise<NeighbourhoodResult> {
  return search(index, model, options, control, (matrix) => {
    const tokenizer = requireTokenizer(model);
    const ids = [words.a, words.b, words.c].map((word) => {
      const id = resolveToken(tokenizer, word);
      if (id === undefined || id >= matrix.rows) throw new ModelLensError('not-found', `"${word}" is not a single token of ${model.name}.`);
      return id;
    });
    const vector = matrix.weightedSumOfRows(ids, [1, -1, 1]);
    return { vector, exclude: ids, label: `${words.a} − ${words.b} + ${words.c}`, kind: 'analogy' };
  });
}
