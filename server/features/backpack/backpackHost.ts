/**
 * The server's side of the Backpack worker: one worker thread, started on first use, that runs every Backpack feature
 * (see backpackWorkerMessages.ts). Calls are promises; progress comes back through the caller's callback, and an
 * aborted signal cancels the work in the worker. If the worker dies, pending calls fail with a clear message and the
 * next call starts a new one (unsaved edits come back from the journal, see editRecovery.ts).
 */
import type { Worker } from 'node:worker_threads';
import { ModelLensError } from '../../errors';
import { resolveWorkerEntry, startWorker } from '../../kernels/workerThreads';
import type { OpenedModel } from '../../registry/types';
import type { CausalLanguageModelRunner } from '../probes/causalLanguageModel';
import { transformersJsRunner } from '../languageModels/transformersJs';
import { looksLikeBackpack } from './backpackModel';
import { backpackRunner } from './index';
import type { BackpackOperation, BackpackWorkerReply, BackpackWorkerRequest, SerializedError } from './backpackWorkerMessages';

export interface HostControl {
  signal?: AbortSignal;
  onProgress?: (message: string, fraction?: number) => void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onProgress?: HostControl['onProgress'];
}

function deserialize(error: SerializedError): Error {
  if (error.kind === 'model-lens') return new ModelLensError(error.code, error.message, error.file, error.hint);
  const bug = new Error(error.message);
  bug.name = error.name;
  if (error.stack) bug.stack = `${error.stack}\n    (in the Backpack worker)`;
  return bug;
}

export class BackpackHost {
  private worker?: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private journalDir?: string;

  /** Where the worker journals unsaved edits (the extension's storage); sent again to a restarted worker. */
  configure(journalDir: string | undefined): void {
    this.journalDir = journalDir;
    if (this.worker) void this.call('configure', '', { journalDir });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(resolveWorkerEntry('backpackWorker', __dirname), 'model-lens-backpack');
    worker.on('message', (reply: BackpackWorkerReply) => {
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      if ('progress' in reply) {
        pending.onProgress?.(reply.progress.message, reply.progress.fraction);
        return;
      }
      this.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.value);
      else pending.reject(deserialize(reply.error));
    });
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(new Error(`the Backpack worker stopped (${error.message}); run the command again`));
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    worker.unref();
    this.worker = worker;
    if (this.journalDir !== undefined) this.send({ id: this.nextId++, op: 'configure', modelPath: '', args: { journalDir: this.journalDir } });
    return worker;
  }

  private send(request: BackpackWorkerRequest): void {
    this.ensureWorker().postMessage(request);
  }

  call<T>(op: BackpackOperation, modelPath: string, args: Record<string, unknown> = {}, control: HostControl = {}): Promise<T> {
    if (control.signal?.aborted) return Promise.reject(new ModelLensError('cancelled', 'cancelled'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, onProgress: control.onProgress });
      control.signal?.addEventListener('abort', () => this.worker?.postMessage({ cancel: id }), { once: true });
      this.send({ id, op, modelPath, args });
    });
  }

  /** Forgets a closed model in the worker (after its journal is written). */
  async forget(modelPath: string): Promise<void> {
    if (this.worker) await this.call('close', modelPath).catch(() => undefined);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  /** Causal language models (predict, the copy probe) run in the worker: Backpacks and transformers.js ONNX LMs. */
  runner(): CausalLanguageModelRunner {
    return {
      description: `${backpackRunner.description}; ${transformersJsRunner.description}`,
      canRun: (model) => looksLikeBackpack(model) || transformersJsRunner.canRun(model),
      open: async (model: OpenedModel) => {
        await this.call('warm', model.path); // opens it there, so a model that cannot run fails here, not mid-probe
        return {
          tokenizer: model.tokenizer!,
          nextTokenLogits: (ids) => this.call<Float32Array>('nextTokenLogits', model.path, { ids: [...ids] }),
        };
      },
    };
  }
}
