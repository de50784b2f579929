/** Messages between the host (`permutationProbe.ts`) and the permutation worker (`permutationWorker.ts`). */
import type { PermutationProbeOptions, PermutationProbeProgress, PermutationProbeResult } from './permutationEnsemble';
import type { ReproductionOptions, ReproductionResult } from './permutationPreset';

export type PermutationWorkerTask = { kind: 'probe'; options: PermutationProbeOptions } | { kind: 'reproduction'; options: ReproductionOptions };

export interface PermutationWorkerRequest {
  type: 'run';
  jobId: number;
  task: PermutationWorkerTask;
  /** Int32Array over a SharedArrayBuffer: non-zero asks the worker to stop. */
  cancel: Int32Array;
  /** Least milliseconds between two progress messages. */
  progressIntervalMs: number;
  /** ONNX Runtime intra-op threads in the worker (unset: its default). */
  intraOpThreads?: number;
}

export interface PermutationWorkerError {
  name: string;
  message: string;
  code?: string;
  hint?: string;
}

export type PermutationWorkerReply =
  | { type: 'progress'; jobId: number; progress: PermutationProbeProgress }
  | { type: 'result'; jobId: number; result: PermutationProbeResult | ReproductionResult }
  | { type: 'error'; jobId: number; error: PermutationWorkerError };
