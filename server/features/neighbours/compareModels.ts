/**
 * Two models side by side: the neighbours of one token in each, their overlap (Jaccard@k over the tokens' visible
 * text, so Llama's "Ġqueen" and Gemma's "▁queen" count as the same), and the shared tokens whose neighbourhoods
 * differ most.
 */
import { ModelLensError } from '../../errors';
import type { KnnMetric } from '../../kernels/knn';
import type { OpenedModel } from '../../registry/types';
import { showPiece } from '../../tokenization/display';
import type { EmbeddingIndex, EmbeddingSpace } from './embeddingIndex';
import { findNeighbours, resolveToken, tokenLabel, type Control, type Neighbour } from './neighbours';

export interface CompareRequest {
  token: string;
  k: number;
  metric: KnnMetric;
  space: EmbeddingSpace;
  /** How many shared tokens to sample for the "differ most" table (default 200). */
  sample?: number;
}

export interface CompareResult {
  token: string;
  k: number;
  left: { model: { id: string; name: string }; neighbours: Neighbour[] };
  right: { model: { id: string; name: string }; neighbours: Neighbour[] };
  jaccard: number;
  mostDifferent: { token: string; jaccard: number }[];
}

/** The text a person sees for a piece, used to match tokens across vocabularies. */
export const comparableText = (piece: string) => showPiece(piece).replace(/^·/, ' ').trim().toLowerCase();

export function jaccard(left: readonly string[], right: readonly string[]): number {
  const a = new Set(left);
  const b = new Set(right);
  let shared = 0;
  for (const item of a) if (b.has(item)) shared++;
  const union = a.size + b.size - shared;
  return union === 0 ? 1 : shared / union;
}

/** Word-like tokens present in both vocabularies (by visible text), sampled evenly and deterministically. */
function sharedTokens(left: OpenedModel, right: OpenedModel, count: number): string[] {
  const leftTokenizer = left.tokenizer!;
  const words: string[] = [];
  const size = leftTokenizer.facts.vocabSize;
  const stride = Math.max(1, Math.floor(size / (count * 20)));
  for (let id = 0; id < size && words.length < count; id += stride) {
    const piece = leftTokenizer.idToToken(id);
    if (!piece || leftTokenizer.isSpecial(id)) continue;
    const text = comparableText(piece);
    if (!/^[\p{L}]{3,}$/u.test(text)) continue;
    if (resolveToken(right.tokenizer!, text) !== undefined && resolveToken(left.tokenizer!, text) !== undefined) words.push(text);
  }
  return [...new Set(words)];
}

export async function compareModels(index: EmbeddingIndex, left: OpenedModel, right: OpenedModel, request: CompareRequest, control: Control = {}): Promise<CompareResult> {
  if (!left.tokenizer || !right.tokenizer) throw new ModelLensError('usage', 'both models need a tokenizer or word list to compare.');
  const options = { k: request.k, metric: request.metric, space: request.space };
  const [a, b] = await Promise.all([
    findNeighbours(index, left, { kind: 'token', value: request.token }, options, control),
    findNeighbours(index, right, { kind: 'token', value: request.token }, options, control),
  ]);
  const texts = (neighbours: Neighbour[]) => neighbours.map((neighbour) => comparableText(neighbour.token));

  const mostDifferent: { token: string; jaccard: number }[] = [];
  const candidates = sharedTokens(left, right, request.sample ?? 200);
  for (const [position, token] of candidates.entries()) {
    if (control.signal?.aborted) throw new ModelLensError('cancelled', 'the comparison was cancelled.');
    control.onProgress?.(`comparing neighbourhoods (${position + 1}/${candidates.length})`, position / candidates.length);
    const [x, y] = await Promise.all([
      findNeighbours(index, left, { kind: 'token', value: token }, options, { signal: control.signal }),
      findNeighbours(index, right, { kind: 'token', value: token }, options, { signal: control.signal }),
    ]);
    mostDifferent.push({ token, jaccard: jaccard(texts(x.neighbours), texts(y.neighbours)) });
  }
  mostDifferent.sort((p, q) => p.jaccard - q.jaccard || p.token.localeCompare(q.token));
  return {
    token: a.query.label ? comparableText(tokenLabel(left.tokenizer, a.query.id ?? -1)) || request.token : request.token,
    k: request.k,
    left: { model: a.model, neighbours: a.neighbours },
    right: { model: b.model, neighbours: b.neighbours },
    jaccard: jaccard(texts(a.neighbours), texts(b.neighbours)),
    mostDifferent: mostDifferent.slice(0, 20),
  };
}
