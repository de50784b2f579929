/**
 * `omp` (the default), after "Training-Free Tokenizer Transplantation via Orthogonal Matching Pursuit":
 * 1. in donor space, approximate the new token's donor row as a k-sparse combination of the anchors' donor rows,
 *    D[t] ≈ Σ c_i · D[a_i] (Batch-OMP, kernels/batchOmp.ts, in worker threads);
 * 2. apply the same coefficients to the anchors' base rows: B'[t] = Σ c_i · B[a_i].
 * Only coefficients cross over, so the two hidden sizes may differ.
 */
import { ModelLensError } from '../../../errors';
import { DEFAULT_OMP_K } from '../../../kernels/batchOmp';
import { batchOmp } from '../../../kernels/ompPool';
import { gatherRows, recipeParts, weightedSum, yieldToEventLoop } from './rows';
import type { ApproximationTask, MethodControl, MethodOptions, TokenRecipe, TransplantMethod } from './types';

export function ompMethod(options: MethodOptions = {}): TransplantMethod {
  const k = options.k ?? DEFAULT_OMP_K;
  return {
    name: 'omp',
    description: `orthogonal matching pursuit over the anchors in donor space, k = ${k}${options.normalizeAtoms ? ', unit atoms' : ''}`,
    needsDonorEmbeddings: true,
    async approximate(task: ApproximationTask, control: MethodControl = {}) {
      const { space, anchorDonorIds, anchorBaseIds, targetDonorIds } = task;
      if (!space.donor) {
        throw new ModelLensError('usage', 'the omp method needs the donor\'s embeddings, and the donor folder has none', undefined, 'Use a donor checkpoint with weights, or a method that needs only its tokenizer (subword, aux, mean).');
      }
      const targets = targetDonorIds.length;
      const baseDim = space.baseDim;
      const rows = new Float32Array(targets * baseDim);
      if (targets === 0) return { rows, recipes: task.recipes ? [] : undefined };
      const dictionary = gatherRows(space.donor, space.donorDim, anchorDonorIds, true);
      const queries = gatherRows(space.donor, space.donorDim, targetDonorIds, true);
      const result = await batchOmp(
        dictionary,
        anchorDonorIds.length,
        space.donorDim,
        queries,
        targets,
        { k, normalizeAtoms: options.normalizeAtoms, route: options.ompRoute, workers: options.workers },
        { signal: control.signal, onProgress: (p) => control.onProgress?.((0.95 * p.done) / p.total) },
      );
      const baseRows = new Int32Array(result.k);
      const scratch = new Float64Array(baseDim);
      const recipes: TokenRecipe[] | undefined = task.recipes ? [] : undefined;
      const limit = task.recipeParts ?? 8;
      const donorToken = (id: number) => task.donorTokenizer.idToToken(id) ?? '';
      for (let t = 0; t < targets; t++) {
        if (t % 512 === 511) {
          await yieldToEventLoop();
          if (control.signal?.aborted) throw new ModelLensError('cancelled', 'the transplant was cancelled');
        }
        const size = result.sizes[t];
        const atoms = result.atoms.subarray(t * result.k, t * result.k + size);
        const coefficients = result.coefficients.subarray(t * result.k, t * result.k + size);
        for (let j = 0; j < size; j++) baseRows[j] = anchorBaseIds[atoms[j]];
        weightedSum(space.base, baseDim, baseRows, coefficients, size, rows, t, scratch);
        if (recipes) {
          const donorIds = Array.from(atoms, (a) => anchorDonorIds[a]);
          recipes.push({
            method: 'omp',
            partsFrom: 'anchors',
            ...recipeParts(donorIds, coefficients, size, donorToken, limit),
            residual: Math.fround(result.relativeResiduals[t]),
            ...(size === 0 ? { note: 'the donor row is zero' } : {}),
          });
        }
      }
      control.onProgress?.(1);
      return { rows, recipes, details: { k, ...result.stats } };
    },
  };
}
