/**
 * Which (word, sense) pairs drive a Backpack's prediction. The output at position i is Σ_ℓ Σ_j α[ℓ,i,j]·C(x_j)_ℓ, so
 * the logit of a token y splits exactly into contributions α[ℓ,i,j]·(E_y·C(x_j)_ℓ), one per source position j ≤ i and
 * sense ℓ (times the contribution scale of an α edit). The heat map is α[·, i, ·]; the table lists the largest
 * contributions to the predicted (or chosen) token's logit.
 */
import { ModelLensError } from '../../errors';
import { softmaxInPlace, topIndices } from '../../kernels/linalg';
import type { BackpackModel } from './backpackModel';
import { resolveWord } from './senses';

export interface ExplainOptions {
  text: string;
  /** Position whose next-token prediction to explain (0-based token index; default the last). */
  position?: number;
  /** A token to explain instead of the top prediction. */
  target?: string;
  /** Number of contributions to list (default 20). */
  top?: number;
}

export interface PredictionExplanation {
  modelId: string;
  tokens: { id: number; text: string }[];
  position: number;
  /** The 10 most likely next tokens at `position`. */
  predictions: { id: number; token: string; probability: number; logit: number }[];
  /** The token whose logit is decomposed. */
  target: { id: number; token: string; probability: number; logit: number };
  /** α[ℓ][j] for the explained position: senses × source positions 0…position. */
  alpha: number[][];
  /** The largest |α·(E_y·C)| terms; they sum (over all terms) to the target's logit. */
  contributions: { position: number; tokenId: number; token: string; sense: number; alpha: number; senseScore: number; contribution: number }[];
  /** Σ of every term, equal to the target's logit up to rounding. */
  total: number;
}

export async function explainPrediction(backpack: BackpackModel, options: ExplainOptions): Promise<PredictionExplanation> {
  const ids = backpack.tokenizer.tokenize(options.text).map((t) => t.id).slice(0, backpack.config.positions);
  if (ids.length === 0) throw new ModelLensError('usage', 'there is no text to explain: give a prompt of at least one token.');
  const position = options.position ?? ids.length - 1;
  if (!Number.isInteger(position) || position < 0 || position >= ids.length) throw new ModelLensError('usage', `position ${position} is outside the prompt's ${ids.length} tokens.`);
  const { senses: S, hidden: d, vocabSize: V } = backpack.config;
  const s = ids.length;
  const out = await backpack.forward([ids]);
  const logits = out.logits.slice(position * V, (position + 1) * V);
  const probabilities = softmaxInPlace(Float32Array.from(logits));
  const order = topIndices(probabilities, 10);
  const targetId = options.target !== undefined ? resolveWord(backpack, options.target) : order[0];
  const embeddingRow = backpack.embedding.subarray(targetId * d, (targetId + 1) * d);

  const alpha: number[][] = [];
  const terms: PredictionExplanation['contributions'] = [];
  let total = 0;
  for (let l = 0; l < S; l++) {
    const row: number[] = [];
    for (let j = 0; j <= position; j++) {
      const a = out.contextualization[(l * s + position) * s + j];
      row.push(a);
      let score = 0;
      const offset = (l * s + j) * d;
      for (let k = 0; k < d; k++) score += embeddingRow[k] * out.senses[offset + k];
      const contribution = a * (backpack.edits?.contributionScale(ids[j], l) ?? 1) * score;
      total += contribution;
      terms.push({ position: j, tokenId: ids[j], token: backpack.tokenText(ids[j]), sense: l, alpha: a, senseScore: score, contribution });
    }
    alpha.push(row);
  }
  terms.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
  const word = (id: number) => ({ id, token: backpack.tokenText(id), probability: probabilities[id], logit: logits[id] });
  return {
    modelId: backpack.model.id,
    tokens: ids.map((id) => ({ id, text: backpack.tokenText(id) })),
    position,
    predictions: order.map(word),
    target: word(targetId),
    alpha,
    contributions: terms.slice(0, options.top ?? 20),
    total,
  };
}
