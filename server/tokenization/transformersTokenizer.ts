/**
 * A TokenizerHandle on a transformers.js tokenizer, with character offsets.
 *
 * transformers.js (`Tokenizer.encode_text`) splits the text on added tokens, normalizes each section, pre-tokenizes
 * it and runs the model, keeping no offsets. `encodeWithSpans` runs the same steps, calling transformers.js's own
 * splitter, normalizer, pre-tokenizer, model and post-processor in the same order (so the ids are exactly its ids),
 * while recording where every section sits in the input; normalizeAligned.ts and offsets.ts place the tokens inside
 * a section. The tests check the ids against transformers.js's `encode` and the Rust tokenizers.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import type { TokenizeOptions, TokenizerFacts, TokenizerHandle, TokenSpan } from './tokenizer';
import { normalizeAligned, originalRange, type NormalizeStep } from './normalizeAligned';
import { placePieces } from './offsets';
import { addedTokenBytes, flattenComponents, pieceBytes, pieceSchemeOf, type PieceScheme } from './pieceBytes';
import { LruCache } from './lruCache';
import { utf8, wellFormed } from './utf8';

// ---- the parts of transformers.js's Tokenizer (from @huggingface/tokenizers, bundled in transformers 4.3) --------

interface TjsAddedToken {
  content: string;
  id: number;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

interface TjsNormalizer {
  (text: string): string;
  config?: Record<string, unknown> | null;
  normalize(text: string): string;
  normalizers?: (TjsNormalizer | null)[];
  pattern?: RegExp | null;
}

interface TjsModel {
  (pieces: string[]): string[];
  tokens_to_ids: Map<string, number>;
  vocab: (string | undefined)[];
  unk_token_id?: number;
  unk_token?: string | null;
}

interface TjsTokenizer {
  splitter_unnormalized: { split(text: string): string[] };
  splitter_normalized: { split(text: string): string[] };
  added_tokens_map: Map<string, TjsAddedToken>;
  added_tokens: TjsAddedToken[];
  normalizer: TjsNormalizer | null;
  pre_tokenizer: ((text: string, options: { section_index: number }) => string[]) | null;
  model: TjsModel;
  post_processor: ((tokens: string[], pair: null, addSpecialTokens: boolean) => { tokens: string[] }) | null;
  remove_space?: boolean;
  do_lowercase_and_remove_accent?: boolean;
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[]; tokens: string[] };
}

/** The transformers.js internals this module relies on; checked when a tokenizer is built so an upgrade fails loudly. */
export function tokenizerInternals(tokenizer: PreTrainedTokenizer): TjsTokenizer {
  const inner = (tokenizer as unknown as { _tokenizer?: Partial<TjsTokenizer> })._tokenizer;
  const ok =
    inner !== undefined &&
    typeof inner.splitter_unnormalized?.split === 'function' &&
    typeof inner.splitter_normalized?.split === 'function' &&
    inner.added_tokens_map instanceof Map &&
    Array.isArray(inner.added_tokens) &&
    typeof inner.model === 'function' &&
    inner.model.tokens_to_ids instanceof Map &&
    Array.isArray(inner.model.vocab) &&
    'normalizer' in inner &&
    'pre_tokenizer' in inner &&
    'post_processor' in inner;
  if (!ok) {
    throw new Error('transformers.js internals changed: Tokenizer no longer has the splitters, maps and model that offsets need');
  }
  return inner as TjsTokenizer;
}

// ---- encoding with offsets -----------------------------------------------------------------------------------------

interface Section {
  text: string;
  start: number;
  end: number;
}

interface RawToken {
  piece: string;
  id: number;
  start: number;
  end: number;
  origin: 'text' | 'added' | 'post-processor';
}

/** Splits on added tokens like `DictionarySplitter.split`, keeping positions (the parts concatenate to the text). */
function splitWithPositions(splitter: { split(text: string): string[] }, text: string): Section[] {
  let at = 0;
  return splitter.split(text).map((part) => {
    const section = { text: part, start: at, end: at + part.length };
    at += part.length;
    return section;
  });
}

/**
 * Applies added tokens' lstrip/rstrip to their neighbours, as `encode_text` does, moving the bounds. The whitespace
 * a token strips belongs to that token's span (as in the Rust tokenizers: " <mask>").
 */
function stripAroundAddedTokens(sections: Section[], added: Map<string, TjsAddedToken>): void {
  for (let i = 0; i < sections.length; i++) {
    const section = sections[i]!;
    const token = added.get(section.text);
    if (!token) continue;
    if (token.lstrip && i > 0) {
      const before = sections[i - 1]!;
      const trimmed = before.text.trimEnd();
      const removed = before.text.length - trimmed.length;
      before.end -= removed;
      before.text = trimmed;
      section.start -= removed;
    }
    if (token.rstrip && i < sections.length - 1) {
      const after = sections[i + 1]!;
      const trimmed = after.text.trimStart();
      const removed = after.text.length - trimmed.length;
      after.start += removed;
      after.text = trimmed;
      section.end += removed;
    }
  }
}

function normalizeSteps(inner: TjsTokenizer): NormalizeStep[] {
  const steps: NormalizeStep[] = [];
  if (inner.remove_space === true) {
    steps.push({ type: 'RemoveSpace', config: {}, apply: (text) => text.trim().split(/\s+/).join(' ') });
  }
  if (inner.do_lowercase_and_remove_accent) {
    steps.push({ type: 'LowercaseRemoveAccents', config: {}, apply: (text) => text.toLowerCase().replace(/\p{M}/gu, '') });
  }
  const visit = (normalizer: TjsNormalizer | null) => {
    if (!normalizer) return;
    const config = normalizer.config ?? {};
    if (config.type === 'Sequence' && Array.isArray(normalizer.normalizers)) {
      normalizer.normalizers.forEach(visit);
      return;
    }
    steps.push({
      type: typeof config.type === 'string' ? config.type : 'unknown',
      config,
      apply: (text) => normalizer.normalize(text),
      pattern: normalizer.pattern,
    });
  };
  visit(inner.normalizer);
  return steps;
}

const componentName = (section: unknown): string | null => {
  const parts = flattenComponents(section).map((c) => String(c.type ?? '?'));
  if (parts.length === 0) return null;
  const top = section as { type?: unknown };
  return top.type === 'Sequence' ? `Sequence(${parts.join(', ')})` : parts[0]!;
};

const ROLE_KEYS = ['bos', 'eos', 'unk', 'pad', 'sep', 'cls', 'mask'] as const;

/** Token strings a tokenizer_config.json (or special_tokens_map.json) names: "<s>" or {content: "<s>"}. */
export function configTokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** A little of everything a hover meets: prose, code, numbers, whitespace runs, CJK, Cyrillic, emoji. */
const WARM_UP_TEXT =
  "Hello, world! It's 12345678 o'clock.\n\tdef f(x):  return x ** 2  # café\r\n中文字符 日本語 한국어 Привет мир 😀👍🏽 ";

export interface TransformersTokenizerOptions {
  /** Distinct results kept for repeated tokenize calls (hover asks again for the same string). */
  cacheEntries?: number;
  /** Longer texts are not cached. */
  cacheMaxChars?: number;
}

export class TransformersTokenizer implements TokenizerHandle {
  readonly facts: TokenizerFacts;
  private readonly inner: TjsTokenizer;
  private readonly scheme: PieceScheme;
  private readonly steps: NormalizeStep[];
  private readonly specialIds: Set<number>;
  private readonly addedById = new Map<number, TjsAddedToken>();
  private readonly bytesById = new Map<number, Uint8Array>();
  private readonly modelBytesById = new Map<number, Uint8Array>();
  private readonly cache: LruCache<string, readonly TokenSpan[]>;
  private readonly cacheMaxChars: number;
  private readonly unkId: number | undefined;

  constructor(
    readonly transformers: PreTrainedTokenizer,
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown>,
    options: TransformersTokenizerOptions = {},
  ) {
    this.inner = tokenizerInternals(transformers);
    this.scheme = pieceSchemeOf(tokenizerJson);
    this.steps = normalizeSteps(this.inner);
    this.cache = new LruCache(options.cacheEntries ?? 256);
    this.cacheMaxChars = options.cacheMaxChars ?? 64_000;
    this.unkId = this.inner.model.unk_token_id;

    for (const token of this.inner.added_tokens) this.addedById.set(token.id, token);

    // Roles from the config, then the model's own unk token.
    const roles = new Map<number, string[]>();
    const addRole = (text: string | undefined, role: string) => {
      if (text === undefined) return;
      const id = this.tokenToId(text);
      if (id === undefined) return;
      const list = roles.get(id) ?? [];
      if (!list.includes(role)) list.push(role);
      roles.set(id, list);
    };
    for (const role of ROLE_KEYS) addRole(configTokenText(config[`${role}_token`]), role);
    addRole(this.inner.model.unk_token ?? undefined, 'unk');

    this.specialIds = new Set<number>();
    for (const token of this.inner.added_tokens) if (token.special) this.specialIds.add(token.id);
    for (const id of roles.keys()) this.specialIds.add(id);

    const specialTokens = [...this.specialIds]
      .sort((a, b) => a - b)
      .map((id) => {
        const entryRoles = roles.get(id);
        const entry: TokenizerFacts['specialTokens'][number] = { id, text: this.idToToken(id) ?? '' };
        if (entryRoles) {
          entry.role = entryRoles[0];
          entry.roles = entryRoles;
        }
        return entry;
      });

    const ids = new Set<number>(this.inner.model.tokens_to_ids.values());
    for (const token of this.inner.added_tokens) ids.add(token.id);
    let maxTokenId = -1;
    for (const id of ids) if (id > maxTokenId) maxTokenId = id;

    const model = tokenizerJson.model as Record<string, unknown>;
    const type = typeof model.type === 'string' ? model.type : inferModelType(model);
    this.facts = {
      type,
      vocabSize: ids.size,
      style: this.scheme.style,
      specialTokens,
      maxTokenId,
      addedTokenCount: this.inner.added_tokens.length,
      pipeline: {
        normalizer: componentName(tokenizerJson.normalizer),
        preTokenizer: componentName(tokenizerJson.pre_tokenizer),
        postProcessor: componentName(tokenizerJson.post_processor),
        decoder: componentName(tokenizerJson.decoder),
      },
      addsSpecialTokens: false,
    };
    this.facts.addsSpecialTokens = this.encodeWithSpans('a', true).some((token) => token.origin === 'post-processor');
    // Compiles the pre-tokenizer's regular expressions and warms the model's code paths now, at load, so the first
    // hover does not pay for it (about 100 ms for Llama 3 on a cold start).
    for (let round = 0; round < 12; round++) {
      this.encodeWithSpans(`${round} ${WARM_UP_TEXT.repeat((round % 3) + 1)} ${round * 7919}`, round % 2 === 0);
    }
  }

  tokenize(text: string, options: TokenizeOptions = {}): TokenSpan[] {
    const addSpecialTokens = options.addSpecialTokens === true;
    const input = typeof text === 'string' ? text : String(text ?? '');
    const cacheable = input.length <= this.cacheMaxChars;
    const key = (addSpecialTokens ? '1' : '0') + input;
    let spans = cacheable ? this.cache.get(key) : undefined;
    if (!spans) {
      spans = this.encodeSafely(input, addSpecialTokens).map((token) => ({
        id: token.id,
        text: token.piece,
        start: token.start,
        end: token.end,
        special: this.specialIds.has(token.id) || token.origin === 'post-processor',
        origin: token.origin,
      }));
      if (cacheable) this.cache.set(key, spans);
    }
    // Copies, so a caller that shifts or edits its spans cannot change the cached ones.
    return spans.map((span) => ({ ...span }));
  }

  /**
   * encodeWithSpans, which has met no input it fails on (the tests throw hostile text at it); should one turn up,
   * transformers.js's own encode with offsets placed on the raw text, and if even that fails, no tokens.
   */
  private encodeSafely(text: string, addSpecialTokens: boolean): RawToken[] {
    try {
      return this.encodeWithSpans(text, addSpecialTokens);
    } catch {
      try {
        const safe = wellFormed(text);
        const { ids, tokens } = this.inner.encode(safe, { add_special_tokens: addSpecialTokens });
        const spans = placePieces(safe, tokens.map((piece, k) => (this.addedById.has(ids[k]!) ? utf8(piece) : pieceBytes(piece, this.scheme))), this.scheme.spaceMarker);
        return ids.map((id, k) => ({ piece: tokens[k]!, id, start: spans[2 * k]!, end: spans[2 * k + 1]!, origin: 'text' as const }));
      } catch {
        return [];
      }
    }
  }

  /** The ids alone, straight from transformers.js (for checks; tokenize gives the same ids with spans). */
  encodeIds(text: string, addSpecialTokens = false): number[] {
    return this.inner.encode(wellFormed(text), { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: number[]): string {
    const known = ids.filter((id) => Number.isInteger(id) && this.idToToken(id) !== undefined);
    if (known.length === 0) return '';
    try {
      return this.transformers.decode(known, { skip_special_tokens: false });
    } catch {
      return new TextDecoder().decode(concatBytes(known.map((id) => this.cachedBytes(id))));
    }
  }

  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0) return undefined;
    return this.inner.model.vocab[id] ?? undefined;
  }

  tokenToId(token: string): number | undefined {
    return this.inner.added_tokens_map.get(token)?.id ?? this.inner.model.tokens_to_ids.get(token);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  tokenBytes(id: number): Uint8Array {
    return this.cachedBytes(id).slice();
  }

  private cachedBytes(id: number): Uint8Array {
    let bytes = this.bytesById.get(id);
    if (bytes === undefined) {
      const piece = this.idToToken(id);
      const added = this.addedById.get(id);
      if (piece === undefined) bytes = new Uint8Array(0);
      else if (added) bytes = addedTokenBytes(added.content, added.special, this.scheme);
      else bytes = pieceBytes(piece, this.scheme);
      this.bytesById.set(id, bytes);
    }
    return bytes;
  }

  private idOfPiece(piece: string): number | undefined {
    return this.inner.added_tokens_map.get(piece)?.id ?? this.inner.model.tokens_to_ids.get(piece) ?? this.unkId;
  }

  /** Tokens with ids and UTF-16 spans; the same steps, in the same order, as transformers.js's `encode`. */
  encodeWithSpans(rawText: string, addSpecialTokens: boolean): RawToken[] {
    const text = wellFormed(rawText);
    const inner = this.inner;
    const tokens: RawToken[] = [];

    const sections = splitWithPositions(inner.splitter_unnormalized, text);
    stripAroundAddedTokens(sections, inner.added_tokens_map);

    sections.forEach((section, sectionIndex) => {
      if (section.text.length === 0) return;
      const added = inner.added_tokens_map.get(section.text);
      if (added) {
        tokens.push({ piece: section.text, id: added.id, start: section.start, end: section.end, origin: 'added' });
        return;
      }
      const aligned = normalizeAligned(section.text, this.steps);
      if (aligned.text.length === 0) return;
      const toOriginal = (from: number, to: number): [number, number] => {
        const [s, e] = originalRange(aligned, from, to);
        return [section.start + s, section.start + e];
      };

      const subsections = splitWithPositions(inner.splitter_normalized, aligned.text);
      stripAroundAddedTokens(subsections, inner.added_tokens_map);
      for (const sub of subsections) {
        if (sub.text.length === 0) continue;
        const subAdded = inner.added_tokens_map.get(sub.text);
        if (subAdded) {
          const [start, end] = toOriginal(sub.start, sub.end);
          tokens.push({ piece: sub.text, id: subAdded.id, start, end, origin: 'added' });
          continue;
        }
        const preTokens = inner.pre_tokenizer ? inner.pre_tokenizer(sub.text, { section_index: sectionIndex }) : [sub.text];
        const pieces = inner.model(preTokens);
        const ids: (number | undefined)[] = pieces.map((piece) => this.idOfPiece(piece));
        const bytes = pieces.map((piece, k) => {
          const id = ids[k];
          if (id === undefined) return null;
          // The unknown token ("<unk>", "[UNK]") stands for text of unknown extent: it covers what lies between its
          // neighbours. (A Unigram piece that is not in the vocabulary also gets the unk id, but is its own text.)
          if (id === this.unkId && piece === inner.model.unk_token) return null;
          return this.modelPieceBytes(piece, id);
        });
        const spans = placePieces(sub.text, bytes, this.scheme.spaceMarker);
        for (let k = 0; k < pieces.length; k++) {
          const id = ids[k];
          if (id === undefined) continue; // no such piece and no unk token: transformers.js has no id either
          const [start, end] = toOriginal(sub.start + spans[2 * k]!, sub.start + spans[2 * k + 1]!);
          tokens.push({ piece: pieces[k]!, id, start, end, origin: 'text' });
        }
      }
    });

    if (!inner.post_processor) return tokens;
    let processed: string[];
    try {
      processed = inner.post_processor(
        tokens.map((t) => t.piece),
        null,
        addSpecialTokens,
      ).tokens;
    } catch {
      return tokens;
    }
    // Which of the post-processor's tokens come before the text's: found by position, or for an empty text by
    // running the post-processor on a stand-in token.
    let at = findRun(processed, tokens);
    if (tokens.length === 0) {
      try {
        at = inner.post_processor(['\u0000'], null, addSpecialTokens).tokens.indexOf('\u0000');
      } catch {
        at = processed.length;
      }
      if (at < 0) at = processed.length;
    }
    if (at < 0) return tokens;
    const inserted = (piece: string, where: number): RawToken => ({
      piece,
      id: this.idOfPiece(piece) ?? -1,
      start: where,
      end: where,
      origin: 'post-processor',
    });
    return [
      ...processed.slice(0, at).map((piece) => inserted(piece, 0)),
      ...tokens,
      ...processed.slice(at + tokens.length).map((piece) => inserted(piece, text.length)),
    ].filter((token) => token.id >= 0);
  }

  /** Bytes of a piece the model produced (an added token's id too, when the model makes its content: Gemma's ▁▁). */
  private modelPieceBytes(piece: string, id: number): Uint8Array {
    if (this.inner.model.vocab[id] !== piece) return pieceBytes(piece, this.scheme);
    let bytes = this.modelBytesById.get(id);
    if (bytes === undefined) {
      bytes = pieceBytes(piece, this.scheme);
      this.modelBytesById.set(id, bytes);
    }
    return bytes;
  }
}

/** Where `tokens` sits, in order, inside the post-processor's output; -1 when it does not. */
function findRun(processed: string[], tokens: RawToken[]): number {
  outer: for (let at = 0; at + tokens.length <= processed.length; at++) {
    for (let k = 0; k < tokens.length; k++) if (processed[at + k] !== tokens[k]!.piece) continue outer;
    return at;
  }
  return -1;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** transformers.js's own rule for a model section without "type". */
export function inferModelType(model: Record<string, unknown>): string {
  if (Array.isArray(model.vocab)) return 'Unigram';
  if ('continuing_subword_prefix' in model && 'unk_token' in model) return 'merges' in model ? 'BPE' : 'WordPiece';
  return 'WordLevel';
}
