/**
 * Messages between `KnnPool` (the server's thread) and `knnWorker` (a worker thread). Matrices cross once, as
 * typed arrays over SharedArrayBuffers (shared, not copied); each search names its matrix by id.
 */
import type { SharedEmbeddingMatrix } from './embeddingMatrix';
import type { KnnKernelSettings, KnnMetric, KnnProgress } from './knn';

export type KnnWorkerRequest =
  | { type: 'configure'; settings: Partial<KnnKernelSettings> }
  | { type: 'matrix'; matrixId: number; matrix: SharedEmbeddingMatrix }
  | { type: 'release'; matrixId: number }
  | {
      type: 'search';
      jobId: number;
      matrixId: number;
      /** [count, dim] query vectors. */
      queries: Float32Array;
      k: number;
      metric: KnnMetric;
      exclude?: (number[] | undefined)[];
      rowRange: [number, number];
      /** Int32Array(1) over a SharedArrayBuffer: claim blocks through it, shared with the search's other parts. */
      claim?: Int32Array;
      /** Int32Array(1) over a SharedArrayBuffer: the pool stores 1 to cancel; checked before every block. */
      cancel: Int32Array;
      /** Least milliseconds between two progress messages (the last block always reports). */
      progressIntervalMs: number;
    };

export interface KnnWorkerError {
  name: string;
  message: string;
  /** A ModelLensError's code and hint, so the pool can rebuild it. */
  code?: string;
  hint?: string;
}

export type KnnWorkerReply =
  | { type: 'progress'; jobId: number; progress: KnnProgress }
  | { type: 'result'; jobId: number; ids: Int32Array[]; scores: Float32Array[]; keys: Float64Array[] }
  | { type: 'error'; jobId: number; error: KnnWorkerError };
