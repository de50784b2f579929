/**
 * Messages between `ompPool.ts` and `ompWorker.ts`. Every big array travels as a SharedArrayBuffer view: the
 * dictionary, the targets, the atom norms, the Gram cache and the outputs are one copy that every thread sees.
 */
import type { OmpOutput, OmpStats, ResolvedOmpOptions, SharedGramCache } from './batchOmp';
import type { OmpKernelSettings } from './ompKernels';

export interface OmpWorkerInit {
  type: 'init';
  dictionary: Float32Array;
  /** Copy the dictionary into the worker's own memory (faster products, one more copy per worker). */
  privateCopy: boolean;
  atoms: number;
  dim: number;
  targets: Float32Array;
  norms: Float32Array;
  options: ResolvedOmpOptions;
  kernels: Partial<OmpKernelSettings>;
  cache?: SharedGramCache;
  output: OmpOutput;
  /** [0] becomes non-zero when the run is cancelled. */
  cancel: Int32Array;
}

export interface OmpWorkerSolve {
  type: 'solve';
  first: number;
  last: number;
}

/** Fill the Gram cache with the columns of atoms [first, last). */
export interface OmpWorkerGram {
  type: 'gram';
  first: number;
  last: number;
}

/** Finish (or abandon, once cancelled) the queued work, release the ONNX Runtime sessions and let the thread end. */
export interface OmpWorkerClose {
  type: 'close';
}

export type OmpWorkerRequest = OmpWorkerInit | OmpWorkerSolve | OmpWorkerGram | OmpWorkerClose;

export interface OmpWorkerErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  hint?: string;
}

export type OmpWorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; targets: number }
  | { type: 'solved'; first: number; last: number; stats: OmpStats }
  | { type: 'gram-done'; first: number; last: number; computed: number }
  | { type: 'error'; error: OmpWorkerErrorInfo };
