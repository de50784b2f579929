/**
 * Worker-thread entry for permutation probes (started by `runPermutationProbe` and `runPermutationReproduction` in
 * `permutationProbe.ts`, one worker per run). The build bundles it to `dist/permutationWorker.js`; tests run this
 * file through tsx. It runs one job: trains and evaluates on this thread (ONNX Runtime), posts throttled progress,
 * and stops at its next kernel run when the host sets the shared cancel flag.
 */
import { parentPort } from 'node:worker_threads';
import { isModelLensError } from '../../errors';
import { configureReluKernels } from '../../kernels/reluEnsemble';
import { runPermutationEnsemble, type PermutationProbeProgress } from './permutationEnsemble';
import type { PermutationWorkerReply, PermutationWorkerRequest } from './permutationMessages';
import { runReproductionPreset } from './permutationPreset';

const port = parentPort;
if (!port) throw new Error('permutationWorker must run in a worker thread (it is started by runPermutationProbe)');

function reply(message: PermutationWorkerReply): void {
  port!.postMessage(message);
}

async function run(request: PermutationWorkerRequest): Promise<void> {
  const { jobId, cancel } = request;
  const signal = {
    get aborted() {
      return Atomics.load(cancel, 0) !== 0;
    },
  };
  let lastReport = 0;
  const onProgress = (progress: PermutationProbeProgress) => {
    const now = performance.now();
    if (progress.phase === 'evaluating' || now - lastReport >= request.progressIntervalMs) {
      lastReport = now;
      reply({ type: 'progress', jobId, progress });
    }
  };
  try {
    if (request.intraOpThreads !== undefined) configureReluKernels({ intraOpThreads: request.intraOpThreads });
    const result =
      request.task.kind === 'probe'
        ? await runPermutationEnsemble(request.task.options, { signal, onProgress })
        : await runReproductionPreset(request.task.options, { signal, onProgress });
    reply({ type: 'result', jobId, result } as PermutationWorkerReply);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    reply({ type: 'error', jobId, error: { name: e.name, message: e.message, ...(isModelLensError(e) ? { code: e.code, hint: e.hint } : {}) } });
  }
}

port.on('message', (request: PermutationWorkerRequest) => {
  if (request.type === 'run') void run(request);
});
