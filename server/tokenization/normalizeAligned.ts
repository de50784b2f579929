/**
 * Normalization that remembers where each character came from. transformers.js normalizes text with no record of
 * offsets; here every step's output is aligned back to its input, and the alignments are composed, so a token in
 * normalized text maps back to the characters the person typed (as the Rust tokenizers' NormalizedString does).
 *
 * Each step is run by transformers.js itself (so the text the model sees is exactly its own); only the alignment is
 * derived here, from the step's type where it is known (Replace, Prepend, Strip) and otherwise by normalizing
 * character clusters, then words, one at a time and checking that the pieces add up to the whole.
 */

/** One normalization step: the transformers.js normalizer's type, config and function. */
export interface NormalizeStep {
  type: string;
  config: Record<string, unknown>;
  apply: (text: string) => string;
  /** The compiled pattern of a Replace step. */
  pattern?: RegExp | null;
}

/** A normalized text with, for each of its UTF-16 units, the range of the original text it came from. */
export interface AlignedText {
  text: string;
  /** Null when the text is the original, unchanged. Otherwise one entry per unit; start === end for inserted text. */
  starts: Int32Array | null;
  ends: Int32Array | null;
  originalLength: number;
}

/** Output units aligned to ranges of a step's input, built in output order. */
class LocalAlignment {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** Input units [from, to) appear unchanged. */
  same(from: number, to: number): void {
    for (let i = from; i < to; i++) {
      this.starts.push(i);
      this.ends.push(i + 1);
    }
  }
  /** `count` output units stand for input [from, to) as a whole. */
  block(count: number, from: number, to: number): void {
    for (let k = 0; k < count; k++) {
      this.starts.push(from);
      this.ends.push(to);
    }
  }
}

/** The hull of the non-empty ranges of units [a, b); an empty range at the insertion point when all are empty. */
export function hullOf(starts: ArrayLike<number>, ends: ArrayLike<number>, length: number, a: number, b: number): [number, number] {
  let lo = Number.MAX_SAFE_INTEGER;
  let hi = -1;
  for (let i = a; i < b; i++) {
    const s = starts[i]!;
    const e = ends[i]!;
    if (e > s) {
      if (s < lo) lo = s;
      if (e > hi) hi = e;
    }
  }
  if (hi >= 0) return [lo, hi];
  const at = a < length ? starts[a]! : length > 0 ? ends[length - 1]! : 0;
  return [at, at];
}

/** The range of the original text that normalized units [from, to) came from. */
export function originalRange(aligned: AlignedText, from: number, to: number): [number, number] {
  if (!aligned.starts || !aligned.ends) return [from, to];
  return hullOf(aligned.starts, aligned.ends, aligned.text.length, from, to);
}

export function unaligned(text: string): AlignedText {
  return { text, starts: null, ends: null, originalLength: text.length };
}

/** Runs the steps in order, composing the alignments. Never throws on odd text: the coarsest alignment is the whole. */
export function normalizeAligned(original: string, steps: readonly NormalizeStep[]): AlignedText {
  let current = unaligned(original);
  for (const step of steps) {
    const input = current.text;
    const output = step.apply(input);
    if (output === input) continue;
    const local = alignStep(input, output, step);
    current = compose(current, local, output);
  }
  return current;
}

function compose(previous: AlignedText, local: LocalAlignment, output: string): AlignedText {
  const n = output.length;
  const starts = new Int32Array(n);
  const ends = new Int32Array(n);
  const prevLength = previous.text.length;
  for (let j = 0; j < n; j++) {
    const a = local.starts[j]!;
    const b = local.ends[j]!;
    let range: [number, number];
    if (!previous.starts || !previous.ends) {
      range = [a, b];
    } else {
      range = hullOf(previous.starts, previous.ends, prevLength, a, b);
    }
    starts[j] = range[0];
    ends[j] = range[1];
  }
  return { text: output, starts, ends, originalLength: previous.originalLength };
}

/** Aligns one step's output to its input; every strategy is checked against the real output before it is used. */
export function alignStep(input: string, output: string, step: NormalizeStep): LocalAlignment {
  return (
    alignReplace(input, output, step) ??
    alignAffixes(input, output) ??
    alignCollapsedWhitespace(input, output, step) ??
    alignByChunks(input, output, step.apply, CLUSTER) ??
    alignByChunks(input, output, step.apply, WORD) ??
    alignCoarsely(input, output)
  );
}

function alignReplace(input: string, output: string, step: NormalizeStep): LocalAlignment | null {
  if (step.type !== 'Replace' || !(step.pattern instanceof RegExp) || !step.pattern.global) return null;
  const content = typeof step.config.content === 'string' ? step.config.content : '';
  const local = new LocalAlignment();
  const parts: string[] = [];
  let last = 0;
  try {
    for (const match of input.matchAll(step.pattern)) {
      const at = match.index ?? 0;
      local.same(last, at);
      parts.push(input.slice(last, at), content);
      local.block(content.length, at, at + match[0].length);
      last = at + match[0].length;
    }
  } catch {
    return null;
  }
  local.same(last, input.length);
  parts.push(input.slice(last));
  return parts.join('') === output ? local : null;
}

/** Text added before or after (Prepend), or removed from the ends (Strip). */
function alignAffixes(input: string, output: string): LocalAlignment | null {
  const local = new LocalAlignment();
  if (output.length > input.length) {
    if (output.endsWith(input)) {
      local.block(output.length - input.length, 0, 0);
      local.same(0, input.length);
      return local;
    }
    if (output.startsWith(input)) {
      local.same(0, input.length);
      local.block(output.length - input.length, input.length, input.length);
      return local;
    }
    return null;
  }
  if (output.length < input.length && output.length > 0) {
    const at = input.indexOf(output);
    if (at >= 0 && input.slice(0, at).trim() === '' && input.slice(at + output.length).trim() === '') {
      local.same(at, at + output.length);
      return local;
    }
  }
  return null;
}

/** `remove_space`: trimmed, runs of whitespace collapsed to one space. */
function alignCollapsedWhitespace(input: string, output: string, step: NormalizeStep): LocalAlignment | null {
  if (step.type !== 'RemoveSpace') return null;
  const local = new LocalAlignment();
  const parts: string[] = [];
  let previousEnd = -1;
  for (const match of input.matchAll(/\S+/g)) {
    const at = match.index ?? 0;
    if (previousEnd >= 0) {
      local.block(1, previousEnd, at);
      parts.push(' ');
    }
    local.same(at, at + match[0].length);
    parts.push(match[0]);
    previousEnd = at + match[0].length;
  }
  return parts.join('') === output ? local : null;
}

/** A character with the combining marks that follow it. */
const CLUSTER = /\P{M}\p{M}*|\p{M}+/gu;
/** A run of whitespace or of anything else. */
const WORD = /\s+|\S+/gu;

function alignByChunks(input: string, output: string, apply: (text: string) => string, chunker: RegExp): LocalAlignment | null {
  const local = new LocalAlignment();
  let built = 0;
  let at = 0;
  for (const match of input.matchAll(chunker)) {
    const chunk = match[0];
    const start = match.index ?? at;
    if (start !== at) return null;
    const piece = apply(chunk);
    if (output.startsWith(piece, built) === false) return null;
    if (piece === chunk) local.same(start, start + chunk.length);
    else appendByAffixes(local, chunk, piece, start);
    built += piece.length;
    at = start + chunk.length;
  }
  return at === input.length && built === output.length ? local : null;
}

/**
 * Aligns `output` to `input` (which starts at `base`) by their common prefix and suffix, one to one; the middle of
 * the output stands for the middle of the input; output of the input's length aligns position for position.
 * Within a character cluster this is exact for NFC and friends:
 * "a\u0301\u0302" → "á\u0302" aligns "á" to "a\u0301" and the untouched mark to itself.
 */
function appendByAffixes(local: LocalAlignment, input: string, output: string, base: number): void {
  if (input.length === output.length) {
    // Same length (case mapping, one character for another): position for position.
    local.same(base, base + input.length);
    return;
  }
  let prefix = 0;
  const limit = Math.min(input.length, output.length);
  while (prefix < limit && input[prefix] === output[prefix]) prefix++;
  let suffix = 0;
  while (suffix < limit - prefix && input[input.length - 1 - suffix] === output[output.length - 1 - suffix]) suffix++;
  local.same(base, base + prefix);
  local.block(output.length - prefix - suffix, base + prefix, base + input.length - suffix);
  local.same(base + input.length - suffix, base + input.length);
}

/** Last resort: the common prefix and suffix of the whole text align one to one; the middle stands for the middle. */
function alignCoarsely(input: string, output: string): LocalAlignment {
  const local = new LocalAlignment();
  appendByAffixes(local, input, output, 0);
  return local;
}
