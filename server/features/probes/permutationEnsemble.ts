/**
 * Empirical permutation learning (REFERENCES §3, after opallab/permlearn `experiment.py`): M independent two-layer ReLU
 * networks k → m → k, each trained by full-batch gradient descent with MSE on the k pairs (e_i, P·e_i), averaged.
 *
 * Evaluation is the reference's: inputs are nonzero 0/1 vectors, L2-normalised before the network; the running mean
 * of the members' outputs is rounded at 0 (mean > 0 → 1); an input counts only when all k coordinates are right.
 * The inputs are all 2^k − 1 of them when k ≤ 16 ('all'), else `testSamples` (1,000) inputs with exactly two ones
 * drawn at random with repeats, like the reference's test set ('two-ones'). Members are added one at a time; the run
 * stops at the first M whose accuracy reaches the target 1 − δ, or at maxModels.
 *
 * One departure, only where the evaluation includes the training inputs e_i (the reference never evaluates them):
 * a trained network interpolates them, so their off-support outputs converge to exactly 0, the rounding threshold
 * itself (the GP theory gives mean 0 and variance 0 there). Float32 gradient descent, even to convergence, leaves
 * residues of about 1e-7 there, and they lean positive (the constant mode of the NTK converges first, so the transient
 * of an off-support output is positive): with the strict rule every training input would count as wrong however many
 * members are averaged. So the threshold is `zeroTolerance` (mean > τ → 1): by default 1e-5 for the 'all'
 * evaluation, far below the test inputs' margins (≥ 1e-3) and far above the residues, and exactly 0 (the reference's
 * rule) for 'two-ones'. The result also reports the training inputs under the strict rule.
 *
 * With steps 'auto' every member trains to convergence (training MSE ≤ 1e-12), as the theory assumes.
 *
 * Members train in batches (all members of a batch together, as batched matrix products; `reluEnsemble.ts`). Member b
 * is initialised from its own seed stream and the batched kernel gives every member the same bits whatever its batch,
 * so the curve does not depend on the batch size.
 *
 * `runPermutationEnsemble` runs on the calling thread (it blocks it while ONNX Runtime computes); the server and the
 * CLI call `runPermutationProbe` (`permutationProbe.ts`), which runs it in a worker thread.
 */
import {
  evaluateMembersBatched,
  gradientStepRates,
  initialiseMembers,
  trainingAbortError,
  trainMembersBatched,
  type ReluNetShape,
} from '../../kernels/reluEnsemble';
import { mixSeed, SeededRandom } from '../../kernels/seededRandom';
import { resolvePermutationProbeOptions, type PermutationProbeOptions, type ResolvedPermutationProbeOptions } from './permutationOptions';
import { expectedAccuracy, permutationTheory, type PermutationTheoryResult } from './permutationTheory';

export { resolvePermutationProbeOptions };
export type { PermutationEvaluation, PermutationProbeOptions, ResolvedPermutationProbeOptions } from './permutationOptions';

export interface PermutationProbeProgress {
  phase: 'training' | 'evaluating';
  /** The k being run (the reproduction preset runs several). */
  k: number;
  /** Members trained and evaluated so far (the current ensemble size M). */
  models: number;
  maxModels: number;
  /** Members in the batch being trained, and its gradient steps done so far. */
  batchMembers: number;
  stepsDone: number;
  steps: number;
  /** Exact-match accuracy of the current ensemble (null before the first member). */
  accuracy: number | null;
  /** A rough overall fraction done, 0…1. */
  fraction: number;
}

export interface PermutationProbeControl {
  signal?: AbortSignal | { readonly aborted: boolean };
  onProgress?: (progress: PermutationProbeProgress) => void;
}

export interface SupportSizeAccuracy {
  n: number;
  /** Distinct inputs of this size in the evaluation set, and their weight (repeats included). */
  inputs: number;
  weight: number;
  /** Exact-match accuracy of the final ensemble on them. */
  accuracy: number;
  /** The same for a single member (the first). */
  singleModelAccuracy: number;
}

export interface PerInputMargins {
  /** The inputs, as the indices of their ones (distinct inputs only; see `weights`). */
  inputs: number[][];
  /** How many times each input occurs in the evaluation set. */
  weights: number[];
  supportSizes: number[];
  /** min over coordinates of (mean − τ) on-support and (τ − mean) off-support: > 0 when the input is right. */
  margins: number[];
  /** The same margin over the standard error of the mean, sd/√M (null with one member). */
  zScores: (number | null)[];
  histogram: { edges: number[]; counts: number[] };
}

export interface PermutationProbeResult {
  options: ResolvedPermutationProbeOptions;
  /** The evaluation set: distinct inputs and total weight (sampled inputs repeat). */
  evaluationSet: { kind: 'all' | 'two-ones'; distinctInputs: number; totalInputs: number };
  /** Smallest M whose ensemble reached the target, or null when maxModels members did not. */
  stoppedAt: number | null;
  reachedTarget: boolean;
  /** Members trained and evaluated. */
  models: number;
  /** Exact-match accuracy of the running mean for M = 1…models. */
  curve: { models: number[]; accuracy: number[] };
  /** The theory's expected accuracy on the same evaluation set for M = 1…models (same parameterisation and width). */
  theoryCurve: { models: number[]; accuracy: number[] };
  bySupportSize: SupportSizeAccuracy[];
  margins: PerInputMargins;
  /**
   * The training inputs e_i, when evaluated: accuracy under the reference's strict rule (mean > 0 → 1) and the
   * largest off-support mean, which the theory puts at exactly 0.
   */
  trainingInputs: { count: number; accuracyWithTolerance: number; strictAccuracy: number; largestOffSupportMean: number } | null;
  /** Mean squared training error of the members after training: median and worst. */
  trainLoss: { median: number; max: number };
  /** Gradient steps the members took (they differ when trained to convergence): median and most. */
  trainSteps: { median: number; max: number };
  theory: PermutationTheoryResult;
  timing: { trainMs: number; evaluateMs: number; totalMs: number; membersPerSecond: number };
}

/** The seed of member b of a run with seed `seed`. */
export const memberSeed = (seed: number, member: number) => mixSeed(seed, 3, member);

/** Targets [k, k]: row i is P·e_i = e_{π[i]}. */
export function permutationTargets(permutation: readonly number[]): Float32Array {
  const k = permutation.length;
  const targets = new Float32Array(k * k);
  permutation.forEach((image, i) => (targets[i * k + image] = 1));
  return targets;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation set and running mean

export interface EvaluationSet {
  kind: 'all' | 'two-ones';
  k: number;
  /** Distinct inputs, as sorted indices of their ones. */
  supports: number[][];
  /** [N, k] L2-normalised inputs. */
  x: Float32Array;
  /** [N, k] 0/1 targets P·x (unnormalised). */
  targets: Uint8Array;
  /** Occurrences of each distinct input. */
  weights: Float64Array;
  totalWeight: number;
}

export function buildEvaluationSet(kind: 'all' | 'two-ones', permutation: readonly number[], samples: number, seed: number): EvaluationSet {
  const k = permutation.length;
  const supports: number[][] = [];
  const weights: number[] = [];
  if (kind === 'all') {
    const count = 2 ** k - 1;
    for (let mask = 1; mask <= count; mask++) {
      const support: number[] = [];
      for (let i = 0; i < k; i++) if (mask & (1 << i)) support.push(i);
      supports.push(support);
      weights.push(1);
    }
  } else {
    // Like the reference: each sample is two distinct random positions; repeats are kept as weights.
    const random = new SeededRandom(mixSeed(seed, 2));
    const index = new Map<number, number>();
    for (let s = 0; s < samples; s++) {
      const [a, b] = random.sample(k, 2).sort((p, q) => p - q);
      const key = a * k + b;
      const found = index.get(key);
      if (found === undefined) {
        index.set(key, supports.length);
        supports.push([a, b]);
        weights.push(1);
      } else weights[found]++;
    }
  }
  const n = supports.length;
  const x = new Float32Array(n * k);
  const targets = new Uint8Array(n * k);
  supports.forEach((support, r) => {
    const value = 1 / Math.sqrt(support.length);
    for (const i of support) {
      x[r * k + i] = value;
      targets[r * k + permutation[i]] = 1;
    }
  });
  return { kind, k, supports, x, targets, weights: Float64Array.from(weights), totalWeight: weights.reduce((a, b) => a + b, 0) };
}

/** The running sum (and sum of squares) of member outputs on an evaluation set, and its exact-match accuracy. */
export class EnsembleAccumulator {
  readonly sums: Float64Array;
  readonly squares: Float64Array;
  models = 0;

  /** `threshold`: a mean above it rounds to 1 (0 is the reference's rule). */
  constructor(
    readonly set: EvaluationSet,
    readonly threshold = 0,
  ) {
    this.sums = new Float64Array(set.x.length);
    this.squares = new Float64Array(set.x.length);
  }

  /** Adds one member's outputs [N, k]. */
  add(outputs: Float32Array): void {
    const { sums, squares } = this;
    for (let i = 0; i < sums.length; i++) {
      sums[i] += outputs[i];
      squares[i] += outputs[i] * outputs[i];
    }
    this.models++;
  }

  /** Whether input r is entirely right: every coordinate of the mean rounds (> threshold → 1) to its target. */
  inputCorrect(r: number, threshold = this.threshold): boolean {
    const { k, targets } = this.set;
    const cut = threshold * this.models;
    for (let j = r * k; j < (r + 1) * k; j++) if (this.sums[j] > cut !== (targets[j] === 1)) return false;
    return true;
  }

  /** Weighted exact-match accuracy over the inputs (or over those that `include` keeps). */
  accuracy(include?: (r: number) => boolean): number {
    const { weights } = this.set;
    let right = 0;
    let total = 0;
    for (let r = 0; r < weights.length; r++) {
      if (include && !include(r)) continue;
      total += weights[r];
      if (this.inputCorrect(r)) right += weights[r];
    }
    return total > 0 ? right / total : NaN;
  }

  /** Per input: min over coordinates of the signed mean (from the threshold), and that margin in standard errors. */
  margins(): { margins: number[]; zScores: (number | null)[] } {
    const { k, targets, weights } = this.set;
    const M = this.models;
    const margins: number[] = [];
    const zScores: (number | null)[] = [];
    for (let r = 0; r < weights.length; r++) {
      let worst = Infinity;
      let worstZ = Infinity;
      for (let j = r * k; j < (r + 1) * k; j++) {
        const mean = this.sums[j] / M;
        const signed = targets[j] === 1 ? mean - this.threshold : this.threshold - mean;
        worst = Math.min(worst, signed);
        if (M > 1) {
          const variance = Math.max(0, (this.squares[j] - M * mean * mean) / (M - 1));
          const se = Math.sqrt(variance / M);
          worstZ = Math.min(worstZ, se > 0 ? signed / se : signed > 0 ? Infinity : signed < 0 ? -Infinity : 0);
        }
      }
      margins.push(worst);
      zScores.push(M > 1 && Number.isFinite(worstZ) ? worstZ : null);
    }
    return { margins, zScores };
  }
}

/** A histogram of `values` with `weights`, over [min, max] in `bins` equal bins. */
export function weightedHistogram(values: readonly number[], weights: ArrayLike<number>, bins: number): { edges: number[]; counts: number[] } {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { edges: [], counts: [] };
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (high === low) {
    low -= 0.5;
    high += 0.5;
  }
  const width = (high - low) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => low + i * width);
  const counts = new Array<number>(bins).fill(0);
  values.forEach((value, i) => {
    if (!Number.isFinite(value)) return;
    counts[Math.min(bins - 1, Math.floor((value - low) / width))] += weights[i];
  });
  return { edges, counts };
}

// ---------------------------------------------------------------------------------------------------------------
// The run

function throwIfAborted(signal: PermutationProbeControl['signal']): void {
  if (signal?.aborted) throw trainingAbortError();
}

/** Batch sizes 4, 8, 16, … up to `batchSize`: small first batches waste little when the target comes early. */
function nextBatchSize(trained: number, batchSize: number, remaining: number): number {
  const growing = Math.max(4, 2 ** Math.floor(Math.log2(Math.max(4, trained))));
  return Math.max(1, Math.min(batchSize, growing, remaining));
}

/** Trains and evaluates the ensemble on this thread. See the file comment. */
export async function runPermutationEnsemble(options: PermutationProbeOptions, control: PermutationProbeControl = {}): Promise<PermutationProbeResult> {
  const started = performance.now();
  const resolved = resolvePermutationProbeOptions(options);
  const { k, width, param, permutation, steps, maxModels, target, seed } = resolved;
  const scales = { sigmaW: resolved.sigmaW, sigmaB: resolved.sigmaB };
  const shape: ReluNetShape = { inputs: k, hidden: width, outputs: k };
  const rates = gradientStepRates(param, resolved.lr, shape, scales);
  const targets = permutationTargets(permutation);
  const set = buildEvaluationSet(resolved.evaluation, permutation, resolved.testSamples, seed);
  const accumulator = new EnsembleAccumulator(set, resolved.zeroTolerance);
  const firstMember = new EnsembleAccumulator(set, resolved.zeroTolerance);
  const accuracy: number[] = [];
  const losses: number[] = [];
  const memberSteps: number[] = [];
  let stoppedAt: number | null = null;
  let trainMs = 0;
  let evaluateMs = 0;
  const report = (progress: Omit<PermutationProbeProgress, 'k' | 'maxModels' | 'fraction'>) => {
    const fraction = Math.min(1, (progress.models + (progress.batchMembers * progress.stepsDone) / Math.max(1, progress.steps)) / maxModels);
    control.onProgress?.({ k, maxModels, fraction, ...progress });
  };
  throwIfAborted(control.signal);
  while (accumulator.models < maxModels && stoppedAt === null) {
    const count = nextBatchSize(accumulator.models, resolved.batchSize, maxModels - accumulator.models);
    const seeds = Array.from({ length: count }, (_, b) => memberSeed(seed, accumulator.models + b));
    const members = initialiseMembers(shape, seeds, scales);
    const last = accuracy.length > 0 ? accuracy[accuracy.length - 1] : null;
    const trainStart = performance.now();
    const schedule = resolved.convergence ? { steps, ...resolved.convergence } : steps;
    const { trainLoss, steps: stepsTaken } = await trainMembersBatched(members, targets, rates, schedule, {
      signal: control.signal,
      onSteps: (stepsDone) => report({ phase: 'training', models: accumulator.models, batchMembers: count, stepsDone: Math.min(stepsDone, steps), steps, accuracy: last }),
    });
    trainMs += performance.now() - trainStart;
    losses.push(...trainLoss);
    memberSteps.push(...stepsTaken);
    throwIfAborted(control.signal);
    report({ phase: 'evaluating', models: accumulator.models, batchMembers: count, stepsDone: steps, steps, accuracy: last });
    const evaluateStart = performance.now();
    const outputs = await evaluateMembersBatched(members, set.x, set.supports.length);
    const perMember = set.supports.length * k;
    for (let b = 0; b < count; b++) {
      const memberOutputs = outputs.subarray(b * perMember, (b + 1) * perMember);
      if (accumulator.models === 0) firstMember.add(memberOutputs);
      accumulator.add(memberOutputs);
      const value = accumulator.accuracy();
      accuracy.push(value);
      if (value >= target) {
        stoppedAt = accumulator.models;
        break;
      }
    }
    evaluateMs += performance.now() - evaluateStart;
    report({ phase: 'training', models: accumulator.models, batchMembers: 0, stepsDone: 0, steps, accuracy: accuracy[accuracy.length - 1] });
  }
  const models = accumulator.models;
  const theory = permutationTheory(k, { param, width, sigmaW: scales.sigmaW, sigmaB: scales.sigmaB, delta: 1 - Math.min(target, 1 - 1e-12), skipGrowth: true });
  const sizeWeights: number[] = new Array(k + 1).fill(0);
  set.supports.forEach((support, r) => (sizeWeights[support.length] += set.weights[r] / set.totalWeight));
  const curveModels = Array.from({ length: models }, (_, i) => i + 1);
  const bySize = new Map<number, SupportSizeAccuracy>();
  set.supports.forEach((support, r) => {
    const n = support.length;
    const entry = bySize.get(n) ?? { n, inputs: 0, weight: 0, accuracy: 0, singleModelAccuracy: 0 };
    entry.inputs++;
    entry.weight += set.weights[r];
    if (accumulator.inputCorrect(r)) entry.accuracy += set.weights[r];
    if (firstMember.inputCorrect(r)) entry.singleModelAccuracy += set.weights[r];
    bySize.set(n, entry);
  });
  const bySupportSize = [...bySize.values()]
    .sort((a, b) => a.n - b.n)
    .map((entry) => ({ ...entry, accuracy: entry.accuracy / entry.weight, singleModelAccuracy: entry.singleModelAccuracy / entry.weight }));
  const { margins, zScores } = accumulator.margins();
  let trainingInputs: PermutationProbeResult['trainingInputs'] = null;
  const trainingRows = set.supports.flatMap((support, r) => (support.length === 1 ? [r] : []));
  if (trainingRows.length > 0) {
    let largestOffSupportMean = -Infinity;
    for (const r of trainingRows) {
      for (let j = 0; j < k; j++) if (set.targets[r * k + j] === 0) largestOffSupportMean = Math.max(largestOffSupportMean, accumulator.sums[r * k + j] / models);
    }
    const share = (rule: (r: number) => boolean) => trainingRows.filter(rule).length / trainingRows.length;
    trainingInputs = {
      count: trainingRows.length,
      accuracyWithTolerance: share((r) => accumulator.inputCorrect(r)),
      strictAccuracy: share((r) => accumulator.inputCorrect(r, 0)),
      largestOffSupportMean,
    };
  }
  const sortedLosses = [...losses].sort((a, b) => a - b);
  const sortedSteps = [...memberSteps].sort((a, b) => a - b);
  const totalMs = performance.now() - started;
  return {
    options: resolved,
    evaluationSet: { kind: set.kind, distinctInputs: set.supports.length, totalInputs: set.totalWeight },
    stoppedAt,
    reachedTarget: stoppedAt !== null,
    models,
    curve: { models: curveModels, accuracy },
    theoryCurve: { models: curveModels, accuracy: curveModels.map((m) => expectedAccuracy(k, theory.supportSizes, sizeWeights, m)) },
    bySupportSize,
    margins: {
      inputs: set.supports,
      weights: Array.from(set.weights),
      supportSizes: set.supports.map((support) => support.length),
      margins,
      zScores,
      histogram: weightedHistogram(margins, set.weights, resolved.marginBins),
    },
    trainingInputs,
    trainLoss: { median: sortedLosses[Math.floor(sortedLosses.length / 2)] ?? NaN, max: sortedLosses[sortedLosses.length - 1] ?? NaN },
    trainSteps: { median: sortedSteps[Math.floor(sortedSteps.length / 2)] ?? 0, max: sortedSteps[sortedSteps.length - 1] ?? 0 },
    theory,
    timing: { trainMs, evaluateMs, totalMs, membersPerSecond: trainMs > 0 ? (losses.length / trainMs) * 1000 : 0 },
  };
}
