/**
 * Which donor tokens the base already knows (shared tokens, the OMP anchors) and which must be approximated.
 *
 * Tokens are compared by the bytes they stand for, not by their vocabulary strings. That unifies the word-start
 * markers (byte-level BPE's "Ġ" and SentencePiece's "▁" are both a space) and, beyond the reference, every other
 * byte-level spelling ("Ċ" and "\n", "Ã©" and "é"). Per donor id, in this order:
 * - `special`: a donor token with a role (bos, eos, pad, unk, … from the tokenizer config or config.json) takes the
 *   base token with the same role;
 * - `exact` / `moved`: the same bytes (special tokens: the same text) at the same id / at a different id;
 * - `byte` (option `byteTokens`, on by default): a SentencePiece byte token `<0xNN>` and a byte-level token for the
 *   single byte NN;
 * - `prefix` (option `prefixFallback`, off by default): the row of the longest proper prefix the base knows;
 * - `approximated`: everything else with a token, including every additional special token without a match (each
 *   keeps its own row: none is lost);
 * - `unused`: donor rows with no token (id gaps, padding rows past the tokenizer), left zero.
 * Anchors are the special, exact, moved and byte matches: a donor row and a base row that mean the same.
 */
import { ModelLensError } from '../../errors';
import type { TokenizerHandle } from '../../tokenization/tokenizer';

export const MATCH_CATEGORIES = ['exact', 'moved', 'special', 'byte', 'prefix', 'approximated', 'unused'] as const;
export type MatchCategory = (typeof MATCH_CATEGORIES)[number];
const CATEGORY_CODE: Readonly<Record<MatchCategory, number>> = Object.fromEntries(MATCH_CATEGORIES.map((c, i) => [c, i])) as Record<MatchCategory, number>;
const ANCHOR_CATEGORIES: ReadonlySet<MatchCategory> = new Set(['exact', 'moved', 'special', 'byte']);

export interface VocabularySide {
  tokenizer: TokenizerHandle;
  /** Rows of the embedding matrix (≥ the tokenizer's ids); for the donor it sets the output's vocabulary size. */
  rows: number;
  /** Extra roles, e.g. from config.json's bos_token_id / eos_token_id (a number or a list) / pad / unk. */
  configRoles?: { role: string; id: number }[];
}

export interface MatchOptions {
  /** Match `<0xNN>` byte tokens with byte-level single-byte tokens (default true). */
  byteTokens?: boolean;
  /** Give a token with no match the row of its longest proper prefix (default false). */
  prefixFallback?: boolean;
  /** Examples kept per category (default 8). */
  examples?: number;
}

export interface MatchExample {
  donorId: number;
  donorToken: string;
  baseId?: number;
  baseToken?: string;
  role?: string;
}

export interface SpecialTokenMatch {
  donorId: number;
  donorToken: string;
  roles: string[];
  /** How it got its row: the base token with the same role, the same text, or approximated. */
  matchedBy: 'role' | 'text' | 'approximated';
  baseId?: number;
  baseToken?: string;
}

export interface VocabularyMatch {
  /** Rows of the output: max(donor embedding rows, donor tokenizer's largest id + 1). */
  rows: number;
  /** Per donor id: the base id whose row it copies, or −1. */
  baseIdOf: Int32Array;
  /** Per donor id: index into MATCH_CATEGORIES. */
  categoryOf: Uint8Array;
  /** Donor ids of the anchors (ascending) and the base ids they match. */
  anchorDonorIds: Int32Array;
  anchorBaseIds: Int32Array;
  /** Donor ids to approximate (ascending). */
  approximatedIds: Int32Array;
  counts: Record<MatchCategory, number>;
  examples: Record<MatchCategory, MatchExample[]>;
  /** Shared tokens whose vocabulary strings differ: only by a leading Ġ/▁, or in other byte spellings. */
  unified: { wordStart: number; otherSpelling: number; examples: MatchExample[] };
  /** Every special token of the donor and how it got its row. */
  specialTokens: SpecialTokenMatch[];
}

export function categoryOf(match: VocabularyMatch, donorId: number): MatchCategory {
  return MATCH_CATEGORIES[match.categoryOf[donorId]];
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

interface Keyed {
  /** Key per id; undefined for gaps. */
  keys: (string | undefined)[];
  /** First id per key. */
  idOf: Map<string, number>;
  /** Ids with each role (first wins). */
  roleId: Map<string, number>;
  rolesOf: Map<number, string[]>;
  maxId: number;
}

/** Latin-1 string of the bytes: a compact, exact map key. */
function bytesKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

/**
 * The key a token is compared by: 'S' + text for special tokens, 'B' + byte for SentencePiece byte tokens, else
 * 'T' + the bytes the token stands for.
 */
function tokenKey(tokenizer: TokenizerHandle, id: number, text: string): string {
  if (tokenizer.isSpecial(id)) return `S${text}`;
  if (tokenizer.facts.style !== 'byte-level') {
    const byte = BYTE_TOKEN.exec(text);
    if (byte) return `B${String.fromCharCode(parseInt(byte[1], 16))}`;
  }
  return `T${bytesKey(tokenizer.tokenBytes(id))}`;
}

/** Yielded every this many tokens, so an async caller can let the event loop run. */
const YIELD_EVERY = 16384;

function* keyVocabulary(side: VocabularySide): Generator<void, Keyed> {
  const { tokenizer } = side;
  const maxId = tokenizer.facts.maxTokenId ?? tokenizer.facts.vocabSize - 1;
  const keys: (string | undefined)[] = new Array(maxId + 1);
  const idOf = new Map<string, number>();
  for (let id = 0; id <= maxId; id++) {
    if (id % YIELD_EVERY === YIELD_EVERY - 1) yield;
    const text = tokenizer.idToToken(id);
    if (text === undefined) continue;
    const key = tokenKey(tokenizer, id, text);
    keys[id] = key;
    if (!idOf.has(key)) idOf.set(key, id);
  }
  const rolesOf = new Map<number, string[]>();
  const addRole = (id: number, role: string) => {
    if (!Number.isInteger(id) || id < 0 || id > maxId || keys[id] === undefined) return;
    const list = rolesOf.get(id) ?? [];
    if (!list.includes(role)) list.push(role);
    rolesOf.set(id, list);
  };
  for (const special of tokenizer.facts.specialTokens) for (const role of special.roles ?? (special.role ? [special.role] : [])) addRole(special.id, role);
  for (const { role, id } of side.configRoles ?? []) addRole(id, role);
  const roleId = new Map<string, number>();
  for (const [id, roles] of [...rolesOf].sort((a, b) => a[0] - b[0])) for (const role of roles) if (!roleId.has(role)) roleId.set(role, id);
  return { keys, idOf, roleId, rolesOf, maxId };
}

/** Roles named by a config.json: bos/eos/pad/unk_token_id, each a number or a list of numbers, top level or text_config. */
export function rolesFromConfig(config: Record<string, unknown> | undefined): { role: string; id: number }[] {
  if (!config) return [];
  const out: { role: string; id: number }[] = [];
  const nested = typeof config.text_config === 'object' && config.text_config !== null ? (config.text_config as Record<string, unknown>) : {};
  for (const role of ['bos', 'eos', 'pad', 'unk']) {
    const value = config[`${role}_token_id`] ?? nested[`${role}_token_id`];
    const ids = Array.isArray(value) ? value : [value];
    for (const id of ids) if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) out.push({ role, id });
  }
  return out;
}

/** Evenly spaced picks, so examples show a category's spread and not only its first ids. */
function spread<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items.slice();
  return Array.from({ length: count }, (_, i) => items[Math.floor(((i + 0.5) * items.length) / count)]);
}

const WORD_START = /^[Ġ▁]/;

export function matchVocabularies(base: VocabularySide, donor: VocabularySide, options: MatchOptions = {}): VocabularyMatch {
  const steps = matchSteps(base, donor, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** The same, letting the event loop run every few thousand tokens (the server answers hovers meanwhile). */
export async function matchVocabulariesAsync(base: VocabularySide, donor: VocabularySide, options: MatchOptions = {}, signal?: AbortSignal): Promise<VocabularyMatch> {
  const steps = matchSteps(base, donor, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw new ModelLensError('cancelled', 'the transplant was cancelled');
  }
}

function* matchSteps(base: VocabularySide, donor: VocabularySide, options: MatchOptions): Generator<void, VocabularyMatch> {
  const byteTokens = options.byteTokens !== false;
  const prefixFallback = options.prefixFallback === true;
  const b = yield* keyVocabulary(base);
  const d = yield* keyVocabulary(donor);
  const rows = Math.max(donor.rows, d.maxId + 1);
  const baseIdOf = new Int32Array(rows).fill(-1);
  const categories = new Uint8Array(rows).fill(CATEGORY_CODE.unused);
  const roleOf = new Map<number, string>();

  // Single-byte tokens of the base by byte value, for byte matching across styles.
  const baseByte = new Map<string, number>();
  for (const [key, id] of b.idOf) if ((key[0] === 'T' || key[0] === 'B') && key.length === 2 && !baseByte.has(key[1])) baseByte.set(key[1], id);

  // Base keys of ordinary tokens, for the prefix fallback.
  const basePrefixes = prefixFallback ? new Map([...b.idOf].filter(([key]) => key[0] === 'T')) : undefined;

  for (let id = 0; id < rows; id++) {
    if (id % YIELD_EVERY === YIELD_EVERY - 1) yield;
    const key = id <= d.maxId ? d.keys[id] : undefined;
    if (key === undefined) continue;
    let category: MatchCategory = 'approximated';
    let baseId = -1;
    for (const role of d.rolesOf.get(id) ?? []) {
      const match = b.roleId.get(role);
      if (match !== undefined) {
        category = 'special';
        baseId = match;
        roleOf.set(id, role);
        break;
      }
    }
    if (baseId < 0) {
      const match = b.idOf.get(key);
      if (match !== undefined) {
        baseId = match;
        category = match === id ? 'exact' : 'moved';
      }
    }
    if (baseId < 0 && byteTokens && (key[0] === 'B' || key[0] === 'T') && key.length === 2) {
      const match = baseByte.get(key[1]);
      if (match !== undefined) {
        baseId = match;
        category = 'byte';
      }
    }
    if (baseId < 0 && basePrefixes && key[0] === 'T') {
      for (let length = key.length - 1; length >= 2; length--) {
        const match = basePrefixes.get(key.slice(0, length));
        if (match !== undefined) {
          baseId = match;
          category = 'prefix';
          break;
        }
      }
    }
    baseIdOf[id] = baseId;
    categories[id] = CATEGORY_CODE[category];
  }

  const members: Record<MatchCategory, number[]> = Object.fromEntries(MATCH_CATEGORIES.map((c) => [c, [] as number[]])) as Record<MatchCategory, number[]>;
  for (let id = 0; id < rows; id++) members[MATCH_CATEGORIES[categories[id]]].push(id);
  const exampleCount = options.examples ?? 8;
  const describe = (id: number): MatchExample => {
    const example: MatchExample = { donorId: id, donorToken: donor.tokenizer.idToToken(id) ?? '' };
    const baseId = baseIdOf[id];
    if (baseId >= 0) {
      example.baseId = baseId;
      example.baseToken = base.tokenizer.idToToken(baseId) ?? '';
    }
    const role = roleOf.get(id);
    if (role) example.role = role;
    return example;
  };
  const counts = Object.fromEntries(MATCH_CATEGORIES.map((c) => [c, members[c].length])) as Record<MatchCategory, number>;
  const examples = Object.fromEntries(MATCH_CATEGORIES.map((c) => [c, spread(members[c], exampleCount).map(describe)])) as Record<MatchCategory, MatchExample[]>;

  // Shared tokens spelled differently in the two vocabularies.
  let wordStart = 0;
  let otherSpelling = 0;
  const unifiedIds: number[] = [];
  for (const id of [...members.exact, ...members.moved]) {
    const donorText = donor.tokenizer.idToToken(id)!;
    const baseText = base.tokenizer.idToToken(baseIdOf[id])!;
    if (donorText === baseText) continue;
    if (WORD_START.test(donorText) && WORD_START.test(baseText) && donorText.slice(1) === baseText.slice(1)) wordStart++;
    else otherSpelling++;
    unifiedIds.push(id);
  }

  const anchorIds = MATCH_CATEGORIES.filter((c) => ANCHOR_CATEGORIES.has(c)).flatMap((c) => members[c]).sort((x, y) => x - y);
  const specialTokens: SpecialTokenMatch[] = donor.tokenizer.facts.specialTokens.map((special) => {
    const category = MATCH_CATEGORIES[categories[special.id]];
    const entry: SpecialTokenMatch = {
      donorId: special.id,
      donorToken: special.text,
      roles: d.rolesOf.get(special.id) ?? [],
      matchedBy: category === 'special' ? 'role' : category === 'approximated' ? 'approximated' : 'text',
    };
    if (baseIdOf[special.id] >= 0) {
      entry.baseId = baseIdOf[special.id];
      entry.baseToken = base.tokenizer.idToToken(entry.baseId) ?? '';
    }
    return entry;
  });

  return {
    rows,
    baseIdOf,
    categoryOf: categories,
    anchorDonorIds: Int32Array.from(anchorIds),
    anchorBaseIds: Int32Array.from(anchorIds, (id) => baseIdOf[id]),
    approximatedIds: Int32Array.from(members.approximated),
    counts,
    examples,
    unified: { wordStart, otherSpelling, examples: spread(unifiedIds, exampleCount).map(describe) },
    specialTokens,
  };
}
