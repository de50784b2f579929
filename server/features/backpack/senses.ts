/**
 * Looking at senses (REFERENCES §2): each sense vector C(x)_ℓ scores every vocabulary item by the raw dot product
 * E·C(x)_ℓ; its top and bottom words say what it does. Senses are computed on demand for the words asked about,
 * never for the whole vocabulary, and the [n·senses, V] scores never leave ONNX Runtime: a Gemm and two TopK nodes
 * return only the k best and worst.
 */
import * as ort from 'onnxruntime-node';
import { notFound } from '../../errors';
import { buildOnnxModel, int, OnnxType } from '../../kernels/onnxGraph';
import type { BackpackModel } from './backpackModel';

export interface ScoredWord {
  id: number;
  token: string;
  score: number;
}

export interface SenseWords {
  sense: number;
  top: ScoredWord[];
  bottom: ScoredWord[];
  /** Norm of the (edited) sense vector. */
  norm: number;
  /** True when an edit changes this sense (a delta, or a contribution scale other than 1). */
  edited: boolean;
  /** The contribution scale (α scaling) on this sense, 1 when unedited. */
  scale: number;
}

export interface WordSenses {
  modelId: string;
  tokenId: number;
  token: string;
  senses: SenseWords[];
}

let scoringSession: Promise<ort.InferenceSession> | undefined;

/** vectors [m, d] · Eᵀ → the k highest and k lowest scores per row, with their ids. */
function senseScoringSession(): Promise<ort.InferenceSession> {
  scoringSession ??= ort.InferenceSession.create(
    buildOnnxModel({
      name: 'sense-scores',
      inputs: [
        { name: 'vectors', type: OnnxType.float, dims: ['m', 'd'] },
        { name: 'embedding', type: OnnxType.float, dims: ['v', 'd'] },
        { name: 'k', type: OnnxType.int64, dims: [1] },
      ],
      outputs: [
        { name: 'top_values', type: OnnxType.float, dims: ['m', 'k'] },
        { name: 'top_ids', type: OnnxType.int64, dims: ['m', 'k'] },
        { name: 'bottom_values', type: OnnxType.float, dims: ['m', 'k'] },
        { name: 'bottom_ids', type: OnnxType.int64, dims: ['m', 'k'] },
      ],
      nodes: [
        { op: 'Gemm', inputs: ['vectors', 'embedding'], outputs: ['scores'], attributes: { transB: int(1) } },
        { op: 'TopK', inputs: ['scores', 'k'], outputs: ['top_values', 'top_ids'], attributes: { axis: int(-1), largest: int(1), sorted: int(1) } },
        { op: 'TopK', inputs: ['scores', 'k'], outputs: ['bottom_values', 'bottom_ids'], attributes: { axis: int(-1), largest: int(0), sorted: int(1) } },
      ],
    }),
    { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 },
  );
  return scoringSession;
}

export interface RankedRows {
  topValues: Float32Array;
  topIds: BigInt64Array;
  bottomValues: Float32Array;
  bottomIds: BigInt64Array;
  k: number;
}

/** The k highest and lowest E·v for each row v of `vectors` ([m, d]). */
export async function rankVocabulary(backpack: BackpackModel, vectors: Float32Array, k: number): Promise<RankedRows> {
  const { hidden: d, vocabSize } = backpack.config;
  const kk = Math.max(1, Math.min(k, vocabSize));
  const session = await senseScoringSession();
  const out = await session.run({
    vectors: new ort.Tensor('float32', vectors, [vectors.length / d, d]),
    embedding: new ort.Tensor('float32', backpack.embedding, [vocabSize, d]),
    k: new ort.Tensor('int64', BigInt64Array.of(BigInt(kk)), [1]),
  });
  return {
    topValues: out.top_values.data as Float32Array,
    topIds: out.top_ids.data as BigInt64Array,
    bottomValues: out.bottom_values.data as Float32Array,
    bottomIds: out.bottom_ids.data as BigInt64Array,
    k: kk,
  };
}

/** A word's token id: an exact vocabulary entry ("Ġking"), or text that encodes to exactly one token (" king"). */
export function resolveWord(backpack: BackpackModel, word: string): number {
  const direct = backpack.tokenizer.tokenToId(word);
  if (direct !== undefined) return direct;
  for (const candidate of [word, ` ${word.trimStart()}`]) {
    const ids = backpack.tokenizer.tokenize(candidate).map((t) => t.id);
    if (ids.length === 1) return ids[0];
  }
  const pieces = backpack.tokenizer.tokenize(word).map((t) => JSON.stringify(t.text));
  throw notFound(
    backpack.model.path,
    `"${word}" is not one token in this Backpack's vocabulary (it splits into ${pieces.join(' ')}).`,
    'Senses belong to single tokens: pick one of its pieces, or the word with a leading space (" word").',
  );
}

/** The senses of one word, each with its top and bottom `top` words. */
export async function senseTopWords(backpack: BackpackModel, tokenId: number, top = 20): Promise<WordSenses> {
  const { senses: S, hidden: d } = backpack.config;
  const vectors = await backpack.senseVectors([tokenId]);
  const ranked = await rankVocabulary(backpack, vectors, top);
  const words = (values: Float32Array, ids: BigInt64Array, row: number): ScoredWord[] =>
    Array.from({ length: ranked.k }, (_, r) => {
      const id = Number(ids[row * ranked.k + r]);
      return { id, token: backpack.tokenText(id), score: values[row * ranked.k + r] };
    });
  const senses: SenseWords[] = [];
  for (let l = 0; l < S; l++) {
    let norm = 0;
    for (let k = 0; k < d; k++) norm += vectors[l * d + k] ** 2;
    const scale = backpack.edits?.contributionScale(tokenId, l) ?? 1;
    const delta = backpack.edits?.delta(tokenId, l);
    senses.push({
      sense: l,
      top: words(ranked.topValues, ranked.topIds, l),
      bottom: words(ranked.bottomValues, ranked.bottomIds, l),
      norm: Math.sqrt(norm),
      edited: scale !== 1 || (delta?.some((v) => v !== 0) ?? false),
      scale,
    });
  }
  return { modelId: backpack.model.id, tokenId, token: backpack.tokenText(tokenId), senses };
}

/** One line for a hover: the strongest top word of each of the senses with the largest top scores. */
export function senseSummary(result: WordSenses, senses = 6): string {
  const strongest = [...result.senses].sort((a, b) => (b.top[0]?.score ?? 0) - (a.top[0]?.score ?? 0)).slice(0, senses);
  return strongest.map((s) => `${s.sense}: ${s.top.slice(0, 2).map((w) => JSON.stringify(w.token)).join(', ')}`).join(' · ');
}
