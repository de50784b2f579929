/**
 * `knn` (the reference's common_interpolation with inverse-distance weights): the k nearest anchors of the new token
 * in donor space (Euclidean), weighted by 1 / distance and normalised to sum 1, applied to the anchors' base rows.
 * An anchor at distance 0 takes all the weight (shared equally among such anchors).
 */
import { ModelLensError } from '../../../errors';
import { gatherRows, recipeParts, weightedSum, yieldToEventLoop } from './rows';
import { nearestRows } from './neighbours';
import type { ApproximationTask, MethodControl, MethodOptions, TokenRecipe, TransplantMethod } from './types';

export const DEFAULT_KNN_K = 8;

/** Inverse-distance weights summing to 1; exact matches (distance 0) share all the weight. */
export function inverseDistanceWeights(distances: ArrayLike<number>, count: number): Float64Array {
  const weights = new Float64Array(count);
  let zeros = 0;
  for (let j = 0; j < count; j++) if (distances[j] === 0) zeros++;
  if (zeros > 0) {
    for (let j = 0; j < count; j++) weights[j] = distances[j] === 0 ? 1 / zeros : 0;
    return weights;
  }
  let sum = 0;
  for (let j = 0; j < count; j++) sum += weights[j] = 1 / distances[j];
  for (let j = 0; j < count; j++) weights[j] /= sum;
  return weights;
}

export function knnMethod(options: MethodOptions = {}): TransplantMethod {
  const k = options.knnK ?? DEFAULT_KNN_K;
  return {
    name: 'knn',
    description: `inverse-distance mix of the ${k} nearest anchors in donor space`,
    needsDonorEmbeddings: true,
    async approximate(task: ApproximationTask, control: MethodControl = {}) {
      const { space, anchorDonorIds, anchorBaseIds, targetDonorIds } = task;
      if (!space.donor) {
        throw new ModelLensError('usage', 'the knn method needs the donor\'s embeddings, and the donor folder has none', undefined, 'Use a donor checkpoint with weights, or subword, aux or mean.');
      }
      const targets = targetDonorIds.length;
      const rows = new Float32Array(targets * space.baseDim);
      const anchors = gatherRows(space.donor, space.donorDim, anchorDonorIds);
      const queries = gatherRows(space.donor, space.donorDim, targetDonorIds);
      const found = await nearestRows(anchors, anchorDonorIds.length, space.donorDim, queries, k, 'euclidean', options.workers, {
        signal: control.signal,
        onProgress: (f) => control.onProgress?.(0.9 * f),
      });
      const recipes: TokenRecipe[] | undefined = task.recipes ? [] : undefined;
      const scratch = new Float64Array(space.baseDim);
      const donorToken = (id: number) => task.donorTokenizer.idToToken(id) ?? '';
      for (let t = 0; t < targets; t++) {
        if (t % 512 === 511) {
          await yieldToEventLoop();
          if (control.signal?.aborted) throw new ModelLensError('cancelled', 'the transplant was cancelled');
        }
        const { ids, scores } = found[t];
        const weights = inverseDistanceWeights(scores, ids.length);
        weightedSum(space.base, space.baseDim, Array.from(ids, (a) => anchorBaseIds[a]), weights, ids.length, rows, t, scratch);
        if (recipes) recipes.push({ method: 'knn', partsFrom: 'anchors', ...recipeParts(Array.from(ids, (a) => anchorDonorIds[a]), weights, ids.length, donorToken, task.recipeParts ?? 8) });
      }
      control.onProgress?.(1);
      return { rows, recipes, details: { k } };
    },
  };
}
