/**
 * Finds the input embedding and the output head among a checkpoint's tensors: first by the names that common
 * architectures use, then by shape [vocab_size, hidden_size] taken from config.json. Pure: no I/O.
 */
import type { EmbeddingTensors, TensorInfo } from '../registry/types';

/** Input embedding names, most specific first. */
export const INPUT_EMBEDDING_NAMES: readonly string[] = [
  'model.embed_tokens.weight', // Llama, Mistral, Qwen, Gemma (text), Phi-3, OLMo
  'model.language_model.embed_tokens.weight', // Gemma 3 / Llava style multimodal (new transformers layout)
  'language_model.model.embed_tokens.weight', // the same, older layout
  'transformer.wte.weight', // GPT-2, GPT-J, Falcon-RW, CodeGen
  'gpt_neox.embed_in.weight', // Pythia, GPT-NeoX
  'transformer.word_embeddings.weight', // BLOOM, Falcon
  'transformer.embedding.word_embeddings.weight', // ChatGLM
  'model.decoder.embed_tokens.weight', // OPT
  'backpack.gpt2_model.wte.weight', // Backpack LMs
  'embeddings.word_embeddings.weight', // BERT family without prefix
  'bert.embeddings.word_embeddings.weight',
  'roberta.embeddings.word_embeddings.weight',
  'shared.weight', // T5, BART (shared encoder/decoder embedding)
  'model.shared.weight',
  'tok_embeddings.weight', // Meta's original Llama layout
  'token_embd.weight', // GGUF
  'wte.weight',
  'embed_tokens.weight',
  'word_embeddings.weight',
  'embed_in.weight',
];

/** Tails that mark an input embedding under an unknown prefix, e.g. "my_model.embed_tokens.weight". */
const INPUT_EMBEDDING_TAILS: readonly string[] = [
  'embed_tokens.weight',
  'wte.weight',
  'word_embeddings.weight',
  'embed_in.weight',
  'tok_embeddings.weight',
  'token_embd.weight',
];

/** Output head names, most specific first. */
export const OUTPUT_HEAD_NAMES: readonly string[] = [
  'lm_head.weight',
  'embed_out.weight', // GPT-NeoX
  'output.weight', // Meta's original Llama layout, GGUF
  'language_model.lm_head.weight',
  'model.lm_head.weight',
];

/** Parts of a name that mean "not the text token embedding" (vision towers, positions, token types). */
const NOT_TOKEN_EMBEDDING = /(vision|visual|image|audio|speech|position|pos_emb|wpe|token_type|patch)/i;

export interface EmbeddingDims {
  vocabSize?: number;
  hiddenSize?: number;
}

const VOCAB_KEYS = ['vocab_size', 'n_vocab', 'padded_vocab_size'];
const HIDDEN_KEYS = ['hidden_size', 'n_embd', 'd_model', 'dim', 'embed_dim'];

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

function firstPositiveInteger(config: Record<string, unknown>, keys: readonly string[]): number | undefined {
  for (const key of keys) {
    const value = positiveInteger(config[key]);
    if (value !== undefined) return value;
  }
  return undefined;
}

function textConfig(config: Record<string, unknown>): Record<string, unknown> | undefined {
  const nested = config.text_config;
  return typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? (nested as Record<string, unknown>) : undefined;
}

/** vocab_size and hidden size from a config.json, top level first, then `text_config`. Garbage values are ignored. */
export function embeddingDimsFromConfig(config?: Record<string, unknown>): EmbeddingDims {
  if (!config || typeof config !== 'object') return {};
  const nested = textConfig(config);
  return {
    vocabSize: firstPositiveInteger(config, VOCAB_KEYS) ?? (nested ? firstPositiveInteger(nested, VOCAB_KEYS) : undefined),
    hiddenSize: firstPositiveInteger(config, HIDDEN_KEYS) ?? (nested ? firstPositiveInteger(nested, HIDDEN_KEYS) : undefined),
  };
}

/** config.tie_word_embeddings (or text_config's) when it is a boolean. */
function tieWordEmbeddings(config?: Record<string, unknown>): boolean | undefined {
  if (!config) return undefined;
  if (typeof config.tie_word_embeddings === 'boolean') return config.tie_word_embeddings;
  const nested = textConfig(config);
  return nested && typeof nested.tie_word_embeddings === 'boolean' ? nested.tie_word_embeddings : undefined;
}

function is2d(tensor: TensorInfo): boolean {
  return Array.isArray(tensor.shape) && tensor.shape.length === 2 && tensor.shape[0] > 0 && tensor.shape[1] > 0;
}

/** When dims are known, a candidate must agree with them; unknown dims accept anything 2-D. */
function fitsDims(tensor: TensorInfo, dims: EmbeddingDims): boolean {
  return (dims.hiddenSize === undefined || tensor.shape[1] === dims.hiddenSize) && (dims.vocabSize === undefined || tensor.shape[0] === dims.vocabSize);
}

function byExactName(byName: ReadonlyMap<string, TensorInfo>, names: readonly string[]): TensorInfo | undefined {
  for (const name of names) {
    const tensor = byName.get(name);
    if (tensor && is2d(tensor)) return tensor;
  }
  return undefined;
}

/** Tensors ending in ".<tail>", preferring those that fit the config's dims, then the shortest name. */
function byTail(tensors: readonly TensorInfo[], tails: readonly string[], dims: EmbeddingDims, exclude: ReadonlySet<string>): TensorInfo | undefined {
  const candidates = tensors.filter(
    (t) => is2d(t) && !exclude.has(t.name) && !NOT_TOKEN_EMBEDDING.test(t.name) && tails.some((tail) => t.name.endsWith(`.${tail}`)),
  );
  candidates.sort((a, b) => Number(fitsDims(b, dims)) - Number(fitsDims(a, dims)) || a.name.length - b.name.length);
  return candidates[0];
}

/** 2-D tensors of exactly [vocab, hidden], preferring names that say "embed". */
function byShape(tensors: readonly TensorInfo[], dims: EmbeddingDims, exclude: ReadonlySet<string>): TensorInfo | undefined {
  if (dims.vocabSize === undefined || dims.hiddenSize === undefined) return undefined;
  const candidates = tensors.filter(
    (t) => is2d(t) && !exclude.has(t.name) && t.shape[0] === dims.vocabSize && t.shape[1] === dims.hiddenSize && !NOT_TOKEN_EMBEDDING.test(t.name),
  );
  const looksLikeEmbedding = (t: TensorInfo) => /emb|wte|tok/i.test(t.name);
  return candidates.find(looksLikeEmbedding) ?? candidates[0];
}

/**
 * The input embedding and output head of a checkpoint.
 * - Input: a known name, else a known tail under another prefix, else the tensor shaped [vocab_size, hidden_size].
 * - Output: lm_head.weight, embed_out.weight or output.weight (2-D, not the input itself).
 * - Tied when there is an input and no head, unless config.tie_word_embeddings is explicitly false (then the head is
 *   simply missing, e.g. a base model saved without it).
 */
export function findEmbeddingTensors(tensors: readonly TensorInfo[], config?: Record<string, unknown>): EmbeddingTensors {
  const dims = embeddingDimsFromConfig(config);
  const byName = new Map(tensors.map((t) => [t.name, t] as const));
  const headNames = new Set(OUTPUT_HEAD_NAMES);

  const output =
    byExactName(byName, OUTPUT_HEAD_NAMES) ??
    byTail(tensors, ['lm_head.weight'], dims, new Set<string>());
  const exclude = new Set<string>([...headNames, ...(output ? [output.name] : [])]);

  const input =
    byExactName(byName, INPUT_EMBEDDING_NAMES) ?? byTail(tensors, INPUT_EMBEDDING_TAILS, dims, exclude) ?? byShape(tensors, dims, exclude);

  if (output && input && output.name === input.name) return { input, tied: true };
  if (output) return { input, output, tied: false };
  const tied = input !== undefined && tieWordEmbeddings(config) !== false;
  return { input, tied };
}
