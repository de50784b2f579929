/**
 * The messages between the server and the Backpack worker thread (backpackWorker.ts). Every Backpack feature runs
 * there, because onnxruntime-node runs each session on the calling JS thread: a forward pass of backpack-gpt2 takes
 * about a second, which the server's event loop must not wait for.
 */
import type { ModelLensErrorCode } from '../../errors';

export type BackpackOperation =
  | 'warm'
  | 'senses'
  | 'explain'
  | 'search'
  | 'editState'
  | 'edit'
  | 'change'
  | 'finetune'
  | 'export'
  | 'predict'
  | 'nextTokenLogits'
  | 'close'
  | 'configure';

export interface BackpackWorkerRequest {
  id: number;
  op: BackpackOperation;
  /** The opened model's path (its id); empty for 'configure'. */
  modelPath: string;
  args: Record<string, unknown>;
}

export interface BackpackWorkerCancel {
  cancel: number;
}

export type SerializedError =
  | { kind: 'model-lens'; code: ModelLensErrorCode; message: string; file?: string; hint?: string }
  | { kind: 'bug'; name: string; message: string; stack?: string };

export type BackpackWorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedError }
  | { id: number; progress: { message: string; fraction?: number } };
