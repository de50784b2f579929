/** `zero`: every new token gets the zero vector (a baseline; the reference offers it too). */
import type { ApproximationTask, TransplantMethod } from './types';

export function zeroMethod(): TransplantMethod {
  return {
    name: 'zero',
    description: 'zero vector for every new token',
    needsDonorEmbeddings: false,
    async approximate(task: ApproximationTask) {
      const rows = new Float32Array(task.targetDonorIds.length * task.space.baseDim);
      return { rows, recipes: task.recipes ? Array.from(task.targetDonorIds, () => ({ method: 'zero' as const })) : undefined };
    },
  };
}
