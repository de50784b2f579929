/**
 * Runs Batch-OMP (batchOmp.ts) over many targets in worker threads, so the server's event loop stays free. The
 * dictionary, targets, atom norms, Gram cache and outputs live in SharedArrayBuffers: one copy, seen by every worker.
 * Targets are handed out in chunks as workers free up, progress is reported as blocks finish (with an ETA), and an
 * AbortSignal stops the workers at their next step and rejects at once with a 'cancelled' ModelLensError.
 *
 * Worker entry: from the bundle, `ompWorker.js` next to the bundled server (`dist/`); from TypeScript sources (tests,
 * benchmarks), `ompWorker.ts` next to this file, run through tsx's loader.
 */
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from './workerThreads';
import { ModelLensError, type ModelLensErrorCode } from '../errors';
import {
  allocateOmpOutput,
  BatchOmpSolver,
  createGramCache,
  resolveOmpOptions,
  rowNorms,
  type BatchOmpOptions,
  type BatchOmpResult,
  type OmpStats,
} from './batchOmp';
import type { OmpWorkerErrorInfo, OmpWorkerReply, OmpWorkerRequest } from './ompMessages';
import { OmpKernels } from './ompKernels';

export interface OmpProgress {
  /** Targets finished. */
  done: number;
  total: number;
  /** Seconds left at the rate so far; undefined before the first block finishes. */
  etaSeconds?: number;
}

export interface OmpRunControl {
  signal?: AbortSignal;
  onProgress?: (progress: OmpProgress) => void;
}

export type OmpWorkerEntry = WorkerEntry;

/** Where the worker script is: the bundled `ompWorker.js` beside this code, else the `.ts` source (via tsx). */
export function resolveOmpWorkerEntry(directory: string = dirname(__filename)): OmpWorkerEntry {
  return resolveWorkerEntry('ompWorker', directory, directory);
}

export function cancelledError(what = 'the OMP run'): ModelLensError {
  return new ModelLensError('cancelled', `${what} was cancelled`);
}

function rebuildError(error: OmpWorkerErrorInfo): Error {
  if (error.code) return new ModelLensError(error.code as ModelLensErrorCode, error.message, undefined, error.hint);
  const rebuilt = new Error(`OMP worker: ${error.message}`);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = `${rebuilt.name}: ${rebuilt.message}\n  in the worker: ${error.stack}`;
  return rebuilt;
}

/** A Float32Array over a SharedArrayBuffer holding `values` (the same array when it already is one). */
export function toShared(values: Float32Array, length = values.length): Float32Array {
  if (values.buffer instanceof SharedArrayBuffer && values.length === length) return values;
  const shared = new Float32Array(new SharedArrayBuffer(length * 4));
  shared.set(values.subarray(0, length));
  return shared;
}

/** How long a closed worker may take to finish its current step and end before it is terminated. */
const CLOSE_GRACE_MS = 60_000;

export function defaultOmpWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

function mergeStats(into: OmpStats, add: OmpStats): void {
  into.gramColumnsComputed += add.gramColumnsComputed;
  into.gramColumnHits += add.gramColumnHits;
  into.earlyStops += add.earlyStops;
}

/**
 * OMP for `count` targets ([count, dim]) over a dictionary of `atoms` rows ([atoms, dim]); see batchOmp.ts for the
 * semantics. With `workers: 0` it runs in the calling thread (small problems, tests). Throws a 'usage' error for
 * k > atoms, and a 'cancelled' error when `control.signal` aborts.
 */
export async function batchOmp(
  dictionary: Float32Array,
  atoms: number,
  dim: number,
  targets: Float32Array,
  count: number,
  options: BatchOmpOptions = {},
  control: OmpRunControl = {},
): Promise<BatchOmpResult> {
  const resolved = resolveOmpOptions(atoms, dim, options, count);
  if (dictionary.length < atoms * dim) throw new ModelLensError('mismatch', `the dictionary has ${dictionary.length} values, fewer than ${atoms} × ${dim}`);
  if (targets.length < count * dim) throw new ModelLensError('mismatch', `the targets have ${targets.length} values, fewer than ${count} × ${dim}`);
  const { signal, onProgress } = control;
  if (signal?.aborted) throw cancelledError();
  const workers = Math.min(options.workers ?? defaultOmpWorkers(), Math.max(1, Math.ceil(count / 8)));
  const stats: OmpStats = { route: resolved.route, gramColumnsComputed: 0, gramColumnHits: 0, earlyStops: 0 };
  const started = performance.now();
  let done = 0;
  const report = (targetsDone: number) => {
    done += targetsDone;
    if (!onProgress) return;
    const elapsed = (performance.now() - started) / 1000;
    onProgress({ done, total: count, etaSeconds: done > 0 ? (elapsed / done) * (count - done) : undefined });
  };
  if (options.gramCache && options.gramCache.atoms !== atoms) throw new ModelLensError('mismatch', `the Gram cache is for ${options.gramCache.atoms} atoms, not ${atoms}`);
  const cache =
    resolved.route !== 'gram' ? undefined : (options.gramCache ?? (resolved.gramCacheBytes >= atoms * 4 ? createGramCache(atoms, resolved.gramCacheBytes) : undefined));

  // The rest of the Gram matrix in large products, once the first chunk shows that most selections need a column
  // nobody has used yet (unstructured targets will touch nearly every atom), when it fits and the targets will select
  // each atom about twice. Targets that share atoms (real embeddings) keep computing columns as they need them.
  const mayPrecompute = cache !== undefined && options.precomputeGram !== false && cache.capacity >= atoms && count * resolved.k >= 2 * atoms;

  if (workers <= 0 || options.workers === 0) {
    const kernels = await OmpKernels.create({ intraOpThreads: 0, ...options.kernels });
    try {
      const solver = new BatchOmpSolver(dictionary, atoms, dim, resolved, kernels, rowNorms(dictionary, atoms, dim), cache);
      const output = allocateOmpOutput(count, resolved.k);
      await solver.solve(targets, 0, count, output, { shouldStop: () => signal?.aborted === true, onTargetsDone: report });
      if (signal?.aborted) throw cancelledError();
      return { ...output, stats: { ...solver.stats } };
    } finally {
      await kernels.release();
    }
  }

  const sharedDictionary = toShared(dictionary, atoms * dim);
  const sharedTargets = toShared(targets, count * dim);
  const norms = rowNorms(sharedDictionary, atoms, dim, new Float32Array(new SharedArrayBuffer(atoms * 4)));
  const output = allocateOmpOutput(count, resolved.k, true);
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const entry = resolveOmpWorkerEntry();
  // Chunks small enough to balance the workers, large enough to fill a lockstep block.
  const chunk = Math.max(1, Math.min(count, Math.max(32, Math.ceil(count / (workers * 8)))));
  const tasks: { type: 'gram' | 'solve'; first: number; last: number }[] = [];
  for (let first = 0; first < count; first += chunk) tasks.push({ type: 'solve', first, last: Math.min(count, first + chunk) });
  let remaining = tasks.length;
  let decided = !mayPrecompute;
  const maybePrecompute = (chunkStats: OmpStats) => {
    if (decided) return;
    decided = true;
    const computed = chunkStats.gramColumnsComputed;
    if (computed / Math.max(1, computed + chunkStats.gramColumnHits) <= 0.5) return;
    const gramChunk = Math.max(64, Math.ceil(atoms / (workers * 8)));
    const gram: typeof tasks = [];
    for (let first = 0; first < atoms; first += gramChunk) gram.push({ type: 'gram', first, last: Math.min(atoms, first + gramChunk) });
    tasks.unshift(...gram);
    remaining += gram.length;
  };

  const pool: Worker[] = [];
  return new Promise<BatchOmpResult>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: Error | BatchOmpResult) => {
      if (settled) return;
      settled = true;
      Atomics.store(cancel, 0, 1);
      signal?.removeEventListener('abort', onAbort);
      // Workers stop at their next step, release their sessions and end on their own (see ompWorker.ts); one that
      // has not ended after a grace period is terminated.
      for (const worker of pool) {
        worker.postMessage({ type: 'close' } satisfies OmpWorkerRequest);
        const deadline = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
        deadline.unref();
        worker.once('exit', () => clearTimeout(deadline));
      }
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = () => settle(cancelledError());
    signal?.addEventListener('abort', onAbort, { once: true });
    const dispatch = (worker: Worker) => {
      const task = tasks.shift();
      if (task) worker.postMessage(task satisfies OmpWorkerRequest);
    };
    for (let i = 0; i < workers; i++) {
      const worker = startWorker(entry, 'model-lens-omp');
      pool.push(worker);
      worker.on('message', (message: OmpWorkerReply) => {
        if (settled) return;
        switch (message.type) {
          case 'ready':
            dispatch(worker);
            return;
          case 'progress':
            report(message.targets);
            return;
          case 'solved':
            mergeStats(stats, message.stats);
            maybePrecompute(message.stats);
            if (--remaining === 0) settle({ ...output, stats });
            else dispatch(worker);
            return;
          case 'gram-done':
            stats.gramColumnsComputed += message.computed;
            if (--remaining === 0) settle({ ...output, stats });
            else dispatch(worker);
            return;
          case 'error':
            settle(rebuildError(message.error));
            return;
        }
      });
      worker.on('error', (error) => settle(error instanceof Error ? error : new Error(String(error))));
      worker.on('exit', (code) => {
        if (!settled) settle(new Error(`an OMP worker stopped unexpectedly (exit code ${code})`));
      });
      worker.postMessage({
        type: 'init',
        dictionary: sharedDictionary,
        privateCopy: options.privateDictionaryCopies ?? atoms * dim * 4 <= 1024 ** 3,
        atoms,
        dim,
        targets: sharedTargets,
        norms,
        options: resolved,
        kernels: options.kernels ?? {},
        cache,
        output,
        cancel,
      } satisfies OmpWorkerRequest);
    }
  });
}
