/**
 * Worker-thread entry for Batch-OMP (started by `batchOmp` in ompPool.ts). The build bundles it to
 * `dist/ompWorker.js`; tests run this file through tsx. It solves the target ranges it is sent, writing the shared
 * outputs in place, and stops between steps once the shared cancel flag is set.
 */
import { parentPort } from 'node:worker_threads';
import { isModelLensError } from '../errors';
import { BatchOmpSolver } from './batchOmp';
import type { OmpWorkerInit, OmpWorkerReply, OmpWorkerRequest } from './ompMessages';
import { OmpKernels } from './ompKernels';

const port = parentPort;
if (!port) throw new Error('ompWorker must run in a worker thread (it is started by batchOmp in ompPool.ts)');

let init: OmpWorkerInit | undefined;
let kernels: Promise<OmpKernels> | undefined;
let solver: Promise<BatchOmpSolver> | undefined;
let queue: Promise<void> = Promise.resolve();

function reply(message: OmpWorkerReply): void {
  port!.postMessage(message);
}

function replyError(error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  reply({ type: 'error', error: { name: e.name, message: e.message, stack: e.stack, ...(isModelLensError(e) ? { code: e.code, hint: e.hint } : {}) } });
}

async function solveRange(first: number, last: number): Promise<void> {
  const setup = init!;
  const current = await solver!;
  const before = { ...current.stats };
  await current.solve(setup.targets, first, last, setup.output, {
    shouldStop: () => Atomics.load(setup.cancel, 0) !== 0,
    onTargetsDone: (targets) => reply({ type: 'progress', targets }),
  });
  if (Atomics.load(setup.cancel, 0) !== 0) return;
  const stats = current.stats;
  reply({
    type: 'solved',
    first,
    last,
    stats: {
      route: stats.route,
      gramColumnsComputed: stats.gramColumnsComputed - before.gramColumnsComputed,
      gramColumnHits: stats.gramColumnHits - before.gramColumnHits,
      earlyStops: stats.earlyStops - before.earlyStops,
    },
  });
}

port.on('message', (request: OmpWorkerRequest) => {
  switch (request.type) {
    case 'init': {
      // Typed-array views of 4 GiB or more arrive with a wrong length; rebuild every view from its buffer.
      const view = (array: Float32Array, length: number) => new Float32Array(array.buffer, array.byteOffset, length);
      const { atoms, dim, options, norms } = request;
      const cache = request.cache && { ...request.cache, data: view(request.cache.data, request.cache.capacity * atoms) };
      request.dictionary = view(request.dictionary, atoms * dim);
      request.targets = view(request.targets, request.output.count * dim);
      init = request;
      // A private copy of the dictionary lets ONNX Runtime read it in place (it refuses shared buffers), which is
      // cheaper than copying blocks of it for every product.
      const dictionary = request.privateCopy ? request.dictionary.slice(0, atoms * dim) : request.dictionary;
      kernels = OmpKernels.create({ intraOpThreads: 1, ...request.kernels });
      solver = kernels.then((created) => new BatchOmpSolver(dictionary, atoms, dim, options, created, norms, cache));
      solver.then(
        () => reply({ type: 'ready' }),
        (error) => replyError(error),
      );
      break;
    }
    case 'solve':
      queue = queue.then(() => solveRange(request.first, request.last)).catch(replyError);
      break;
    case 'gram':
      queue = queue
        .then(async () => {
          const current = await solver!;
          const before = current.stats.gramColumnsComputed;
          await current.precomputeGram(request.first, request.last, () => Atomics.load(init!.cancel, 0) !== 0);
          if (Atomics.load(init!.cancel, 0) === 0) reply({ type: 'gram-done', first: request.first, last: request.last, computed: current.stats.gramColumnsComputed - before });
          current.stats.gramColumnsComputed = before; // reported here, not again with the next solve
        })
        .catch(replyError);
      break;
    case 'close':
      // Terminating a thread that still holds ONNX Runtime sessions can abort the whole process (a native error
      // in a finalizer), so the sessions are released first and the thread ends on its own.
      queue = queue
        .then(async () => {
          await (await kernels?.catch(() => undefined))?.release();
        })
        .catch(() => undefined)
        .finally(() => port.close());
      break;
  }
});
