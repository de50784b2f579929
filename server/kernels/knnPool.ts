/**
 * Runs kNN searches in worker threads so the server's event loop stays free (a hover is answered while a batch
 * runs). Each matrix is posted once per worker as typed arrays over SharedArrayBuffers (with its shared WebAssembly
 * memory, for an f16 matrix the half kernel scans): every worker sees the same memory, and the server holds one copy.
 * A search over a big matrix is split by rows across the workers, and their exact per-range results are merged: the
 * workers claim blocks of rows from a shared counter, so a worker held up by other work scores fewer of them. A
 * batch uses one worker per core but one (the server's thread keeps a core to answer hovers); a single query, a
 * short burst, is split across one worker per core, so it is not limited by what one core can read, widen (f16) and
 * multiply. Searches honour an AbortSignal (the workers stop at their next block;
 * the promise rejects at once with an error named 'AbortError') and report progress as blocks finish.
 *
 * Worker entry: from the bundle, `knnWorker.js` next to the bundled server (`dist/`); from TypeScript sources (tests),
 * `knnWorker.ts` next to this file, run through tsx's loader.
 */
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from './workerThreads';
import { ModelLensError, type ModelLensErrorCode } from '../errors';
import type { EmbeddingMatrix } from './embeddingMatrix';
import { checkQueries, knnAbortError, mergeRanked, type KnnKernelSettings, type KnnOptions, type KnnProgress, type KnnResult, type RankedKnnResult } from './knn';
import type { KnnWorkerError, KnnWorkerReply, KnnWorkerRequest } from './knnMessages';

export type KnnWorkerEntry = WorkerEntry;

/** Where the worker script is: the bundled `knnWorker.js` beside this code, else the `.ts` source (via tsx). */
export function resolveKnnWorkerEntry(directory: string = dirname(__filename)): KnnWorkerEntry {
  return resolveWorkerEntry('knnWorker', directory, directory);
}

export interface KnnPoolOptions {
  /**
   * Worker threads a batch may use; default: one per core but one (left for the server's own thread), at least 1,
   * at most 4.
   */
  workers?: number;
  /**
   * Worker threads a small search (at most `smallSearchQueries` queries) is split across; default: one per core, at
   * most 4, never fewer than `workers`. A single query over a big matrix is a short burst (one pass over the rows),
   * so it may take every core, while a long batch leaves one to the server's thread. The extra workers start on the
   * first small search that can use them.
   */
  latencyWorkers?: number;
  /** Most queries a search may have to count as small (default 4). */
  smallSearchQueries?: number;
  /** Kernel settings for every worker; intraOpThreads defaults to 1 (the workers are the parallelism). */
  kernels?: Partial<KnnKernelSettings>;
  /** Split one search across workers only when each part gets at least this many matrix bytes (default 32 MiB). */
  minShardBytes?: number;
  /** Least milliseconds between two progress reports from one worker (default 16). */
  progressIntervalMs?: number;
  /** Override the worker script (see resolveKnnWorkerEntry). */
  workerEntry?: KnnWorkerEntry;
}

export interface KnnSearchControl {
  signal?: AbortSignal;
  onProgress?: (progress: KnnProgress) => void;
}

interface PoolWorker {
  worker: Worker;
  /** Shard ids running on this worker. */
  running: Set<number>;
}

interface Job {
  options: KnnOptions;
  onProgress?: (progress: KnnProgress) => void;
  resolve: (results: KnnResult[]) => void;
  reject: (error: Error) => void;
  settled: boolean;
  cancel: Int32Array;
  parts: (RankedKnnResult[] | undefined)[];
  progress: (KnnProgress | undefined)[];
  shardRows: number[];
  /** Whether the parts claim blocks from one shared counter (each reports the rows it scored of all rows). */
  claimed: boolean;
  remaining: number;
  detach?: () => void;
}

function rebuildError(error: KnnWorkerError): Error {
  if (error.name === 'AbortError') return knnAbortError(error.message);
  if (error.code) return new ModelLensError(error.code as ModelLensErrorCode, error.message, undefined, error.hint);
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}

export class KnnPool {
  private readonly size: number;
  private readonly latencySize: number;
  private readonly smallSearchQueries: number;
  private readonly entry: KnnWorkerEntry;
  private readonly settings: Partial<KnnKernelSettings>;
  private readonly minShardBytes: number;
  private readonly progressIntervalMs: number;
  private workers: PoolWorker[] | undefined;
  private readonly matrixIds = new Map<EmbeddingMatrix, number>();
  private readonly shards = new Map<number, { job: Job; part: number; worker: PoolWorker }>();
  private nextId = 1;
  private closed = false;

  constructor(options: KnnPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.workers ?? Math.min(4, availableParallelism() - 1)));
    this.latencySize = Math.max(this.size, Math.floor(options.latencyWorkers ?? Math.min(4, availableParallelism())));
    this.smallSearchQueries = Math.max(0, Math.floor(options.smallSearchQueries ?? 4));
    this.entry = options.workerEntry ?? resolveKnnWorkerEntry();
    this.settings = { intraOpThreads: 1, ...options.kernels };
    this.minShardBytes = options.minShardBytes ?? 32 << 20;
    this.progressIntervalMs = options.progressIntervalMs ?? 16;
  }

  /** How many worker threads a batch uses. */
  get workerCount(): number {
    return this.size;
  }

  /** How many worker threads a small search (a single query) is split across. */
  get latencyWorkerCount(): number {
    return this.latencySize;
  }

  /** The running workers: `size` of them, or `count` when more (the extra latency workers start on demand). */
  private ensureWorkers(count = this.size): PoolWorker[] {
    if (this.closed) throw new ModelLensError('usage', 'the kNN pool is closed');
    this.workers ??= [];
    while (this.workers.length < count) this.workers.push(this.startWorker());
    return this.workers;
  }

  private startWorker(): PoolWorker {
    const worker = startWorker(this.entry, 'model-lens-knn');
    const entry: PoolWorker = { worker, running: new Set() };
    worker.unref();
    worker.on('message', (reply: KnnWorkerReply) => this.onReply(reply));
    worker.on('error', (error) => this.onWorkerLost(entry, error));
    worker.on('exit', (code) => this.onWorkerLost(entry, new Error(`the kNN worker stopped unexpectedly (exit code ${code})`)));
    this.post(entry, { type: 'configure', settings: this.settings });
    for (const [matrix, matrixId] of this.matrixIds) this.post(entry, { type: 'matrix', matrixId, matrix: matrix.toShared() });
    return entry;
  }

  private post(entry: PoolWorker, request: KnnWorkerRequest): void {
    entry.worker.postMessage(request);
  }

  /** Shares `matrix` with the workers (once; later calls do nothing). `search` does this on first use. */
  register(matrix: EmbeddingMatrix): void {
    if (this.matrixIds.has(matrix)) return;
    const workers = this.ensureWorkers();
    const matrixId = this.nextId++;
    this.matrixIds.set(matrix, matrixId);
    for (const entry of workers) this.post(entry, { type: 'matrix', matrixId, matrix: matrix.toShared() });
  }

  /** Lets the workers drop `matrix` (call it when its model closes, so its memory can be freed). */
  release(matrix: EmbeddingMatrix): void {
    const matrixId = this.matrixIds.get(matrix);
    if (matrixId === undefined) return;
    this.matrixIds.delete(matrix);
    for (const entry of this.workers ?? []) this.post(entry, { type: 'release', matrixId });
  }

  /** Exact kNN (see `searchNearest` for the scores) in the worker threads. */
  search(matrix: EmbeddingMatrix, queries: Float32Array, options: KnnOptions, control: KnnSearchControl = {}): Promise<KnnResult[]> {
    return new Promise<KnnResult[]>((resolve, reject) => {
      const { signal } = control;
      if (signal?.aborted) return reject(knnAbortError());
      const count = checkQueries(matrix, queries, options);
      const small = count <= this.smallSearchQueries;
      this.register(matrix);
      const workers = this.ensureWorkers(small ? this.latencySize : this.size);
      const matrixId = this.matrixIds.get(matrix)!;
      const rowBytes = matrix.dim * (matrix.storage === 'f16' ? 2 : 4);
      const most = small ? this.latencySize : this.size;
      const shardCount = Math.max(1, Math.min(most, Math.floor((matrix.rows * rowBytes) / this.minShardBytes)));
      const chosen = shardCount === workers.length ? workers : [...workers].sort((a, b) => a.running.size - b.running.size).slice(0, shardCount);
      // A split search shares its rows through a claim counter, so a worker slowed by other work (another search on
      // it, another process on its core) scores fewer blocks instead of holding the answer back; when the counter
      // could overflow (passes × rows ≥ 2³¹, counting one pass per query), each worker gets a fixed range instead.
      const claim = shardCount > 1 && count * matrix.rows <= 0x7fffffff ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
      const bounds = claim ? undefined : Array.from({ length: shardCount + 1 }, (_, i) => Math.round((i * matrix.rows) / shardCount));
      const job: Job = {
        ...{ options, onProgress: control.onProgress, resolve, reject, settled: false },
        cancel: new Int32Array(new SharedArrayBuffer(4)),
        parts: new Array(shardCount).fill(undefined),
        progress: new Array(shardCount).fill(undefined),
        shardRows: bounds ? bounds.slice(1).map((end, i) => end - bounds[i]) : new Array<number>(shardCount).fill(matrix.rows),
        claimed: claim !== undefined,
        remaining: shardCount,
      };
      if (signal) {
        const onAbort = () => {
          Atomics.store(job.cancel, 0, 1);
          this.settle(job, knnAbortError());
        };
        signal.addEventListener('abort', onAbort, { once: true });
        job.detach = () => signal.removeEventListener('abort', onAbort);
      }
      const exclude = options.exclude?.map((list) => (list ? Array.from(list) : undefined));
      chosen.forEach((entry, part) => {
        const jobId = this.nextId++;
        this.shards.set(jobId, { job, part, worker: entry });
        entry.running.add(jobId);
        entry.worker.ref();
        this.post(entry, {
          type: 'search',
          ...{ jobId, matrixId, queries, k: options.k, metric: options.metric, exclude },
          rowRange: bounds ? [bounds[part], bounds[part + 1]] : [0, matrix.rows],
          ...(claim ? { claim } : {}),
          cancel: job.cancel,
          progressIntervalMs: this.progressIntervalMs,
        });
      });
    });
  }

  private settle(job: Job, outcome: Error | KnnResult[]): void {
    if (job.settled) return;
    job.settled = true;
    job.detach?.();
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  private finishShard(jobId: number): { job: Job; part: number } | undefined {
    const shard = this.shards.get(jobId);
    if (!shard) return undefined;
    this.shards.delete(jobId);
    shard.worker.running.delete(jobId);
    if (shard.worker.running.size === 0) shard.worker.worker.unref();
    return shard;
  }

  private onReply(reply: KnnWorkerReply): void {
    switch (reply.type) {
      case 'progress': {
        const shard = this.shards.get(reply.jobId);
        if (!shard || shard.job.settled || !shard.job.onProgress) return;
        const { job } = shard;
        job.progress[shard.part] = reply.progress;
        const sum = { rowsDone: 0, rows: 0, blocksDone: 0, blocks: 0 };
        job.progress.forEach((p, i) => {
          sum.rowsDone += p?.rowsDone ?? 0;
          sum.blocksDone += p?.blocksDone ?? 0;
          if (job.claimed) {
            // Every part reports all the rows (and its estimate of all the blocks); each scored its own share.
            sum.rows = Math.max(sum.rows, p?.rows ?? job.shardRows[i]);
            sum.blocks = Math.max(sum.blocks, p?.blocks ?? 0);
          } else {
            sum.rows += p?.rows ?? job.shardRows[i];
            sum.blocks += p?.blocks ?? 0;
          }
        });
        sum.blocks = Math.max(sum.blocks, sum.blocksDone);
        job.onProgress?.(sum);
        return;
      }
      case 'result': {
        const shard = this.finishShard(reply.jobId);
        if (!shard) return;
        const { job, part } = shard;
        job.parts[part] = reply.ids.map((ids, q) => ({ ids, scores: reply.scores[q], keys: reply.keys[q] }));
        if (--job.remaining > 0 || job.settled) return;
        const parts = job.parts as RankedKnnResult[][];
        const merged = parts.length === 1 ? parts[0] : mergeRanked(parts, job.options.k, job.options.metric);
        this.settle(job, merged.map(({ ids, scores }) => ({ ids, scores })));
        return;
      }
      case 'error': {
        const shard = this.finishShard(reply.jobId);
        if (!shard) return;
        Atomics.store(shard.job.cancel, 0, 1); // the other parts need not finish
        this.settle(shard.job, rebuildError(reply.error));
        return;
      }
    }
  }

  private onWorkerLost(entry: PoolWorker, error: Error): void {
    if (!this.workers?.includes(entry)) return;
    for (const jobId of [...entry.running]) {
      const shard = this.finishShard(jobId);
      if (shard) {
        Atomics.store(shard.job.cancel, 0, 1);
        this.settle(shard.job, error);
      }
    }
    if (this.closed) return;
    // Replace the worker; the replacement gets the settings and every registered matrix again.
    this.workers[this.workers.indexOf(entry)] = this.startWorker();
    void entry.worker.terminate();
  }

  /** Stops the workers; running searches reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const workers = this.workers ?? [];
    this.workers = undefined;
    for (const [jobId, shard] of [...this.shards]) {
      this.finishShard(jobId);
      this.settle(shard.job, new ModelLensError('cancelled', 'the kNN pool was closed while a search ran'));
    }
    this.matrixIds.clear();
    await Promise.all(workers.map((entry) => entry.worker.terminate()));
  }
}
