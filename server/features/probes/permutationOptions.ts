/**
 * Options of an empirical permutation probe (`permutationEnsemble.ts`), validated and resolved: the permutation, the
 * evaluation set, and the learning rate and step count chosen from the analytic NTK when 'auto'. Free of ONNX
 * Runtime, so the host can check a request before it starts a worker.
 */
import { ModelLensError } from '../../errors';
import { mixSeed, SeededRandom } from '../../kernels/seededRandom';
import { reluKernels, type PermutationParameterisation } from './permutationTheory';

interface InitialisationScales {
  sigmaW: number;
  sigmaB: number;
}

export type PermutationEvaluation = 'auto' | 'all' | 'two-ones';

export interface PermutationProbeOptions {
  /** Input size k (2…512). */
  k: number;
  /** Hidden width m (default 1024). */
  width?: number;
  /** 'standard' (default, the reference code) or 'ntk'. */
  param?: PermutationParameterisation;
  sigmaW?: number;
  sigmaB?: number;
  /** π with P·e_i = e_{π[i]}; default: a random permutation drawn from `seed`. */
  permutation?: number[];
  /** Seeds the permutation, the test inputs and the members (default 0). */
  seed?: number;
  /** Learning rate on the parameterisation's own parameters; 'auto' (default): 1/(c·λ₁) of the analytic NTK. */
  lr?: number | 'auto';
  /**
   * Gradient steps per member: a number trains exactly that many (like the reference's fixed epochs); 'auto'
   * (default) trains each member to convergence: at least until the analytic NTK's slowest mode has shrunk by 1e-7,
   * then on until its training MSE is ≤ 1e-12, at most 10× that (and 20,000).
   */
  steps?: number | 'auto';
  /** Target accuracy 1 − δ (default 0.9). */
  target?: number;
  /** Stop at this many members if the target is not reached (default 500). */
  maxModels?: number;
  /** 'auto' (default): all inputs when k ≤ 16, else sampled two-one inputs. */
  evaluation?: PermutationEvaluation;
  /** Sampled two-one inputs (default 1,000). */
  testSamples?: number;
  /** Most members trained together in one batch; 'auto' (default): cache-sized batches (`defaultBatchSize`). */
  batchSize?: number | 'auto';
  /** Histogram bins for the per-input margins (default 40). */
  marginBins?: number;
  /** Rounding threshold τ (mean > τ → 1); 'auto' (default): 1e-5 when the training inputs are evaluated, else 0. */
  zeroTolerance?: number | 'auto';
}

export interface ResolvedPermutationProbeOptions {
  k: number;
  width: number;
  param: PermutationParameterisation;
  sigmaW: number;
  sigmaB: number;
  permutation: number[];
  permutationGiven: boolean;
  seed: number;
  lr: number;
  lrAuto: boolean;
  /** Steps per member: exact, or the minimum when `convergence` is set. */
  steps: number;
  stepsAuto: boolean;
  /** With steps 'auto': train on until the training MSE is ≤ untilLoss, at most maxSteps. */
  convergence: { untilLoss: number; maxSteps: number } | null;
  target: number;
  maxModels: number;
  evaluation: 'all' | 'two-ones';
  testSamples: number;
  batchSize: number;
  marginBins: number;
  zeroTolerance: number;
  /** lr·c·λ of the analytic NTK: λ₁ sets stability (< 2), λ₂ the slowest decay per step. */
  stepContraction: { fastest: number; slowest: number; residualAfterSteps: number };
}

const MAX_K = 512;
const MAX_STEPS = 20_000;
const ALL_INPUTS_MAX_K = 16;
const ALL_INPUTS_HARD_MAX_K = 20;

function bad(message: string, hint?: string): ModelLensError {
  return new ModelLensError('usage', message, undefined, hint);
}

function integerOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < min || resolved > max) throw bad(`${name} must be an integer from ${min} to ${max}, not ${resolved}`);
  return resolved;
}

function checkPermutation(permutation: readonly number[], k: number): number[] {
  if (permutation.length !== k) throw bad(`the permutation has ${permutation.length} entries; k is ${k}`);
  const seen = new Set<number>();
  for (const value of permutation) {
    if (!Number.isInteger(value) || value < 0 || value >= k || seen.has(value)) {
      throw bad(`the permutation must list each of 0…${k - 1} exactly once`, 'Give π as the image of each index: P·e_i = e_{π[i]}.');
    }
    seen.add(value);
  }
  return [...permutation];
}

/** λ₁ and λ₂ of the analytic NTK on the training inputs, in the parameterisation's own units (for lr and steps). */
function trainingEigenvalues(k: number, width: number, param: PermutationParameterisation, scales: InitialisationScales): [number, number] {
  const setup = { param, fanIn: k, width, sigmaW: scales.sigmaW, sigmaB: scales.sigmaB };
  const same = reluKernels(1, setup).ntk;
  const orthogonal = reluKernels(0, setup).ntk;
  return [same + (k - 1) * orthogonal, same - orthogonal];
}

export function resolvePermutationProbeOptions(options: PermutationProbeOptions): ResolvedPermutationProbeOptions {
  const k = integerOption('k', options.k, NaN, 2, MAX_K);
  const width = integerOption('width', options.width, 1024, 1, 1 << 20);
  const param = options.param ?? 'standard';
  if (param !== 'standard' && param !== 'ntk') throw bad(`param must be "standard" or "ntk", not "${String(param)}"`);
  const sigmaW = options.sigmaW ?? 1;
  const sigmaB = options.sigmaB ?? 0;
  if (!(sigmaW > 0 && Number.isFinite(sigmaW)) || !(sigmaB >= 0 && Number.isFinite(sigmaB))) throw bad('sigmaW must be positive and sigmaB non-negative');
  const seed = integerOption('seed', options.seed, 0, 0, Number.MAX_SAFE_INTEGER);
  const permutationGiven = options.permutation !== undefined;
  const permutation = permutationGiven ? checkPermutation(options.permutation!, k) : new SeededRandom(mixSeed(seed, 1)).permutation(k);
  const target = options.target ?? 0.9;
  if (!(target > 0 && target <= 1)) throw bad(`target must be in (0, 1], not ${target}`);
  const maxModels = integerOption('maxModels', options.maxModels, 500, 1, 100_000);
  const requested = options.evaluation ?? 'auto';
  if (!['auto', 'all', 'two-ones'].includes(requested)) throw bad(`evaluation must be "auto", "all" or "two-ones", not "${requested}"`);
  const evaluation = requested === 'auto' ? (k <= ALL_INPUTS_MAX_K ? 'all' : 'two-ones') : requested;
  if (evaluation === 'all' && k > ALL_INPUTS_HARD_MAX_K) throw bad(`evaluating all 2^k − 1 inputs needs k ≤ ${ALL_INPUTS_HARD_MAX_K}; k is ${k}`, 'Use the two-ones evaluation.');
  const testSamples = integerOption('testSamples', options.testSamples, 1000, 1, 1_000_000);
  const batchSize =
    options.batchSize === undefined || options.batchSize === 'auto'
      ? Math.max(1, Math.min(64, Math.floor(98_304 / (k * width)))) // as kernels/reluEnsemble defaultBatchSize
      : integerOption('batchSize', options.batchSize, 0, 1, 4096);
  const marginBins = integerOption('marginBins', options.marginBins, 40, 1, 1000);
  const zeroTolerance = options.zeroTolerance === undefined || options.zeroTolerance === 'auto' ? (evaluation === 'all' ? 1e-5 : 0) : options.zeroTolerance;
  if (!(zeroTolerance >= 0 && zeroTolerance < 0.5)) throw bad(`zeroTolerance must be in [0, 0.5), not ${String(options.zeroTolerance)}`);
  const scales = { sigmaW, sigmaB };
  const [lambda1, lambda2] = trainingEigenvalues(k, width, param, scales);
  const mse = 2 / (k * k);
  const lrAuto = options.lr === undefined || options.lr === 'auto';
  const lr = lrAuto ? 1 / (mse * lambda1) : (options.lr as number);
  if (!(lr > 0 && Number.isFinite(lr))) throw bad(`lr must be a positive number or "auto", not ${String(options.lr)}`);
  const fastest = lr * mse * lambda1;
  const slowest = lr * mse * lambda2;
  const stepsAuto = options.steps === undefined || options.steps === 'auto';
  const steps = stepsAuto
    ? Math.min(MAX_STEPS, Math.max(1, Math.ceil(Math.log(1e-7) / Math.log(Math.abs(1 - slowest)))))
    : integerOption('steps', options.steps as number, 0, 1, 10_000_000);
  return {
    ...{ k, width, param, sigmaW, sigmaB, permutation, permutationGiven, seed, lr, lrAuto, steps, stepsAuto, target, maxModels },
    convergence: stepsAuto ? { untilLoss: 1e-12, maxSteps: Math.min(MAX_STEPS, 10 * steps) } : null,
    ...{ evaluation, testSamples, batchSize, marginBins, zeroTolerance },
    stepContraction: { fastest, slowest, residualAfterSteps: Math.pow(Math.abs(1 - slowest), steps) },
  };
}

