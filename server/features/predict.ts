/**
 * The next-token distribution after a text, for any causal language model Model Lens can run (see
 * probes/causalLanguageModel.ts: Backpacks built in). Shared by `model-lens predict` and the server.
 */
import { ModelLensError } from '../errors';
import { softmaxInPlace, topIndices } from '../kernels/linalg';
import type { OpenedModel } from '../registry/types';
import { openCausalLanguageModel } from './probes/causalLanguageModel';

export interface NextTokenPrediction {
  modelId: string;
  text: string;
  tokens: { id: number; text: string }[];
  next: { id: number; token: string; probability: number; logit: number }[];
}

export async function predictNextToken(model: OpenedModel, text: string, top = 10): Promise<NextTokenPrediction> {
  const lm = await openCausalLanguageModel(model);
  const tokens = lm.tokenizer.tokenize(text);
  if (tokens.length === 0) throw new ModelLensError('usage', 'there is no text to predict from: give at least one token of text.');
  const logits = await lm.nextTokenLogits(tokens.map((t) => t.id));
  const probabilities = softmaxInPlace(Float32Array.from(logits));
  const order = topIndices(logits, Math.max(1, top));
  return {
    modelId: model.id,
    text,
    tokens: tokens.map((t) => ({ id: t.id, text: t.text })),
    next: order.map((id) => ({ id, token: lm.tokenizer.decode([id]), probability: probabilities[id], logit: logits[id] })),
  };
}
