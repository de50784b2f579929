/**
 * Loads a Hugging Face tokenizer (tokenizer.json, with tokenizer_config.json and special_tokens_map.json when they
 * sit beside it) into a TokenizerHandle. The files are read and checked here and handed to transformers.js as
 * objects, so nothing is fetched: transformers.js's hub code is never asked for a file, and remote loading is off.
 *
 * A file that is not a usable tokenizer.json gives a ModelLensError naming the file, what is wrong and what to do.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { env, PreTrainedTokenizer } from '@huggingface/transformers';
import { badInput, ModelLensError, unsupported } from '../errors';
import type { TokenizerHandle } from './tokenizer';
import { configTokenText, tokenizerInternals, TransformersTokenizer, type TransformersTokenizerOptions } from './transformersTokenizer';

// Offline, always: a tokenizer is built from the files the user opened, never from the network.
env.allowRemoteModels = false;
env.allowLocalModels = true;

/** tokenizer.json files above this size are refused before they are read. */
export const MAX_TOKENIZER_JSON_BYTES = 1024 ** 3;
/** tokenizer_config.json and special_tokens_map.json above this size are refused. */
export const MAX_CONFIG_JSON_BYTES = 64 * 1024 ** 2;

const MODEL_TYPES = new Set(['BPE', 'WordPiece', 'Unigram', 'WordLevel']);
const ROLE_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${bytes} bytes`;
}

async function statOrUndefined(file: string) {
  try {
    return await fs.stat(file);
  } catch {
    return undefined;
  }
}

/** Reads and parses a JSON file, with errors a person can act on. */
async function readJsonFile(file: string, maxBytes: number, what: string): Promise<unknown> {
  const stat = await statOrUndefined(file);
  if (!stat) throw new ModelLensError('not-found', `${what} does not exist`, file, 'Check the path.');
  if (!stat.isFile()) throw badInput(file, `${what} is not a regular file`);
  if (stat.size > maxBytes) {
    throw badInput(file, `${what} is ${formatBytes(stat.size)}, more than the ${formatBytes(maxBytes)} Model Lens reads`, 'This is not a tokenizer file a model would ship; check that the right file was opened.');
  }
  if (stat.size === 0) throw badInput(file, `${what} is empty (0 bytes)`, 'The download or copy may have failed; fetch the file again.');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw badInput(file, `${what} could not be read: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const message = (error as Error).message;
    const truncated = /end of (JSON )?input|Unterminated/i.test(message);
    throw badInput(
      file,
      truncated ? `${what} is not valid JSON: it ends early (${message}); the file looks truncated` : `${what} is not valid JSON: ${message}`,
      truncated ? 'The download or copy was probably cut short; fetch the file again.' : 'Open it in an editor to find the broken spot, or fetch the file again.',
    );
  }
}

/** What a JSON file that is not a tokenizer.json probably is, for the hint. */
function guessWhatItIs(json: unknown): string | undefined {
  if (Array.isArray(json)) return 'a JSON array';
  if (!isObject(json)) return `a JSON ${json === null ? 'null' : typeof json}`;
  if ('architectures' in json || 'model_type' in json || 'hidden_size' in json) return 'a model config.json';
  if ('weight_map' in json) return 'a safetensors index';
  if ('tokenizer_class' in json || 'added_tokens_decoder' in json) return 'a tokenizer_config.json';
  if ('bos_token' in json || 'eos_token' in json) return 'a special_tokens_map.json';
  const values = Object.values(json);
  if (values.length > 0 && values.slice(0, 20).every((v) => typeof v === 'number')) return 'a vocab.json (token → id)';
  return undefined;
}

/** Checks the shape transformers.js relies on, so a bad file fails here with a clear message, not deep inside. */
export function validateTokenizerJson(json: unknown, file: string): Json {
  if (!isObject(json) || !('model' in json)) {
    const seems = guessWhatItIs(json);
    throw badInput(
      file,
      `is not a tokenizer.json: it has no "model" section${seems ? ` (it looks like ${seems})` : ''}`,
      'Open the tokenizer.json that a Hugging Face tokenizer saves (tokenizer.save_pretrained writes one).',
    );
  }
  const model = json.model;
  if (!isObject(model)) throw badInput(file, 'the "model" section of tokenizer.json is not an object', 'Fetch the file again.');
  const type = model.type;
  if (type !== undefined && (typeof type !== 'string' || !MODEL_TYPES.has(type))) {
    throw badInput(
      file,
      `tokenizer.json has an unknown model type ${JSON.stringify(type)}`,
      `Model Lens reads ${[...MODEL_TYPES].join(', ')} tokenizers.`,
    );
  }
  const vocab = model.vocab;
  if (vocab === undefined) {
    throw badInput(file, `the ${type ? `${type} ` : ''}model in tokenizer.json has no "vocab"`, 'The file is incomplete; fetch it again.');
  }
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], …]
    for (let i = 0; i < vocab.length; i++) {
      const entry = vocab[i];
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        throw badInput(file, `Unigram vocab entry ${i} is not a [piece, score] pair`, 'The file is corrupt; fetch it again.');
      }
    }
  } else if (isObject(vocab)) {
    for (const piece in vocab) {
      const id = vocab[piece];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
        throw badInput(file, `vocab entry ${JSON.stringify(piece.slice(0, 40))} has id ${JSON.stringify(id)}, not a non-negative integer`, 'The file is corrupt; fetch it again.');
      }
    }
  } else {
    throw badInput(file, 'the "vocab" of the model in tokenizer.json is neither an object nor a list', 'The file is corrupt; fetch it again.');
  }
  if ((type === 'BPE' || (type === undefined && 'merges' in model)) && !Array.isArray(model.merges)) {
    throw badInput(file, 'the BPE model in tokenizer.json has no "merges" list', 'The file is incomplete; fetch it again.');
  }
  if (Array.isArray(model.merges)) {
    const merges: unknown[] = model.merges;
    for (let i = 0; i < merges.length; i++) {
      const merge = merges[i];
      const ok =
        typeof merge === 'string'
          ? merge.includes(' ')
          : Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string';
      if (!ok) throw badInput(file, `BPE merge ${i} is ${String(JSON.stringify(merge)).slice(0, 60)}, not "a b" or ["a", "b"]`, 'The file is corrupt; fetch it again.');
    }
  }
  const added = json.added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) throw badInput(file, '"added_tokens" in tokenizer.json is not a list', 'The file is corrupt; fetch it again.');
    added.forEach((token, i) => {
      if (!isObject(token) || typeof token.content !== 'string' || typeof token.id !== 'number' || !Number.isInteger(token.id) || token.id < 0) {
        throw badInput(file, `added token ${i} needs a string "content" and a non-negative integer "id"`, 'The file is corrupt; fetch it again.');
      }
    });
  }
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    const part = json[key];
    if (part !== undefined && part !== null && (!isObject(part) || typeof part.type !== 'string')) {
      throw badInput(file, `the "${key}" of tokenizer.json is not an object with a "type"`, 'The file is corrupt; fetch it again.');
    }
  }
  return json;
}

/**
 * tokenizer.json with the sections transformers.js requires filled in (older files omit some), so a minimal but
 * valid file loads.
 */
function completeTokenizerJson(json: Json): Json {
  return {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...json,
    added_tokens: Array.isArray(json.added_tokens) ? json.added_tokens : [],
  };
}

/** The config transformers.js expects: special tokens as plain strings ({content} objects are flattened). */
function completeConfig(tokenizerConfig: Json, specialTokensMap: Json): Json {
  const config: Json = { ...specialTokensMap, ...tokenizerConfig };
  for (const key of ROLE_KEYS) {
    if (!(key in config)) continue;
    const text = configTokenText(config[key]);
    if (text === undefined) delete config[key];
    else config[key] = text;
  }
  if ('additional_special_tokens' in config) {
    const list = config.additional_special_tokens;
    config.additional_special_tokens = Array.isArray(list) ? list.map(configTokenText).filter((t): t is string => t !== undefined) : [];
  }
  return config;
}

/** Builds a handle from tokenizer.json (and config) objects already in memory. `file` names them in errors. */
export function tokenizerFromJson(
  tokenizerJson: unknown,
  config: Json = {},
  file = 'tokenizer.json',
  options: TransformersTokenizerOptions = {},
): TokenizerHandle {
  const json = completeTokenizerJson(validateTokenizerJson(tokenizerJson, file));
  const fullConfig = completeConfig(config, {});
  let transformers: PreTrainedTokenizer;
  try {
    transformers = new PreTrainedTokenizer(json, fullConfig);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/Unknown (Normalizer|PreTokenizer|PostProcessor|Decoder|TokenizerModel) type/i.test(message)) {
      throw unsupported(file, `tokenizer.json uses a part transformers.js does not implement (${message})`, 'Model Lens cannot tokenize with this tokenizer.');
    }
    throw badInput(file, `tokenizer.json could not be built into a tokenizer: ${message}`, 'The file may be corrupt or from a newer tokenizers version.');
  }
  tokenizerInternals(transformers); // a transformers.js upgrade that breaks offsets is a bug, not a bad file
  try {
    return new TransformersTokenizer(transformers, json, fullConfig, options);
  } catch (error) {
    throw badInput(file, `tokenizer.json loaded but could not tokenize: ${error instanceof Error ? error.message : String(error)}`, 'The file may be corrupt or from a newer tokenizers version.');
  }
}

/** A tokenizer folder (tokenizer.json inside) or a tokenizer.json file. */
export async function loadTokenizer(target: string, options: TransformersTokenizerOptions = {}): Promise<TokenizerHandle> {
  const stat = await statOrUndefined(target);
  if (!stat) throw new ModelLensError('not-found', 'does not exist', target, 'Check the path.');

  let tokenizerFile: string;
  let folder: string | undefined;
  if (stat.isDirectory()) {
    folder = target;
    tokenizerFile = path.join(target, 'tokenizer.json');
    if (!(await statOrUndefined(tokenizerFile))) {
      const hasSentencePiece = await statOrUndefined(path.join(target, 'tokenizer.model'));
      const hasVocabTxt = await statOrUndefined(path.join(target, 'vocab.txt'));
      throw new ModelLensError(
        'not-found',
        'has no tokenizer.json',
        target,
        hasSentencePiece || hasVocabTxt
          ? `It has ${hasSentencePiece ? 'tokenizer.model' : 'vocab.txt'} only; save a fast tokenizer with transformers (AutoTokenizer.from_pretrained(...).save_pretrained(...)) to get tokenizer.json.`
          : 'Open a folder that holds tokenizer.json, or the tokenizer.json itself.',
      );
    }
  } else {
    tokenizerFile = target;
    // Config files beside a file named tokenizer.json belong to it; beside "other-tokenizer.json" they may not.
    if (path.basename(target) === 'tokenizer.json') folder = path.dirname(target);
  }

  const tokenizerJson = await readJsonFile(tokenizerFile, MAX_TOKENIZER_JSON_BYTES, 'tokenizer.json');
  validateTokenizerJson(tokenizerJson, tokenizerFile);

  let tokenizerConfig: Json = {};
  let specialTokensMap: Json = {};
  if (folder) {
    for (const [name, assign] of [
      ['tokenizer_config.json', (v: Json) => (tokenizerConfig = v)],
      ['special_tokens_map.json', (v: Json) => (specialTokensMap = v)],
    ] as const) {
      const file = path.join(folder, name);
      if (!(await statOrUndefined(file))) continue;
      const value = await readJsonFile(file, MAX_CONFIG_JSON_BYTES, name);
      if (!isObject(value)) throw badInput(file, `${name} is not a JSON object`, `Fix or remove ${name}; the tokenizer loads without it.`);
      assign(value);
    }
  }
  return tokenizerFromJson(tokenizerJson, completeConfig(tokenizerConfig, specialTokensMap), tokenizerFile, options);
}
