/**
 * A GGUF file's vocabulary (`tokenizer.ggml.*`) as a tokenizer.json, so the one transformers.js-based tokenizer
 * (with offsets, piece bytes and special tokens) serves GGUF models too.
 *
 * - `llama` (SentencePiece BPE, as llama.cpp's SPM tokenizer): pieces with "▁" for spaces and `<0xNN>` byte
 *   fallback. llama.cpp merges the adjacent pair whose concatenation has the best score; the same result comes from a
 *   BPE whose merges are every split of every normal piece into two pieces, ranked by the merged piece's score (how
 *   Hugging Face converts SentencePiece models). A space is prepended unless `add_space_prefix` is false.
 * - `gpt2` (byte-level BPE): the merges list as is, with the pre-tokenizer regex that `tokenizer.ggml.pre` names
 *   (GPT-2's, Llama 3's, Qwen 2's; others fall back to GPT-2's and say so in `notes`).
 *
 * Token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. Control and unknown
 * tokens become special added tokens; user-defined ones become non-special added tokens.
 */
import { badInput, unsupported } from '../errors';
import { tokenizerFromJson } from './loadTokenizer';
import type { TokenizerHandle } from './tokenizer';

export interface GgufVocabulary {
  /** tokenizer.ggml.model: "llama", "gpt2", ... */
  model: string;
  /** tokenizer.ggml.pre, e.g. "llama-bpe", "qwen2", "default". */
  pre?: string;
  tokens: readonly string[];
  tokenTypes?: ArrayLike<number>;
  scores?: ArrayLike<number>;
  merges?: readonly string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos?: boolean;
  addEos?: boolean;
  addSpacePrefix?: boolean;
}

export interface GgufTokenizerJson {
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json-like: bos_token, eos_token, unk_token, pad_token as strings. */
  config: Record<string, unknown>;
  /** Approximations made, for the model's summary. */
  notes: string[];
}

const TOKEN_TYPE_NORMAL = 1;
const TOKEN_TYPE_UNKNOWN = 2;
const TOKEN_TYPE_CONTROL = 3;
const TOKEN_TYPE_USER_DEFINED = 4;
const TOKEN_TYPE_BYTE = 6;

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Pre-tokenizer regexes by `tokenizer.ggml.pre`, and whether whole words in the vocabulary skip the merges. */
const PRE_TOKENIZERS: Readonly<Record<string, { regex: string; ignoreMerges: boolean }>> = {
  'llama-bpe': { regex: LLAMA3_REGEX, ignoreMerges: true },
  llama3: { regex: LLAMA3_REGEX, ignoreMerges: true },
  'smaug-bpe': { regex: LLAMA3_REGEX, ignoreMerges: false },
  qwen2: { regex: QWEN2_REGEX, ignoreMerges: false },
  'deepseek-r1-qwen': { regex: QWEN2_REGEX, ignoreMerges: false },
};

const typeOf = (vocab: GgufVocabulary, id: number) => (vocab.tokenTypes ? vocab.tokenTypes[id] : TOKEN_TYPE_NORMAL);

function checkLengths(vocab: GgufVocabulary, file: string): void {
  const n = vocab.tokens.length;
  if (n === 0) throw badInput(file, 'tokenizer.ggml.tokens is empty', 'The GGUF file has no vocabulary; convert the model again.');
  for (const [name, list] of [['token_type', vocab.tokenTypes], ['scores', vocab.scores]] as const) {
    if (list && list.length !== n) {
      throw badInput(file, `tokenizer.ggml.${name} has ${list.length} entries but tokenizer.ggml.tokens has ${n}`, 'The GGUF vocabulary is inconsistent; convert the model again.');
    }
  }
  for (const [name, id] of [['bos', vocab.bosId], ['eos', vocab.eosId], ['unknown', vocab.unkId], ['padding', vocab.padId]] as const) {
    if (id !== undefined && (!Number.isSafeInteger(id) || id < 0 || id >= n)) {
      throw badInput(file, `tokenizer.ggml.${name}_token_id is ${id}, outside the vocabulary of ${n} tokens`, 'The GGUF vocabulary is inconsistent; convert the model again.');
    }
  }
}

/** token → first id, as an object with no prototype keys ("__proto__" is a token like any other). */
function vocabObject(tokens: readonly string[]): Record<string, number> {
  const vocab: Record<string, number> = {};
  for (let id = 0; id < tokens.length; id++) {
    const token = tokens[id];
    if (!Object.prototype.hasOwnProperty.call(vocab, token)) {
      Object.defineProperty(vocab, token, { value: id, enumerable: true, writable: true, configurable: true });
    }
  }
  return vocab;
}

function addedTokens(vocab: GgufVocabulary): Record<string, unknown>[] {
  const added: Record<string, unknown>[] = [];
  vocab.tokens.forEach((content, id) => {
    const type = typeOf(vocab, id);
    const special = type === TOKEN_TYPE_CONTROL || type === TOKEN_TYPE_UNKNOWN;
    if (!special && type !== TOKEN_TYPE_USER_DEFINED) return;
    if (content.length === 0) return;
    added.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
  });
  return added;
}

/**
 * BPE merges from SentencePiece scores: every split of every normal piece into two pieces of the vocabulary, best
 * merged score first (ties: lower left id, then lower right id). This is llama.cpp's SPM order.
 */
export function mergesFromScores(tokens: readonly string[], scores: ArrayLike<number>, types?: ArrayLike<number>): [string, string][] {
  const mergeable = new Map<string, number>();
  for (let id = 0; id < tokens.length; id++) {
    const type = types ? types[id] : TOKEN_TYPE_NORMAL;
    if ((type === TOKEN_TYPE_NORMAL || type === TOKEN_TYPE_USER_DEFINED) && !mergeable.has(tokens[id])) mergeable.set(tokens[id], id);
  }
  const found: { left: string; right: string; score: number; leftId: number; rightId: number }[] = [];
  for (const [piece, id] of mergeable) {
    if (piece.length < 2) continue;
    const codePoints = Array.from(piece);
    if (codePoints.length < 2) continue;
    let left = '';
    for (let i = 1; i < codePoints.length; i++) {
      left += codePoints[i - 1];
      const right = piece.slice(left.length);
      const leftId = mergeable.get(left);
      const rightId = mergeable.get(right);
      if (leftId !== undefined && rightId !== undefined) {
        found.push({ left, right, score: Number(scores[id]), leftId, rightId });
      }
    }
  }
  found.sort((a, b) => b.score - a.score || a.leftId - b.leftId || a.rightId - b.rightId);
  return found.map((m) => [m.left, m.right]);
}

/** GGUF merges ("a b", split at the first space after the first character, as llama.cpp does). */
function parseMerges(merges: readonly string[], file: string): [string, string][] {
  return merges.map((merge, i) => {
    const at = merge.indexOf(' ', 1);
    if (at < 0) throw badInput(file, `tokenizer.ggml.merges entry ${i} ${JSON.stringify(merge.slice(0, 40))} is not "left right"`, 'The GGUF vocabulary is corrupt; convert the model again.');
    return [merge.slice(0, at), merge.slice(at + 1)];
  });
}

function templateProcessor(vocab: GgufVocabulary, addBos: boolean, addEos: boolean): Record<string, unknown> | null {
  const bos = addBos && vocab.bosId !== undefined ? vocab.tokens[vocab.bosId] : undefined;
  const eos = addEos && vocab.eosId !== undefined ? vocab.tokens[vocab.eosId] : undefined;
  if (bos === undefined && eos === undefined) return null;
  const single: unknown[] = [];
  const specialTokens: Record<string, unknown> = {};
  if (bos !== undefined) {
    single.push({ SpecialToken: { id: bos, type_id: 0 } });
    specialTokens[bos] = { id: bos, ids: [vocab.bosId], tokens: [bos] };
  }
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  if (eos !== undefined) {
    single.push({ SpecialToken: { id: eos, type_id: 0 } });
    specialTokens[eos] = { id: eos, ids: [vocab.eosId], tokens: [eos] };
  }
  const pair = [...single, ...single.map((part) => JSON.parse(JSON.stringify(part).replace('"A"', '"B"').replace('"type_id":0', '"type_id":1')))];
  return { type: 'TemplateProcessing', single, pair, special_tokens: specialTokens };
}

/** The config beside the tokenizer.json: the role tokens as strings. */
function roleConfig(vocab: GgufVocabulary): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const set = (key: string, id: number | undefined) => {
    if (id !== undefined) config[key] = vocab.tokens[id];
  };
  set('bos_token', vocab.bosId);
  set('eos_token', vocab.eosId);
  set('unk_token', vocab.unkId);
  set('pad_token', vocab.padId);
  return config;
}

/** Converts a GGUF vocabulary to tokenizer.json objects. Pure; `file` names the GGUF file in errors. */
export function ggufTokenizerJson(vocab: GgufVocabulary, file = 'model.gguf'): GgufTokenizerJson {
  checkLengths(vocab, file);
  const notes: string[] = [];
  const base = { version: '1.0', truncation: null, padding: null, added_tokens: addedTokens(vocab) };
  if (vocab.model === 'llama') {
    const merges = vocab.merges && vocab.merges.length > 0 ? parseMerges(vocab.merges, file) : mergesFromScores(vocab.tokens, vocab.scores ?? Array.from(vocab.tokens, (_, i) => -i), vocab.tokenTypes);
    if (!vocab.scores && !vocab.merges) notes.push('tokenizer.ggml.scores is missing: pieces ranked by id instead');
    const hasBytes = vocab.tokens.some((token, id) => typeOf(vocab, id) === TOKEN_TYPE_BYTE || /^<0x[0-9A-F]{2}>$/.test(token));
    const unkId = vocab.unkId ?? vocab.tokens.findIndex((_, id) => typeOf(vocab, id) === TOKEN_TYPE_UNKNOWN);
    const spacePrefix = vocab.addSpacePrefix !== false;
    const replace = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
    const tokenizerJson = {
      ...base,
      normalizer: spacePrefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, replace] } : replace,
      pre_tokenizer: null,
      post_processor: templateProcessor(vocab, vocab.addBos ?? true, vocab.addEos ?? false),
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          ...(spacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: unkId >= 0 ? vocab.tokens[unkId] : null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: hasBytes,
        ignore_merges: false,
        vocab: vocabObject(vocab.tokens),
        merges,
      },
    };
    const config = roleConfig({ ...vocab, unkId: unkId >= 0 ? unkId : undefined });
    return { tokenizerJson, config, notes };
  }
  if (vocab.model === 'gpt2') {
    if (!vocab.merges || vocab.merges.length === 0) {
      throw badInput(file, 'the gpt2-style vocabulary has no tokenizer.ggml.merges', 'A byte-level BPE cannot tokenize without its merges; convert the model again.');
    }
    const pre = vocab.pre ?? 'default';
    const known = PRE_TOKENIZERS[pre];
    if (!known && pre !== 'default' && pre !== 'gpt2' && pre !== 'gpt-2') notes.push(`pre-tokenizer "${pre}" is not known to Model Lens: GPT-2's regex is used, so splits may differ`);
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: !known };
    const tokenizerJson = {
      ...base,
      normalizer: null,
      pre_tokenizer: known
        ? { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: known.regex }, behavior: 'Isolated', invert: false }, byteLevel] }
        : byteLevel,
      post_processor: templateProcessor(vocab, vocab.addBos ?? false, vocab.addEos ?? false),
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: known?.ignoreMerges ?? false,
        vocab: vocabObject(vocab.tokens),
        merges: parseMerges(vocab.merges, file),
      },
    };
    return { tokenizerJson, config: roleConfig(vocab), notes };
  }
  throw unsupported(
    file,
    `the vocabulary is of type "${vocab.model}" (tokenizer.ggml.model); Model Lens tokenizes "llama" (SentencePiece) and "gpt2" (byte-level BPE) vocabularies`,
    'Open the original model\'s tokenizer.json to tokenize with it.',
  );
}

/** A TokenizerHandle for a GGUF vocabulary. */
export function ggufTokenizer(vocab: GgufVocabulary, file = 'model.gguf'): { tokenizer: TokenizerHandle; notes: string[] } {
  const { tokenizerJson, config, notes } = ggufTokenizerJson(vocab, file);
  return { tokenizer: tokenizerFromJson(tokenizerJson, config, file), notes };
}
