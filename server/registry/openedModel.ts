/**
 * Builds the `OpenedModel` a loader returns from the parts it found: one place decides ids, names, embedding
 * discovery and lazy tensor reads.
 */
import * as path from 'node:path';
import { ModelLensError } from '../errors';
import type { OpenedModel, TensorInfo } from './types';
import type { TokenizerHandle } from '../tokenization/tokenizer';
import { findEmbeddingTensors } from '../loaders/embeddingDiscovery';
import { readTensorAsFloat32 } from '../loaders/safetensors';

export interface ModelParts {
  /** What was opened: a folder or a file. It is the model's id. */
  target: string;
  format: OpenedModel['format'];
  files: string[];
  config?: Record<string, unknown>;
  tensors: TensorInfo[];
  tokenizer?: TokenizerHandle;
}

export function buildOpenedModel(parts: ModelParts): OpenedModel {
  const byName = new Map(parts.tensors.map((tensor) => [tensor.name, tensor]));
  return {
    id: parts.target,
    path: parts.target,
    name: path.basename(parts.target),
    format: parts.format,
    files: parts.files,
    config: parts.config,
    tensors: parts.tensors,
    embeddings: parts.tensors.length > 0 ? findEmbeddingTensors(parts.tensors, parts.config) : { tied: false },
    tokenizer: parts.tokenizer,
    async readTensor(name) {
      const tensor = byName.get(name);
      if (!tensor) throw new ModelLensError('not-found', `has no tensor "${name}".`, parts.target);
      return readTensorAsFloat32(tensor);
    },
  };
}
