/**
 * What a model looks like from outside: the summary every client shows (tree view, CLI `inspect`, tests).
 */
import type { ModelDetails, ModelSummary, TensorSummary } from '../protocol';
import type { OpenedModel, TensorInfo } from '../registry/types';
import { isBackpackConfig } from './backpack/backpackConfig';

const tensorSummary = (tensor: TensorInfo): TensorSummary => ({
  name: tensor.name,
  dtype: tensor.dtype,
  shape: tensor.shape,
});

export function summariseModel(model: OpenedModel, active: boolean): ModelSummary {
  return {
    id: model.id,
    name: model.name,
    path: model.path,
    format: model.format,
    files: model.files,
    tokenizer: model.tokenizer?.facts,
    embeddings: {
      input: model.embeddings.input && tensorSummary(model.embeddings.input),
      output: model.embeddings.output && tensorSummary(model.embeddings.output),
      tied: model.embeddings.tied,
    },
    tensorCount: model.tensors.length,
    active,
    ...(model.format === 'huggingface' && isBackpackConfig(model.config) ? { backpack: true } : {}),
  };
}

export function describeModel(model: OpenedModel, active: boolean): ModelDetails {
  return { ...summariseModel(model, active), tensors: model.tensors.map(tensorSummary), config: model.config };
}
