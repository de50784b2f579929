/**
 * The quality self-check: hold out a random fraction of the shared tokens, rebuild their base rows from the remaining
 * anchors with each method, and compare with the true base rows (cosine). Several methods run side by side on the
 * same held-out tokens.
 */
import { ModelLensError } from '../../errors';
import { cosine64 } from '../../kernels/linalg';
import type { TokenizerHandle } from '../../tokenization/tokenizer';
import { categoryOf, type VocabularyMatch } from './matchVocabularies';
import type { MatrixSpace, MethodControl, TransplantMethod } from './methods/types';
import type { CosineHistogram, SelfCheckReport, SelfCheckResult } from './report';

const HISTOGRAM_BINS = 20;

/** A seeded generator (mulberry32), so a self-check can be repeated exactly. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface HeldOutSplit {
  /** Indices into the match's anchor arrays. */
  heldOut: number[];
  kept: number[];
}

/**
 * Picks `fraction` of the shared tokens (exact, moved and byte matches; role-matched special tokens always stay
 * anchors), at least one, by a seeded shuffle.
 */
export function holdOut(match: VocabularyMatch, fraction: number, seed: number): HeldOutSplit {
  if (!(fraction > 0 && fraction < 1)) throw new ModelLensError('usage', `the self-check fraction must be between 0 and 1, not ${fraction}`);
  const pool: number[] = [];
  for (let a = 0; a < match.anchorDonorIds.length; a++) if (categoryOf(match, match.anchorDonorIds[a]) !== 'special') pool.push(a);
  const random = seededRandom(seed);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  const count = Math.max(1, Math.min(pool.length - 1, Math.round(fraction * pool.length)));
  const heldOut = pool.slice(0, count).sort((x, y) => x - y);
  const held = new Set(heldOut);
  const kept: number[] = [];
  for (let a = 0; a < match.anchorDonorIds.length; a++) if (!held.has(a)) kept.push(a);
  return { heldOut, kept };
}

export function cosineHistogram(values: ArrayLike<number>, bins = HISTOGRAM_BINS): CosineHistogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => Math.round((-1 + (2 * i) / bins) * 1e6) / 1e6);
  const counts = new Array(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(((values[i] + 1) / 2) * bins)));
    counts[bin]++;
  }
  return { edges, counts };
}

function median(sorted: number[]): number {
  if (sorted.length === 0) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface SelfCheckInput {
  match: VocabularyMatch;
  spaces: MatrixSpace[];
  methods: TransplantMethod[];
  baseTokenizer: TokenizerHandle;
  donorTokenizer: TokenizerHandle;
  fraction: number;
  seed: number;
  /** How many worst tokens to list (default 20). */
  worst?: number;
}

export async function runSelfCheck(input: SelfCheckInput, control: MethodControl = {}): Promise<SelfCheckReport> {
  const { match, spaces, methods } = input;
  const split = holdOut(match, input.fraction, input.seed);
  const targetDonorIds = Int32Array.from(split.heldOut, (a) => match.anchorDonorIds[a]);
  const truthBaseIds = Int32Array.from(split.heldOut, (a) => match.anchorBaseIds[a]);
  const anchorDonorIds = Int32Array.from(split.kept, (a) => match.anchorDonorIds[a]);
  const anchorBaseIds = Int32Array.from(split.kept, (a) => match.anchorBaseIds[a]);
  const excludedBaseIds = new Set(truthBaseIds);
  const results: SelfCheckResult[] = [];
  const runs = spaces.length * methods.length;
  let run = 0;
  for (const space of spaces) {
    for (const method of methods) {
      if (control.signal?.aborted) throw new ModelLensError('cancelled', 'the self-check was cancelled');
      const started = performance.now();
      const base = run;
      const progress = (f: number) => control.onProgress?.((base + f) / runs);
      try {
        if (method.needsDonorEmbeddings && !space.donor) throw new ModelLensError('usage', `${method.name} needs the donor's embeddings`);
        const made = await method.approximate(
          { space, anchorDonorIds, anchorBaseIds, targetDonorIds, excludedBaseIds, baseTokenizer: input.baseTokenizer, donorTokenizer: input.donorTokenizer, recipes: false },
          { signal: control.signal, onProgress: progress },
        );
        const cosines = Array.from(targetDonorIds, (_, t) => cosine64(made.rows, t * space.baseDim, space.base, truthBaseIds[t] * space.baseDim, space.baseDim));
        const order = cosines.map((_, t) => t).sort((a, b) => cosines[a] - cosines[b] || a - b);
        const sorted = order.map((t) => cosines[t]);
        results.push({
          method: method.name,
          matrix: space.matrix,
          mean: cosines.reduce((s, c) => s + c, 0) / Math.max(1, cosines.length),
          median: median(sorted),
          min: sorted[0] ?? 0,
          histogram: cosineHistogram(cosines),
          worst: order.slice(0, input.worst ?? 20).map((t) => ({ id: targetDonorIds[t], token: input.donorTokenizer.idToToken(targetDonorIds[t]) ?? '', cosine: cosines[t] })),
          seconds: (performance.now() - started) / 1000,
        });
      } catch (error) {
        if (error instanceof ModelLensError && error.code === 'cancelled') throw error;
        if (!(error instanceof ModelLensError)) throw error;
        results.push({
          method: method.name,
          matrix: space.matrix,
          mean: NaN,
          median: NaN,
          min: NaN,
          histogram: cosineHistogram([]),
          worst: [],
          seconds: (performance.now() - started) / 1000,
          error: error.toUserMessage(),
        });
      }
      run++;
      control.onProgress?.(run / runs);
    }
  }
  return { fraction: input.fraction, seed: input.seed, heldOut: targetDonorIds.length, anchorsUsed: anchorDonorIds.length, results };
}
