/**
 * What the registry knows about an opened model. Each format is one loader file in `server/loaders/`, which turns a
 * path into an `OpenedModel`; nothing heavy is read until a feature asks for a tensor.
 */
import type { TokenizerHandle } from '../tokenization/tokenizer';

export type TensorDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'F8_E4M3' | 'F8_E5M2' | 'Q8_0' | string;

export interface TensorInfo {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Absolute path of the file that holds the bytes. */
  file: string;
  /** Absolute byte offset of the first element in `file`. */
  offset: number;
  byteLength: number;
}

export interface EmbeddingTensors {
  /** The input (token) embedding, [vocab, hidden]. */
  input?: TensorInfo;
  /** The output head, [vocab, hidden]; absent when tied. */
  output?: TensorInfo;
  /** True when the head reuses the input embedding. */
  tied: boolean;
}

export type ModelFormat = 'huggingface' | 'tokenizer' | 'onnx' | 'gguf' | 'word-vectors';

export interface OpenedModel {
  /** Stable id for the session: the absolute path that was opened. */
  id: string;
  path: string;
  /** A short display name (the folder or file name). */
  name: string;
  format: ModelFormat;
  /** The files that were read to open it (headers, config, tokenizer). */
  files: string[];
  config?: Record<string, unknown>;
  tensors: TensorInfo[];
  embeddings: EmbeddingTensors;
  tokenizer?: TokenizerHandle;
  /** Reads one tensor by name, converting to Float32Array. Reads only that tensor's bytes. */
  readTensor(name: string): Promise<Float32Array>;
}

export interface ModelLoader {
  /** A name for messages, e.g. "Hugging Face folder". */
  readonly description: string;
  /** Cheap check from the path and a directory listing or the first bytes; never reads weights. */
  canOpen(path: string): Promise<boolean>;
  open(path: string): Promise<OpenedModel>;
}
