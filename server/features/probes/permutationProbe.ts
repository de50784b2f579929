/**
 * The permutation probe's public API for the server and the CLI.
 *
 * - `permutationTheory(k, options)`: closed-form kernels, GP, margins and ensemble sizes; instant, any thread.
 * - `runPermutationProbe(options, { onProgress, signal })`: an empirical ensemble, trained and evaluated in a worker
 *   thread (so the server's event loop stays free), with progress and cancellation.
 * - `runPermutationReproduction(options, { onProgress, signal })`: the experiment-1 reproduction preset, likewise.
 *
 * Each run starts its own worker and ends it when done, failed or cancelled. Cancelling (aborting the signal) rejects
 * the promise at once with an error named 'AbortError'; the worker stops at its next kernel run (a few steps, well
 * under a second), answers, and is terminated then — never in the middle of a native ONNX Runtime run.
 *
 * Worker entry: from the bundle, `permutationWorker.js` next to the bundled code (`dist/`); from TypeScript sources
 * (tests, benchmarks), `permutationWorker.ts` next to this file, run through tsx.
 */
import { dirname } from 'node:path';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from '../../kernels/workerThreads';
import { ModelLensError, type ModelLensErrorCode } from '../../errors';
import type { PermutationProbeProgress, PermutationProbeResult } from './permutationEnsemble';
import { resolvePermutationProbeOptions, type PermutationProbeOptions } from './permutationOptions';
import type { PermutationWorkerError, PermutationWorkerReply, PermutationWorkerRequest, PermutationWorkerTask } from './permutationMessages';
import type { ReproductionOptions, ReproductionResult } from './permutationPreset';

export { permutationTheory, permutationGrowthTable } from './permutationTheory';
export type { PermutationTheoryOptions, PermutationTheoryResult, SupportSizeTheory, GrowthRow, ModelsNeeded } from './permutationTheory';
export type { PermutationProbeProgress, PermutationProbeResult, SupportSizeAccuracy, PerInputMargins } from './permutationEnsemble';
export type { PermutationProbeOptions, ResolvedPermutationProbeOptions, PermutationEvaluation } from './permutationOptions';
export type { ReproductionOptions, ReproductionResult, ReproductionRow } from './permutationPreset';
export { PAPER_EXPERIMENT_1 } from './permutationPreset';

export type PermutationWorkerEntry = WorkerEntry;

/** Where the worker script is: the bundled `permutationWorker.js` beside this code, else the `.ts` source (via tsx). */
export function resolvePermutationWorkerEntry(directory: string = dirname(__filename)): PermutationWorkerEntry {
  return resolveWorkerEntry('permutationWorker', directory, directory);
}

export interface PermutationRunControl {
  signal?: AbortSignal;
  onProgress?: (progress: PermutationProbeProgress) => void;
  /** Least milliseconds between progress reports (default 100). */
  progressIntervalMs?: number;
  /** ONNX Runtime intra-op threads in the worker (default: its own, one per core). */
  intraOpThreads?: number;
  /** Override the worker script (see resolvePermutationWorkerEntry). */
  workerEntry?: PermutationWorkerEntry;
}

/** An error named 'AbortError', as a cancelled run rejects with. */
export function permutationAbortError(): Error {
  const error = new Error('the permutation probe was cancelled');
  error.name = 'AbortError';
  return error;
}

function rebuildError(error: PermutationWorkerError): Error {
  if (error.name === 'AbortError') return permutationAbortError();
  if (error.code) return new ModelLensError(error.code as ModelLensErrorCode, error.message, undefined, error.hint);
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}

let nextJobId = 1;

function runInWorker<T>(task: PermutationWorkerTask, control: PermutationRunControl): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const { signal } = control;
    if (signal?.aborted) return reject(permutationAbortError());
    const worker = startWorker(control.workerEntry ?? resolvePermutationWorkerEntry(), 'model-lens-permutation');
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const jobId = nextJobId++;
    let settled = false;
    let ended = false;
    // The worker is terminated only once it has answered (ONNX Runtime is idle then): terminating a thread in the
    // middle of a native run can abort the whole process.
    const end = () => {
      if (ended) return;
      ended = true;
      void worker.terminate();
    };
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = () => {
      Atomics.store(cancel, 0, 1); // the worker stops at its next kernel run and answers with an AbortError
      settle(() => reject(permutationAbortError()));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: PermutationWorkerReply) => {
      if (message.jobId !== jobId) return;
      if (message.type === 'progress') {
        if (!settled) control.onProgress?.(message.progress);
        return;
      }
      end();
      if (message.type === 'result') settle(() => resolve(message.result as T));
      else settle(() => reject(rebuildError(message.error)));
    });
    worker.on('error', (error) => {
      end();
      settle(() => reject(error));
    });
    worker.on('exit', (code) => {
      ended = true;
      settle(() => reject(new Error(`the permutation-probe worker stopped unexpectedly (exit code ${code})`)));
    });
    const request: PermutationWorkerRequest = {
      type: 'run',
      jobId,
      task,
      cancel,
      progressIntervalMs: control.progressIntervalMs ?? 100,
      intraOpThreads: control.intraOpThreads,
    };
    worker.postMessage(request);
  });
}

/** Trains and evaluates an ensemble (see `runPermutationEnsemble`) in a worker thread. */
export async function runPermutationProbe(options: PermutationProbeOptions, control: PermutationRunControl = {}): Promise<PermutationProbeResult> {
  resolvePermutationProbeOptions(options); // usage errors before a worker starts
  return runInWorker<PermutationProbeResult>({ kind: 'probe', options }, control);
}

/** Runs the experiment-1 reproduction preset (see `runReproductionPreset`) in a worker thread. */
export function runPermutationReproduction(options: ReproductionOptions = {}, control: PermutationRunControl = {}): Promise<ReproductionResult> {
  return runInWorker<ReproductionResult>({ kind: 'reproduction', options }, control);
}
