/**
 * A copy/permute probe for causal language models (REFERENCES §3: copying and rearranging parts of a prompt is a
 * basic ability; induction heads are the known copy circuit).
 *
 * For each sequence length k and number of shots s, the probe builds `queries` few-shot prompts. Each shot shows k
 * random single-token words and the same words rearranged by one fixed permutation π (output position p shows input
 * word π[p]; the identity is the plain copy task); the query shows k new words and asks for their rearrangement.
 * The model continues greedily for k tokens (each step feeds its own previous choice back: free-running, no teacher
 * forcing), and the k generated tokens are compared with the expected word tokens: exact match (all k right) and
 * per-position accuracy.
 *
 * Prompts are built as token ids: every word is exactly one token (the word pool keeps only words that the tokenizer
 * turns into one ordinary token together with the separator before them, e.g. " apple"), and the template's text
 * pieces are tokenized on their own. So the expected answer is exactly k token ids, and the prompt text shown to the
 * user is the filled template. Prompts nest: for one (k, query) the query words are the same for every shot count, and
 * the shots of a shorter prompt are the first shots of a longer one, so cells differ only by what varies.
 */
import { ModelLensError } from '../../errors';
import { mixSeed, SeededRandom } from '../../kernels/seededRandom';
import type { CausalLanguageModel } from './causalLanguageModel';

export type { CausalLanguageModel } from './causalLanguageModel';

export interface CopyProbeTemplate {
  /** Text before the shots (an instruction); default none. */
  preamble: string;
  /** One shot; `{input}` and `{output}` become the word sequences (each word preceded by `wordSeparator`). */
  shot: string;
  /** The query; `{input}` becomes the new words, and the model continues after the text. */
  query: string;
  /** What goes before every word (default ' ': words are space-prefixed tokens, as in running text). */
  wordSeparator: string;
}

export const DEFAULT_COPY_TEMPLATE: CopyProbeTemplate = {
  preamble: '',
  shot: 'Input:{input}\nOutput:{output}\n\n',
  query: 'Input:{input}\nOutput:',
  wordSeparator: ' ',
};

export type CopyPermutation = 'identity' | 'reverse' | 'random' | number[];

export interface CopyProbeOptions {
  /** Sequence lengths (default 2…12). */
  ks?: number[];
  /** Shot counts (default 0…4). */
  shots?: number[];
  /** The rearrangement: 'identity' (copy, default), 'reverse', 'random' (a seeded non-identity permutation per k), or π for one k. */
  permutation?: CopyPermutation;
  /** Prompts per (k, shots) cell (default 8). */
  queries?: number;
  /** Seeds the words and the random permutations (default 0). */
  seed?: number;
  /** Candidate words (default: a built-in list of common English nouns); only single-token ones are used. */
  words?: string[];
  template?: Partial<CopyProbeTemplate>;
  /** Start prompts with the tokenizer's BOS when its post-processor adds one (default true). */
  addBos?: boolean;
  /** Which prompts the result keeps: 'all' (default), 'first' (one per cell) or 'none'. */
  keepPrompts?: 'all' | 'first' | 'none';
}

export interface CopyProbePrompt {
  /** The prompt text as the model saw it (the filled template, BOS not shown). */
  prompt: string;
  promptTokens: number;
  input: string[];
  expected: string[];
  /** The generated tokens, decoded one by one. */
  generated: string[];
  /** Per position: the generated token is the expected one. */
  correct: boolean[];
}

export interface CopyProbeCell {
  k: number;
  shots: number;
  /** π for this k: output position p shows input word π[p]. */
  permutation: number[];
  queries: number;
  /** Fraction of queries with all k positions right. */
  exactMatch: number;
  /** Per position p = 0…k−1, the fraction of queries right there. */
  perPosition: number[];
  prompts: CopyProbePrompt[];
}

export interface CopyProbeProgress {
  cellsDone: number;
  cells: number;
  k: number;
  shots: number;
  fraction: number;
}

export interface CopyProbeControl {
  signal?: AbortSignal | { readonly aborted: boolean };
  onProgress?: (progress: CopyProbeProgress) => void;
}

export interface CopyProbeResult {
  ks: number[];
  shots: number[];
  permutationKind: 'identity' | 'reverse' | 'random' | 'given';
  template: CopyProbeTemplate;
  seed: number;
  queries: number;
  /** Cells in order of k, then shots. */
  cells: CopyProbeCell[];
  /** exactMatch[i][j] and meanPositionAccuracy[i][j] for ks[i] and shots[j]: the heat map. */
  heatmap: { exactMatch: number[][]; meanPositionAccuracy: number[][] };
  /** Positions right in fewer than all queries, worst first. */
  failingPositions: { k: number; shots: number; position: number; accuracy: number }[];
  wordPool: { size: number; rejected: number; examples: string[] };
  timing: { ms: number; logitsCalls: number };
}

/** Common English nouns, mostly single tokens (with a leading space) in GPT-2, Llama and Gemma vocabularies. */
export const DEFAULT_COPY_WORDS = [
  'apple', 'river', 'house', 'table', 'garden', 'window', 'horse', 'bread', 'chair', 'water', 'music', 'paper', 'money',
  'cat', 'dog', 'bird', 'fish', 'tree', 'book', 'door', 'car', 'road', 'city', 'king', 'queen', 'ship', 'star', 'moon',
  'sun', 'rain', 'snow', 'wind', 'fire', 'stone', 'gold', 'silver', 'glass', 'milk', 'cheese', 'sugar', 'salt', 'rice',
  'coffee', 'tea', 'wine', 'beer', 'egg', 'cake', 'fruit', 'flower', 'grass', 'forest', 'mountain', 'lake', 'sea',
  'island', 'field', 'farm', 'school', 'church', 'bank', 'market', 'shop', 'hotel', 'office', 'hospital', 'station',
  'bridge', 'tower', 'castle', 'village', 'street', 'park', 'bed', 'box', 'bag', 'hat', 'shoe', 'shirt', 'coat', 'ring',
  'clock', 'phone', 'computer', 'camera', 'radio', 'lamp', 'key', 'knife', 'spoon', 'cup', 'plate', 'bottle', 'ball',
  'game', 'film', 'song', 'story', 'letter', 'word', 'name', 'face', 'hand', 'head', 'heart', 'eye', 'mouth', 'nose',
  'hair', 'arm', 'leg', 'foot', 'doctor', 'teacher', 'student', 'farmer', 'soldier', 'artist', 'lawyer', 'driver',
  'child', 'woman', 'man', 'friend', 'mother', 'father', 'brother', 'sister', 'wolf', 'bear', 'lion', 'tiger', 'mouse',
  'rabbit', 'snake', 'duck', 'cow', 'pig', 'sheep', 'goat', 'chicken', 'winter', 'summer', 'spring', 'autumn', 'morning',
  'night', 'week', 'year', 'army', 'court', 'law', 'plan', 'idea', 'power', 'truth', 'peace', 'war', 'art', 'science',
];

function bad(message: string, hint?: string): ModelLensError {
  return new ModelLensError('usage', message, undefined, hint);
}

function integerList(name: string, values: readonly number[], min: number, max: number): number[] {
  if (values.length === 0) throw bad(`${name} is empty`);
  for (const value of values) if (!Number.isInteger(value) || value < min || value > max) throw bad(`${name} must be integers from ${min} to ${max}, not ${value}`);
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Splits a template into text pieces and placeholders. */
function templateParts(template: string, allowed: readonly string[]): ({ text: string } | { slot: string })[] {
  const parts: ({ text: string } | { slot: string })[] = [];
  let last = 0;
  for (const match of template.matchAll(/\{(\w+)\}/g)) {
    const slot = match[1];
    if (!allowed.includes(slot)) throw bad(`the template has an unknown placeholder {${slot}}`, `Use ${allowed.map((name) => `{${name}}`).join(' and ')}.`);
    if (match.index! > last) parts.push({ text: template.slice(last, match.index) });
    parts.push({ slot });
    last = match.index! + match[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  for (const name of allowed) if (!parts.some((part) => 'slot' in part && part.slot === name)) throw bad(`the template needs {${name}}: ${JSON.stringify(template)}`);
  return parts;
}

interface WordToken {
  word: string;
  id: number;
}

/** The words whose separator-prefixed form is exactly one ordinary token. */
function singleTokenWords(model: CausalLanguageModel, words: readonly string[], separator: string): { pool: WordToken[]; rejected: number } {
  const pool: WordToken[] = [];
  const seen = new Set<number>();
  let rejected = 0;
  for (const word of words) {
    const spans = model.tokenizer.tokenize(separator + word);
    const [only] = spans;
    if (spans.length !== 1 || only.id < 0 || only.special || model.tokenizer.isSpecial(only.id) || seen.has(only.id)) {
      rejected++;
      continue;
    }
    seen.add(only.id);
    pool.push({ word, id: only.id });
  }
  return { pool, rejected };
}

function permutationFor(kind: CopyPermutation, k: number, seed: number): number[] {
  if (Array.isArray(kind)) return [...kind];
  if (kind === 'identity') return Array.from({ length: k }, (_, i) => i);
  if (kind === 'reverse') return Array.from({ length: k }, (_, i) => k - 1 - i);
  const random = new SeededRandom(mixSeed(seed, 11, k));
  for (;;) {
    const candidate = random.permutation(k);
    if (candidate.some((value, i) => value !== i)) return candidate;
  }
}

function checkGivenPermutation(permutation: readonly number[], ks: readonly number[]): void {
  const k = permutation.length;
  if (ks.length !== 1 || ks[0] !== k) throw bad(`a given permutation has one length (${k}); set ks to [${k}]`);
  const sorted = [...permutation].sort((a, b) => a - b);
  if (sorted.some((value, i) => value !== i)) throw bad(`the permutation must list each of 0…${k - 1} exactly once`);
}

function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}

function abortError(): Error {
  const error = new Error('the copy probe was cancelled');
  error.name = 'AbortError';
  return error;
}

/** Runs the probe over every (k, shots) cell. See the file comment. */
export async function runCopyProbe(model: CausalLanguageModel, options: CopyProbeOptions = {}, control: CopyProbeControl = {}): Promise<CopyProbeResult> {
  const started = performance.now();
  const ks = integerList('ks', options.ks ?? [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 1, 64);
  const shotCounts = integerList('shots', options.shots ?? [0, 1, 2, 3, 4], 0, 64);
  const queries = options.queries ?? 8;
  if (!Number.isInteger(queries) || queries < 1 || queries > 10_000) throw bad(`queries must be an integer from 1 to 10000, not ${queries}`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw bad(`seed must be a non-negative integer, not ${seed}`);
  const permutationOption = options.permutation ?? 'identity';
  if (Array.isArray(permutationOption)) checkGivenPermutation(permutationOption, ks);
  else if (!['identity', 'reverse', 'random'].includes(permutationOption)) throw bad(`permutation must be identity, reverse, random or a list, not ${String(permutationOption)}`);
  const template: CopyProbeTemplate = { ...DEFAULT_COPY_TEMPLATE, ...options.template };
  const shotParts = templateParts(template.shot, ['input', 'output']);
  const queryParts = templateParts(template.query, ['input']);
  const keep = options.keepPrompts ?? 'all';
  const { tokenizer } = model;

  const { pool, rejected } = singleTokenWords(model, options.words ?? DEFAULT_COPY_WORDS, template.wordSeparator);
  const longest = Math.max(...ks);
  if (pool.length < longest) {
    throw new ModelLensError(
      'unsupported',
      `only ${pool.length} of the candidate words are single tokens for this tokenizer; k up to ${longest} needs at least ${longest}`,
      undefined,
      'Give more words (options.words), a different word separator, or smaller ks.',
    );
  }

  // Token ids of the template's text pieces (cached) and the BOS the post-processor adds, if any.
  const textIds = new Map<string, number[]>();
  const idsOf = (text: string) => {
    let ids = textIds.get(text);
    if (!ids) {
      ids = tokenizer.tokenize(text).map((span) => span.id);
      textIds.set(text, ids);
    }
    return ids;
  };
  let bos: number[] = [];
  if ((options.addBos ?? true) && tokenizer.facts.addsSpecialTokens) {
    const [first] = tokenizer.tokenize('x', { addSpecialTokens: true });
    if (first && first.special && first.origin === 'post-processor' && first.start === 0 && first.end === 0) bos = [first.id];
  }
  const fill = (parts: ({ text: string } | { slot: string })[], slots: Record<string, WordToken[]>, ids: number[], text: string[]) => {
    for (const part of parts) {
      if ('text' in part) {
        ids.push(...idsOf(part.text));
        text.push(part.text);
      } else {
        for (const word of slots[part.slot]) {
          ids.push(word.id);
          text.push(template.wordSeparator + word.word);
        }
      }
    }
  };

  const maxShots = Math.max(...shotCounts);
  const cells: CopyProbeCell[] = [];
  const total = ks.length * shotCounts.length;
  let logitsCalls = 0;
  for (const k of ks) {
    const permutation = permutationFor(permutationOption, k, seed);
    // Per query: the query words and maxShots shots, fixed for every shot count.
    const draws = Array.from({ length: queries }, (_, q) => {
      const random = new SeededRandom(mixSeed(seed, 13, k, q));
      const pick = () => random.sample(pool.length, k).map((index) => pool[index]);
      const query = pick();
      const shots = Array.from({ length: maxShots }, pick);
      return { query, shots };
    });
    for (const shots of shotCounts) {
      if (control.signal?.aborted) throw abortError();
      control.onProgress?.({ cellsDone: cells.length, cells: total, k, shots, fraction: cells.length / total });
      const rightAt = new Array<number>(k).fill(0);
      let exact = 0;
      const prompts: CopyProbePrompt[] = [];
      for (const [q, draw] of draws.entries()) {
        const ids = [...bos];
        const text: string[] = [];
        if (template.preamble) fill([{ text: template.preamble }], {}, ids, text);
        for (const shotWords of draw.shots.slice(0, shots)) {
          fill(shotParts, { input: shotWords, output: permutation.map((index) => shotWords[index]) }, ids, text);
        }
        fill(queryParts, { input: draw.query }, ids, text);
        const promptTokens = ids.length;
        const expected = permutation.map((index) => draw.query[index]);
        const generated: number[] = [];
        for (let p = 0; p < k; p++) {
          if (control.signal?.aborted) throw abortError();
          const logits = await model.nextTokenLogits(ids.slice());
          logitsCalls++;
          const next = argmax(logits);
          generated.push(next);
          ids.push(next);
        }
        const correct = expected.map((word, p) => generated[p] === word.id);
        correct.forEach((right, p) => right && rightAt[p]++);
        if (correct.every(Boolean)) exact++;
        if (keep === 'all' || (keep === 'first' && q === 0)) {
          prompts.push({
            prompt: text.join(''),
            promptTokens,
            input: draw.query.map((word) => word.word),
            expected: expected.map((word) => word.word),
            generated: generated.map((id) => tokenizer.decode([id])),
            correct,
          });
        }
      }
      cells.push({ k, shots, permutation, queries, exactMatch: exact / queries, perPosition: rightAt.map((count) => count / queries), prompts });
    }
  }
  control.onProgress?.({ cellsDone: total, cells: total, k: ks[ks.length - 1], shots: shotCounts[shotCounts.length - 1], fraction: 1 });

  const cellAt = (k: number, shots: number) => cells.find((cell) => cell.k === k && cell.shots === shots)!;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const failingPositions = cells
    .flatMap((cell) => cell.perPosition.map((accuracy, position) => ({ k: cell.k, shots: cell.shots, position, accuracy })))
    .filter((entry) => entry.accuracy < 1)
    .sort((a, b) => a.accuracy - b.accuracy || a.k - b.k || a.shots - b.shots || a.position - b.position);
  return {
    ks,
    shots: shotCounts,
    permutationKind: Array.isArray(permutationOption) ? 'given' : permutationOption,
    template,
    seed,
    queries,
    cells,
    heatmap: {
      exactMatch: ks.map((k) => shotCounts.map((shots) => cellAt(k, shots).exactMatch)),
      meanPositionAccuracy: ks.map((k) => shotCounts.map((shots) => mean(cellAt(k, shots).perPosition))),
    },
    failingPositions,
    wordPool: { size: pool.length, rejected, examples: pool.slice(0, 12).map((word) => word.word) },
    timing: { ms: performance.now() - started, logitsCalls },
  };
}
