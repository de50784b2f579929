/**
 * Worker-thread entry for kNN searches (started by `KnnPool`). The build bundles it to `dist/knnWorker.js`; tests
 * run this file through tsx. It holds the matrices it is sent (shared buffers, no copies) and runs `searchNearest`
 * on them. Several searches may run at once: they interleave block by block, so a single query is not stuck behind
 * a long batch.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { isModelLensError } from '../errors';
import { EmbeddingMatrix } from './embeddingMatrix';
import { configureKnnKernels, searchNearestRanked, type KnnProgress } from './knn';
import type { KnnWorkerReply, KnnWorkerRequest } from './knnMessages';

const port = parentPort;
if (!port) throw new Error('knnWorker must run in a worker thread (it is started by KnnPool)');

const matrices = new Map<number, EmbeddingMatrix>();

/**
 * A full garbage collection of this worker's heap. A released matrix's SharedArrayBuffers stay alive while any thread
 * still references them, and an idle worker seldom collects on its own, so the worker collects right after a release.
 */
function collectGarbage(): void {
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  } catch {
    // not available: the memory goes with the worker's next ordinary collection
  }
}

function reply(message: KnnWorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

async function runSearch(request: Extract<KnnWorkerRequest, { type: 'search' }>): Promise<void> {
  const { jobId, cancel } = request;
  try {
    const matrix = matrices.get(request.matrixId);
    if (!matrix) throw new Error(`kNN worker has no matrix ${request.matrixId} (it was released or never sent)`);
    let lastReport = 0;
    let unreported: KnnProgress | undefined;
    const results = await searchNearestRanked(
      matrix,
      request.queries,
      { k: request.k, metric: request.metric, exclude: request.exclude },
      {
        rowRange: request.rowRange,
        claimCounter: request.claim,
        signal: {
          get aborted() {
            return Atomics.load(cancel, 0) !== 0;
          },
        },
        onProgress: (progress) => {
          const now = performance.now();
          if (progress.blocksDone === progress.blocks || now - lastReport >= request.progressIntervalMs) {
            lastReport = now;
            unreported = undefined;
            reply({ type: 'progress', jobId, progress });
          } else {
            unreported = progress;
          }
        },
      },
    );
    // A part that shares its rows with others never reaches blocksDone === blocks: its last report goes out here.
    if (unreported) reply({ type: 'progress', jobId, progress: unreported });
    const ids = results.map((result) => result.ids);
    const scores = results.map((result) => result.scores);
    const keys = results.map((result) => result.keys);
    const buffers = [...ids, ...scores, ...keys].map((array) => array.buffer as ArrayBuffer);
    reply({ type: 'result', jobId, ids, scores, keys }, buffers);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    reply({
      type: 'error',
      jobId,
      error: {
        name: e.name,
        message: e.message,
        ...(isModelLensError(e) ? { code: e.code, hint: e.hint } : {}),
      },
    });
  }
}

port.on('message', (request: KnnWorkerRequest) => {
  switch (request.type) {
    case 'configure':
      configureKnnKernels(request.settings);
      break;
    case 'matrix':
      matrices.set(request.matrixId, EmbeddingMatrix.fromShared(request.matrix));
      break;
    case 'release':
      matrices.delete(request.matrixId);
      setImmediate(collectGarbage);
      break;
    case 'search':
      void runSearch(request);
      break;
  }
});
