/**
 * The Backpack worker thread: it opens each Backpack once (its own registry, reading the same files), keeps its
 * edits, and runs every Backpack feature for the server (see backpackWorkerMessages.ts for why). Next-token logits of
 * other causal LMs (transformers.js ONNX models, for the copy probe) are computed here too, for the same reason. Progress and
 * cancellation travel as messages; errors come back with their user-facing parts intact.
 */
import { parentPort } from 'node:worker_threads';
import { isModelLensError, ModelLensError } from '../../errors';
import { ModelRegistry } from '../../registry/registry';
import type { OpenedModel } from '../../registry/types';
import { predictNextToken } from '../predict';
import { openCausalLanguageModel, type CausalLanguageModel } from '../probes/causalLanguageModel';
import { changeSenseEdits, editSenses, senseEditState, tokenSenses, wordSenses, type ManualSenseEdit, type SenseEditAction } from './index';
import { looksLikeBackpack, openBackpack } from './backpackModel';
import type { BackpackOperation, BackpackWorkerCancel, BackpackWorkerReply, BackpackWorkerRequest, SerializedError } from './backpackWorkerMessages';
import { setEditJournalDir } from './editRecovery';
import { explainPrediction, type ExplainOptions } from './explain';
import { exportEditedBackpack } from './exportBackpack';
import { finetuneSenses, readFinetuneInputs, type FinetuneInputFiles, type SenseFinetuneOptions } from './senseFinetune';
import { searchSenses, type SenseSearchOptions } from './senseSearch';

interface Control {
  signal: AbortSignal;
  onProgress: (message: string, fraction?: number) => void;
}

type Operation = (model: OpenedModel, args: Record<string, unknown>, control: Control) => Promise<unknown>;

const registry = new ModelRegistry();

/** Causal LMs (Backpacks, transformers.js ONNX models) opened here once per model, for the copy probe and predict. */
const languageModels = new WeakMap<OpenedModel, Promise<CausalLanguageModel>>();
function languageModel(model: OpenedModel): Promise<CausalLanguageModel> {
  let lm = languageModels.get(model);
  if (!lm) {
    lm = openCausalLanguageModel(model);
    lm.catch(() => languageModels.delete(model));
    languageModels.set(model, lm);
  }
  return lm;
}

const operations: Record<Exclude<BackpackOperation, 'configure' | 'close'>, Operation> = {
  async warm(model) {
    if (!looksLikeBackpack(model)) {
      await languageModel(model);
      return { restored: false, editedWords: 0 };
    }
    const backpack = await openBackpack(model);
    return { restored: backpack.restoredUnsavedEdits, editedWords: backpack.edits?.size ?? 0 };
  },
  async senses(model, args) {
    const top = args.top as number | undefined;
    if (typeof args.tokenId === 'number') return tokenSenses(await openBackpack(model), args.tokenId, top);
    return wordSenses(model, String(args.word), top);
  },
  explain: async (model, args) => explainPrediction(await openBackpack(model), args as unknown as ExplainOptions),
  search: async (model, args, control) => searchSenses(await openBackpack(model), args as unknown as SenseSearchOptions, control),
  editState: async (model) => senseEditState(await openBackpack(model)),
  edit: (model, args) => editSenses(model, args.edit as ManualSenseEdit),
  change: (model, args) => changeSenseEdits(model, args.action as SenseEditAction),
  async finetune(model, args, control) {
    const backpack = await openBackpack(model);
    const inputs = await readFinetuneInputs(args.files as FinetuneInputFiles);
    return finetuneSenses(backpack, { ...(args.options as Partial<SenseFinetuneOptions>), ...inputs }, control);
  },
  export: async (model, args, control) => exportEditedBackpack(await openBackpack(model), String(args.outDir), control),
  predict: (model, args) => predictNextToken(model, String(args.text), args.top as number | undefined),
  nextTokenLogits: async (model, args) => (await languageModel(model)).nextTokenLogits(args.ids as number[]),
};

function serialize(error: unknown): SerializedError {
  if (isModelLensError(error)) return { kind: 'model-lens', code: error.code, message: error.message, file: error.file, hint: error.hint };
  const e = error instanceof Error ? error : new Error(String(error));
  return { kind: 'bug', name: e.name, message: e.message, stack: e.stack };
}

const running = new Map<number, AbortController>();
const port = parentPort!;

async function serve(request: BackpackWorkerRequest): Promise<void> {
  const reply = (message: BackpackWorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  const abort = new AbortController();
  running.set(request.id, abort);
  try {
    let value: unknown;
    if (request.op === 'configure') {
      setEditJournalDir(request.args.journalDir as string | undefined);
    } else if (request.op === 'close') {
      const model = registry.list().find((m) => m.id === request.modelPath);
      if (model) {
        const backpack = await openBackpack(model).catch(() => undefined);
        await backpack?.journaled();
        await backpack?.release();
        registry.close(model.id);
      }
    } else {
      const model = await registry.open(request.modelPath);
      value = await operations[request.op](model, request.args, {
        signal: abort.signal,
        onProgress: (message, fraction) => reply({ id: request.id, progress: { message, fraction } }),
      });
      if (abort.signal.aborted) throw new ModelLensError('cancelled', 'cancelled');
    }
    if (value instanceof Float32Array) {
      const copy = value.slice();
      reply({ id: request.id, ok: true, value: copy }, [copy.buffer]);
    } else {
      reply({ id: request.id, ok: true, value });
    }
  } catch (error) {
    reply({ id: request.id, ok: false, error: serialize(error) });
  } finally {
    running.delete(request.id);
  }
}

port.on('message', (message: BackpackWorkerRequest | BackpackWorkerCancel) => {
  if ('cancel' in message) running.get(message.cancel)?.abort();
  else void serve(message);
});
