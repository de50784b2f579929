/**
 * Causal language models in ONNX that transformers.js can run: a Hugging Face folder with config.json (a model_type
 * transformers.js knows, e.g. gpt2, llama, qwen2), a tokenizer, and onnx/model.onnx taking `input_ids` (and optionally
 * `attention_mask` / `position_ids`) and returning `logits`. Loaded offline (remote models off); each call runs the
 * whole prompt, with no cache, which is what next-token probes need.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { badInput } from '../../errors';
import type { OpenedModel } from '../../registry/types';
import { isBackpackConfig } from '../backpack/backpackConfig';
import type { CausalLanguageModel, CausalLanguageModelRunner } from '../probes/causalLanguageModel';

/** The model folder for an opened model: the folder itself, or the parent of an opened onnx/model.onnx. */
function modelFolder(model: OpenedModel): string | undefined {
  if (model.format === 'huggingface') return model.path;
  if (model.format === 'onnx' && path.basename(path.dirname(model.path)) === 'onnx') return path.dirname(path.dirname(model.path));
  return undefined;
}

export const transformersJsRunner: CausalLanguageModelRunner = {
  description: 'causal LMs in ONNX that transformers.js runs (config.json + onnx/model.onnx)',
  canRun(model) {
    const folder = modelFolder(model);
    if (!folder || isBackpackConfig(model.config)) return false;
    return existsSync(path.join(folder, 'onnx', 'model.onnx')) && existsSync(path.join(folder, 'config.json'));
  },
  async open(model): Promise<CausalLanguageModel> {
    const folder = modelFolder(model)!;
    const tokenizer = model.tokenizer;
    if (!tokenizer) throw badInput(model.path, 'has no tokenizer.json, which a language model needs to turn text into ids.', 'Put the model tokenizer.json beside config.json.');
    const transformers = await import('@huggingface/transformers');
    transformers.env.allowRemoteModels = false;
    transformers.env.allowLocalModels = true;
    transformers.env.localModelPath = `${path.dirname(folder)}${path.sep}`;
    let lm: Awaited<ReturnType<typeof transformers.AutoModelForCausalLM.from_pretrained>>;
    try {
      lm = await transformers.AutoModelForCausalLM.from_pretrained(path.basename(folder), { local_files_only: true, dtype: 'fp32' });
    } catch (error) {
      throw badInput(folder, `transformers.js could not load this model (${error instanceof Error ? error.message : String(error)}).`, 'Check config.json model_type and onnx/model.onnx (fp32, inputs input_ids/attention_mask, output logits).');
    }
    // Keep prompts within the model's context (the last tokens matter for the next one).
    const config = model.config ?? {};
    const context = [config.n_positions, config.max_position_embeddings, config.n_ctx].find((n): n is number => typeof n === 'number' && n > 0);
    return {
      tokenizer,
      async nextTokenLogits(allIds) {
        const ids = context === undefined ? allIds : allIds.slice(-context);
        const length = ids.length;
        const inputIds = new transformers.Tensor('int64', BigInt64Array.from(ids.map((id) => BigInt(id))), [1, length]);
        const attentionMask = new transformers.Tensor('int64', new BigInt64Array(length).fill(1n), [1, length]);
        const output = (await lm({ input_ids: inputIds, attention_mask: attentionMask })) as { logits: { data: Float32Array; dims: number[] } };
        const vocab = output.logits.dims[2];
        return output.logits.data.slice((length - 1) * vocab, length * vocab);
      },
    };
  },
};
