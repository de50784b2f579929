/**
 * The tensors of a Backpack, by their reference names (the Hugging Face `BackpackGPT2LMHeadModel` state dict), with
 * the shapes the config implies. Loading checks every name and shape before any forward pass is built, so a
 * mismatched checkpoint fails with a message that names the tensor, never with a shape error deep inside ONNX Runtime.
 *
 * Layouts: GPT-2 `Conv1D` weights (c_attn, c_proj, c_fc, also in the sense network) are [in, out], applied as x·W + b;
 * the weight network's `c_attn` is an `nn.Linear`, [out, in], applied as x·Wᵀ + b.
 */
import { badInput } from '../../errors';
import type { OpenedModel, TensorInfo } from '../../registry/types';
import type { BackpackConfig } from './backpackConfig';

export const WORD_EMBEDDING = 'backpack.gpt2_model.wte.weight';
export const POSITION_EMBEDDING = 'backpack.gpt2_model.wpe.weight';

/** Names that may stand for a tensor in some exports. */
const ALIASES: Readonly<Record<string, readonly string[]>> = {
  [WORD_EMBEDDING]: ['backpack.word_embeddings.weight'],
  [POSITION_EMBEDDING]: ['backpack.position_embeddings.weight'],
};

export interface BackpackTensorSpec {
  name: string;
  shape: number[];
  /** How a fixture initialises it: norm gains are ones, biases and weights small random values. */
  kind: 'gain' | 'bias' | 'weight' | 'embedding';
}

const gpt2Block = (i: number, c: BackpackConfig): BackpackTensorSpec[] => {
  const p = `backpack.gpt2_model.h.${i}`;
  const d = c.hidden;
  return [
    { name: `${p}.ln_1.weight`, shape: [d], kind: 'gain' },
    { name: `${p}.ln_1.bias`, shape: [d], kind: 'bias' },
    { name: `${p}.attn.c_attn.weight`, shape: [d, 3 * d], kind: 'weight' },
    { name: `${p}.attn.c_attn.bias`, shape: [3 * d], kind: 'bias' },
    { name: `${p}.attn.c_proj.weight`, shape: [d, d], kind: 'weight' },
    { name: `${p}.attn.c_proj.bias`, shape: [d], kind: 'bias' },
    { name: `${p}.ln_2.weight`, shape: [d], kind: 'gain' },
    { name: `${p}.ln_2.bias`, shape: [d], kind: 'bias' },
    { name: `${p}.mlp.c_fc.weight`, shape: [d, c.mlpIntermediate], kind: 'weight' },
    { name: `${p}.mlp.c_fc.bias`, shape: [c.mlpIntermediate], kind: 'bias' },
    { name: `${p}.mlp.c_proj.weight`, shape: [c.mlpIntermediate, d], kind: 'weight' },
    { name: `${p}.mlp.c_proj.bias`, shape: [d], kind: 'bias' },
  ];
};

/** Every tensor a backpack-gpt2 forward pass reads, in a stable order. */
export function backpackTensorSpecs(c: BackpackConfig): BackpackTensorSpec[] {
  const d = c.hidden;
  const s = 'backpack.sense_network';
  return [
    { name: WORD_EMBEDDING, shape: [c.vocabSize, d], kind: 'embedding' },
    { name: POSITION_EMBEDDING, shape: [c.positions, d], kind: 'embedding' },
    ...Array.from({ length: c.layers }, (_, i) => gpt2Block(i, c)).flat(),
    { name: 'backpack.gpt2_model.ln_f.weight', shape: [d], kind: 'gain' },
    { name: 'backpack.gpt2_model.ln_f.bias', shape: [d], kind: 'bias' },
    { name: `${s}.ln.weight`, shape: [d], kind: 'gain' },
    { name: `${s}.ln.bias`, shape: [d], kind: 'bias' },
    { name: `${s}.block.ln_1.weight`, shape: [d], kind: 'gain' },
    { name: `${s}.block.ln_1.bias`, shape: [d], kind: 'bias' },
    { name: `${s}.block.mlp.c_fc.weight`, shape: [d, c.mlpIntermediate], kind: 'weight' },
    { name: `${s}.block.mlp.c_fc.bias`, shape: [c.mlpIntermediate], kind: 'bias' },
    { name: `${s}.block.mlp.c_proj.weight`, shape: [c.mlpIntermediate, d], kind: 'weight' },
    { name: `${s}.block.mlp.c_proj.bias`, shape: [d], kind: 'bias' },
    { name: `${s}.block.ln_2.weight`, shape: [d], kind: 'gain' },
    { name: `${s}.block.ln_2.bias`, shape: [d], kind: 'bias' },
    { name: `${s}.final_mlp.c_fc.weight`, shape: [d, c.senseIntermediate], kind: 'weight' },
    { name: `${s}.final_mlp.c_fc.bias`, shape: [c.senseIntermediate], kind: 'bias' },
    { name: `${s}.final_mlp.c_proj.weight`, shape: [c.senseIntermediate, c.senses * d], kind: 'weight' },
    { name: `${s}.final_mlp.c_proj.bias`, shape: [c.senses * d], kind: 'bias' },
    { name: 'backpack.sense_weight_net.c_attn.weight', shape: [2 * d, d], kind: 'weight' },
    { name: 'backpack.sense_weight_net.c_attn.bias', shape: [2 * d], kind: 'bias' },
  ];
}

/** A Backpack's weights as float32, keyed by reference name. One copy; ONNX Runtime reads them without copying. */
export interface BackpackWeights {
  config: BackpackConfig;
  tensors: ReadonlyMap<string, Float32Array>;
}

export function weight(weights: BackpackWeights, name: string): Float32Array {
  const tensor = weights.tensors.get(name);
  if (!tensor) throw new Error(`Backpack weight ${name} was not loaded`);
  return tensor;
}

/** Finds each required tensor (or its alias) and checks its shape; all problems are reported together. */
export function locateBackpackTensors(model: Pick<OpenedModel, 'path' | 'tensors'>, config: BackpackConfig): Map<string, TensorInfo> {
  const byName = new Map(model.tensors.map((t) => [t.name, t]));
  const found = new Map<string, TensorInfo>();
  const missing: string[] = [];
  const wrongShape: string[] = [];
  for (const spec of backpackTensorSpecs(config)) {
    const info = [spec.name, ...(ALIASES[spec.name] ?? [])].map((name) => byName.get(name)).find((t) => t !== undefined);
    if (!info) {
      missing.push(spec.name);
      continue;
    }
    if (info.shape.length !== spec.shape.length || info.shape.some((n, i) => n !== spec.shape[i])) {
      wrongShape.push(`${info.name} is [${info.shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
      continue;
    }
    found.set(spec.name, info);
  }
  if (missing.length > 0 || wrongShape.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing ${missing.length} tensor(s): ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', …' : ''}`);
    if (wrongShape.length > 0) parts.push(`wrong shapes: ${wrongShape.slice(0, 3).join('; ')}${wrongShape.length > 3 ? '; …' : ''}`);
    throw badInput(
      model.path,
      `is not a complete backpack-gpt2 checkpoint for its config.json (${parts.join('; ')}).`,
      'Check that config.json matches the weights (vocab_size, n_embd, n_layer, num_senses) and that the safetensors use the reference parameter names.',
    );
  }
  return found;
}

/** Reads every tensor as float32 (F16/BF16 checkpoints are widened once). */
export async function loadBackpackWeights(model: OpenedModel, config: BackpackConfig): Promise<BackpackWeights> {
  const located = locateBackpackTensors(model, config);
  const tensors = new Map<string, Float32Array>();
  for (const [name, info] of located) tensors.set(name, await model.readTensor(info.name));
  return { config, tensors };
}
