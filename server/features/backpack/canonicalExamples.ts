/**
 * Canonical examples for sense finetuning (REFERENCES §2, "Model Editing with Canonical Examples"), read from JSONL,
 * one example per line:
 *
 *   {"kind": "good", "prefix": "The capital of France is", "suffix": " Paris"}        make the suffix likely
 *   {"kind": "bad", "prefix": "The nurse said that", "suffix": " she"}                make the suffix unlikely
 *   {"kind": "balance", "prefix": "The doctor said that", "suffixes": [" he", " she"]} make both equally likely
 *   {"kind": "good-vs-bad", "prefix": "The keys", "good": " are", "bad": " is"}       prefer one suffix to the other
 *
 * An evaluation file has the same shape, plus an optional "threshold" per line that says when the example counts as a
 * success (see `exampleSucceeds`). Blank lines are skipped; every problem names the file and the line.
 */
import { promises as fsp } from 'node:fs';
import { badInput } from '../../errors';

export type CanonicalExample =
  | { kind: 'good' | 'bad'; prefix: string; suffix: string; threshold?: number; line?: number }
  | { kind: 'balance'; prefix: string; suffixes: [string, string]; threshold?: number; line?: number }
  | { kind: 'good-vs-bad'; prefix: string; good: string; bad: string; threshold?: number; line?: number };

export type CanonicalExampleKind = CanonicalExample['kind'];

export const EXAMPLE_KINDS: readonly CanonicalExampleKind[] = ['good', 'bad', 'balance', 'good-vs-bad'];

/**
 * Success thresholds when a line names none (the paper's evaluation, REFERENCES §2):
 * - good: p(suffix) ≥ 0.2 (country–capital);
 * - bad: p(suffix) < 0.001 (stereoset);
 * - balance: max(p₁, p₂) / min(p₁, p₂) ≤ 1.5 (gender);
 * - good-vs-bad: p(good) ≥ 16 × p(bad) (verb conjugation).
 */
export const DEFAULT_THRESHOLDS: Readonly<Record<CanonicalExampleKind, number>> = { good: 0.2, bad: 0.001, balance: 1.5, 'good-vs-bad': 16 };

/** The suffixes of an example in a fixed order: [suffix], [s₁, s₂] or [good, bad]. */
export function exampleSuffixes(example: CanonicalExample): string[] {
  switch (example.kind) {
    case 'good':
    case 'bad':
      return [example.suffix];
    case 'balance':
      return [...example.suffixes];
    case 'good-vs-bad':
      return [example.good, example.bad];
  }
}

export function exampleThreshold(example: CanonicalExample): number {
  return example.threshold ?? DEFAULT_THRESHOLDS[example.kind];
}

/** Whether an example succeeds given the probabilities of its suffixes (in `exampleSuffixes` order). */
export function exampleSucceeds(example: CanonicalExample, probabilities: readonly number[]): boolean {
  const threshold = exampleThreshold(example);
  switch (example.kind) {
    case 'good':
      return probabilities[0] >= threshold;
    case 'bad':
      return probabilities[0] < threshold;
    case 'balance': {
      const [a, b] = probabilities;
      const low = Math.min(a, b);
      return low > 0 && Math.max(a, b) / low <= threshold;
    }
    case 'good-vs-bad':
      return probabilities[0] >= threshold * probabilities[1];
  }
}

/** Text files larger than this are refused rather than read. */
export const MAX_EXAMPLES_FILE_BYTES = 64 * 1024 * 1024;

const HINT = 'Each line is one JSON object: {"kind":"good"|"bad","prefix":…,"suffix":…}, {"kind":"balance","prefix":…,"suffixes":[…,…]} or {"kind":"good-vs-bad","prefix":…,"good":…,"bad":…}.';

/** Parses canonical examples from JSONL text; `file` names the source in errors. */
export function parseCanonicalExamples(text: string, file: string): CanonicalExample[] {
  const examples: CanonicalExample[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '') return;
    const fail = (message: string): never => {
      throw badInput(file, `line ${line}: ${message}`, HINT);
    };
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      fail(`is not valid JSON (${(error as Error).message}).`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('is not a JSON object.');
    const record = value as Record<string, unknown>;
    const text = (key: string, allowEmpty = false): string => {
      const v = record[key];
      if (typeof v !== 'string') return fail(`"${key}" must be a string (found ${v === undefined ? 'nothing' : JSON.stringify(v)}).`);
      if (!allowEmpty && v.length === 0) return fail(`"${key}" is empty.`);
      return v;
    };
    const kind = record.kind ?? (record.suffixes !== undefined ? 'balance' : record.good !== undefined ? 'good-vs-bad' : undefined);
    if (typeof kind !== 'string' || !(EXAMPLE_KINDS as readonly string[]).includes(kind)) {
      fail(`"kind" must be one of ${EXAMPLE_KINDS.map((k) => `"${k}"`).join(', ')} (found ${JSON.stringify(record.kind)}).`);
    }
    const prefix = text('prefix');
    let threshold: number | undefined;
    if (record.threshold !== undefined) {
      if (typeof record.threshold !== 'number' || !Number.isFinite(record.threshold) || record.threshold <= 0) {
        fail(`"threshold" must be a positive number (found ${JSON.stringify(record.threshold)}).`);
      }
      threshold = record.threshold as number;
    }
    const extra = { ...(threshold === undefined ? {} : { threshold }), line };
    switch (kind as CanonicalExampleKind) {
      case 'good':
      case 'bad':
        examples.push({ kind: kind as 'good' | 'bad', prefix, suffix: text('suffix'), ...extra });
        break;
      case 'balance': {
        const suffixes: unknown = record.suffixes;
        if (!Array.isArray(suffixes) || suffixes.length !== 2 || !suffixes.every((s) => typeof s === 'string' && s.length > 0)) {
          return fail(`"suffixes" must be two non-empty strings, e.g. [" he", " she"] (found ${JSON.stringify(suffixes)}).`);
        }
        examples.push({ kind: 'balance', prefix, suffixes: [suffixes[0] as string, suffixes[1] as string], ...extra });
        break;
      }
      case 'good-vs-bad':
        examples.push({ kind: 'good-vs-bad', prefix, good: text('good'), bad: text('bad'), ...extra });
        break;
    }
  });
  if (examples.length === 0) throw badInput(file, 'has no examples (every line is blank).', HINT);
  return examples;
}

async function readTextFile(file: string, what: string): Promise<string> {
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
  } catch {
    throw badInput(file, `cannot be read (${what}).`, 'Check the path.');
  }
  if (size > MAX_EXAMPLES_FILE_BYTES) throw badInput(file, `is ${size} bytes, more than the ${MAX_EXAMPLES_FILE_BYTES} bytes read for ${what}.`, 'Use a smaller file.');
  return fsp.readFile(file, 'utf8');
}

export async function readCanonicalExamples(file: string): Promise<CanonicalExample[]> {
  return parseCanonicalExamples(await readTextFile(file, 'canonical examples'), file);
}

export interface FinetuneInputFiles {
  /** Canonical examples (JSONL). */
  examples: string;
  /** Plain text the edit should leave alone (the regulariser and the degradation budget). */
  generalText: string;
  /** Held-out examples (JSONL, optional "threshold" per line). */
  evaluation?: string;
}

export interface FinetuneInputs {
  examples: CanonicalExample[];
  generalText: string;
  evaluation?: CanonicalExample[];
}

/** Reads the files a sense finetuning run takes; every problem is a ModelLensError naming the file (and line). */
export async function readFinetuneInputs(files: FinetuneInputFiles): Promise<FinetuneInputs> {
  const examples = await readCanonicalExamples(files.examples);
  const generalText = await readTextFile(files.generalText, 'general text');
  if (generalText.trim() === '') throw badInput(files.generalText, 'is empty; the finetuning needs general text to keep the rest of the model as it was.', 'Give a few paragraphs of ordinary text.');
  const evaluation = files.evaluation === undefined ? undefined : await readCanonicalExamples(files.evaluation);
  return { examples, generalText, ...(evaluation ? { evaluation } : {}) };
}
