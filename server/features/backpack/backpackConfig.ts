/**
 * The shape of a Backpack language model (REFERENCES §2), read from a Hugging Face `config.json` whose `model_type`
 * is "backpack-gpt2". Everything else about the model (the tensor names and shapes) follows from these numbers.
 */
import { badInput, unsupported } from '../../errors';

export interface BackpackConfig {
  vocabSize: number;
  hidden: number;
  layers: number;
  /** GPT-2 attention heads in the contextualiser. */
  heads: number;
  positions: number;
  /** Sense vectors per word (also the weight network's head count). */
  senses: number;
  /** Width of the sense network's final MLP (sense_intermediate_scale × hidden). */
  senseIntermediate: number;
  /** Width of the GPT-2 and no-mix block MLPs (n_inner, 4 × hidden by default). */
  mlpIntermediate: number;
  layerNormEpsilon: number;
  /** GPT-2's `scale_attn_by_inverse_layer_idx`: layer i (from 0) also divides its scores by i + 1. */
  scaleAttentionByLayer: boolean;
}

export const BACKPACK_MODEL_TYPE = 'backpack-gpt2';

export function isBackpackConfig(config: Record<string, unknown> | undefined): boolean {
  if (!config) return false;
  if (config.model_type === BACKPACK_MODEL_TYPE) return true;
  const architectures = config.architectures;
  return Array.isArray(architectures) && architectures.some((name) => typeof name === 'string' && name.startsWith('BackpackGPT2'));
}

/** Validates a backpack-gpt2 config.json; every problem names the key and what it should be. */
export function parseBackpackConfig(config: Record<string, unknown>, file: string): BackpackConfig {
  const positive = (key: string, fallback?: number): number => {
    const value = config[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw badInput(file, `"${key}" must be a positive integer in a backpack-gpt2 config (found ${JSON.stringify(config[key])}).`, 'Check config.json against stanfordnlp/backpack-gpt2.');
    }
    return value;
  };
  const hidden = positive('n_embd');
  const heads = positive('n_head');
  const senses = positive('num_senses');
  const activation = config.activation_function ?? 'gelu_new';
  if (activation !== 'gelu_new') {
    throw unsupported(file, `activation_function "${String(activation)}" is not supported for Backpacks.`, 'backpack-gpt2 uses "gelu_new" (the tanh approximation of GELU).');
  }
  if (hidden % heads !== 0) throw badInput(file, `n_head (${heads}) does not divide n_embd (${hidden}).`, 'GPT-2 attention needs hidden = heads × head size.');
  if (hidden % senses !== 0) {
    throw badInput(file, `num_senses (${senses}) does not divide n_embd (${hidden}).`, 'The weight network splits the hidden size into one head per sense.');
  }
  const epsilon = config.layer_norm_epsilon ?? 1e-5;
  if (typeof epsilon !== 'number' || !(epsilon > 0)) throw badInput(file, `"layer_norm_epsilon" must be a positive number.`);
  const nInner = config.n_inner;
  return {
    vocabSize: positive('vocab_size'),
    hidden,
    layers: positive('n_layer'),
    heads,
    positions: positive('n_positions', typeof config.n_ctx === 'number' ? config.n_ctx : undefined),
    senses,
    senseIntermediate: positive('sense_intermediate_scale', 4) * hidden,
    mlpIntermediate: nInner === null || nInner === undefined ? 4 * hidden : positive('n_inner'),
    layerNormEpsilon: epsilon,
    scaleAttentionByLayer: config.scale_attn_by_inverse_layer_idx !== false,
  };
}

/** The config.json a Backpack with this shape is described by (for fixtures and exports). */
export function backpackConfigJson(config: BackpackConfig): Record<string, unknown> {
  return {
    architectures: ['BackpackGPT2LMHeadModel'],
    model_type: BACKPACK_MODEL_TYPE,
    vocab_size: config.vocabSize,
    n_embd: config.hidden,
    n_layer: config.layers,
    n_head: config.heads,
    n_positions: config.positions,
    num_senses: config.senses,
    sense_intermediate_scale: config.senseIntermediate / config.hidden,
    n_inner: config.mlpIntermediate === 4 * config.hidden ? null : config.mlpIntermediate,
    layer_norm_epsilon: config.layerNormEpsilon,
    scale_attn_by_inverse_layer_idx: config.scaleAttentionByLayer,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
  };
}
