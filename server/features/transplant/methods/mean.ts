/** `mean`: every new token gets the mean of all base rows (the reference's baseline). */
import { meanRow } from './rows';
import type { ApproximationTask, TransplantMethod } from './types';

export function meanMethod(): TransplantMethod {
  return {
    name: 'mean',
    description: 'mean of all base rows for every new token',
    needsDonorEmbeddings: false,
    async approximate(task: ApproximationTask) {
      const { space } = task;
      const mean = meanRow(space.base, space.baseRows, space.baseDim, task.excludedBaseIds);
      const rows = new Float32Array(task.targetDonorIds.length * space.baseDim);
      for (let t = 0; t < task.targetDonorIds.length; t++) rows.set(mean, t * space.baseDim);
      return { rows, recipes: task.recipes ? Array.from(task.targetDonorIds, () => ({ method: 'mean' as const })) : undefined };
    },
  };
}
