/**
 * Closed-form theory of exact permutation learning by ensembles of wide two-layer ReLU networks (Giapitzakis, Back de
 * Luca, Fountoulakis, arXiv 2502.16763; REFERENCES §3). Everything here is instant: O(k) per support size, O(k²) for a
 * whole report.
 *
 * The setting. A network k → m → k with ReLU and biases is trained by full-batch gradient descent on MSE over the k
 * pairs (e_i, P·e_i) and evaluated on L2-normalised nonzero 0/1 inputs. Every input, training or test, has unit norm,
 * so a kernel depends only on the cosine ρ of its two inputs. Training input e_i and a test input with support S of
 * size n have ρ = 1/√n when i ∈ S and ρ = 0 otherwise; two training inputs have ρ = 0.
 *
 * Kernels (derivation). Write the first-layer pre-activation covariance Σ¹(ρ) = σ_w²ρ/d + σ_b², with d the first
 * layer's fan-in scale (d = k for weights N(0, σ_w²/fan_in) as in the reference code, "fan-in"; d = 1 reproduces the
 * unit-input facts of REFERENCES §3, "unit"), q = Σ¹(1) and ρ¹ = Σ¹(ρ)/q. For ReLU (Cho & Saul's arc-cosine kernels,
 * θ = arccos ρ):
 *   κ₀(ρ) = (π − θ)/(2π)                    = E[relu'(u) relu'(v)] for unit-variance (u, v) with correlation ρ,
 *   κ₁(ρ) = (sin θ + (π − θ)ρ)/(2π)          = E[relu(u) relu(v)].
 * The output at initialisation is a GP with covariance (NNGP) K(ρ) = σ_w²·q·κ₁(ρ¹) + σ_b² in both
 * parameterisations (their initial function distributions agree). The tangent kernels differ:
 *  - NTK parameterisation, h = (σ_w/√d)·W·x + σ_b·b, f = (σ_w/√m)·a·relu(h) + σ_b·b₂ with every parameter N(0, 1):
 *    Θ(ρ) = K(ρ) + σ_w²·Σ¹(ρ)·κ₀(ρ¹). With σ_b = 0 and d = 1 this is exactly REFERENCES' K = κ₁, Θ = ρκ₀ + κ₁;
 *    with d = k both are divided by k (this divides the ensemble variance by k, which changes M; the mean is unchanged).
 *    Biases scaled by σ_b = 0 get no gradient: the network is bias-free, as in the paper's theory.
 *  - Standard parameterisation (the reference code: nn.Linear-style effective weights W₁ ~ N(0, σ_w²/k),
 *    W₂ ~ N(0, σ_w²/m), biases initialised N(0, σ_b²) = 0 and trained): summing the parameter gradients over m units,
 *    Θ_SP(ρ) = m·q·κ₁(ρ¹)  [W₂]  + 1  [b₂]  + σ_w²·κ₀(ρ¹)·(ρ + 1)  [W₁ (x·x' = ρ), b₁].
 *    Its first term grows with m, so as m → ∞ (at the learning rates that keep training stable, η ∝ 1/m) training is
 *    last-layer regression on random ReLU features: Θ/m → q·κ₁ = K (up to σ_b²), and the trained ensemble is the
 *    NNGP posterior. `width` keeps the O(1/m) terms for a finite network.
 * Both limits are computed from one pair of functions (K, Θ) below; only Θ's shape matters for the GP (a global scale
 * of Θ cancels), while K's scale sets the variance.
 *
 * The GP after training to convergence (Lee et al. 2019), per output coordinate j (they are independent and alike):
 *   μ(x) = Θ(x,X)Θ⁻¹Y_j,   σ²(x) = K(x,x) + Θ(x,X)Θ⁻¹KΘ⁻¹Θ(X,x) − 2Θ(x,X)Θ⁻¹K(X,x).
 * Θ(X,X) = (a − b)I + bJ with a = Θ(1), b = Θ(0): eigenvalues λ₁ = a + (k−1)b (on 1) and λ₂ = a − b, so
 * Θ⁻¹ = αI + βJ with α = 1/λ₂, β = (1/λ₁ − 1/λ₂)/k. Y_j = e_{π⁻¹(j)}: one training input has target 1. For an input
 * of size n the vector v = Θ⁻¹Θ(X,x) takes two values (i ∈ S or not), so μ and σ² depend only on n and on whether j
 * is in the image of S ("on-support") or not ("off-support"); σ² is the same for both.
 *
 * n = 1 is a training input. The GP interpolates it: μ_on = 1, μ_off = 0 exactly and σ² = 0. The reference rounds
 * "mean > 0 → 1", so 0 rounds to the right answer, but it sits exactly on the boundary: a real ensemble decides these
 * coordinates by its training residuals (see `boundary`).
 *
 * Ensembles. The mean of M independent members is Gaussian with the same mean and variance σ²/M, so the chance an
 * input of size n is entirely right is P_n(M) = Φ(μ_on√M/σ)^n · Φ(−μ_off√M/σ)^(k−n) (signed: a coordinate whose mean
 * is on the wrong side gets less likely to be right as M grows, and never reaches 1 − δ).
 */

export type PermutationParameterisation = 'ntk' | 'standard';
export type InputScaling = 'fan-in' | 'unit';

export interface ReluKernelSetup {
  param: PermutationParameterisation;
  /** The first layer's fan-in scale d (k for 'fan-in', 1 for 'unit'). */
  fanIn: number;
  /** Hidden width m; Infinity for the limit. Only the standard parameterisation's NTK depends on it. */
  width: number;
  sigmaW: number;
  sigmaB: number;
}

export interface ReluKernelValues {
  /** NNGP: the covariance of one output coordinate at initialisation. */
  nngp: number;
  /** The NTK in the units of the parameterisation's own parameters (Infinity for the standard one at m = ∞). */
  ntk: number;
  /** Θ with the width factored out (Θ/m in the standard parameterisation, Θ in the NTK one): what the GP uses. */
  ntkShape: number;
}

const clampCosine = (rho: number) => Math.max(-1, Math.min(1, rho));

/** κ₀(ρ) = (π − θ)/(2π): E[relu'(u)relu'(v)] for standard normal (u, v) with correlation ρ. */
export function reluKappa0(rho: number): number {
  return (Math.PI - Math.acos(clampCosine(rho))) / (2 * Math.PI);
}

/** κ₁(ρ) = (sin θ + (π − θ)ρ)/(2π): E[relu(u)relu(v)] for standard normal (u, v) with correlation ρ. */
export function reluKappa1(rho: number): number {
  const r = clampCosine(rho);
  const theta = Math.acos(r);
  return (Math.sin(theta) + (Math.PI - theta) * r) / (2 * Math.PI);
}

/** The closed-form NNGP and NTK of the two-layer ReLU network for two unit inputs with cosine ρ. */
export function reluKernels(rho: number, setup: ReluKernelSetup): ReluKernelValues {
  const { sigmaW, sigmaB, fanIn, width } = setup;
  const sw2 = sigmaW * sigmaW;
  const sb2 = sigmaB * sigmaB;
  const q = sw2 / fanIn + sb2;
  const sigma1 = (sw2 * rho) / fanIn + sb2;
  const rho1 = q > 0 ? sigma1 / q : 0;
  const expReluReLU = q * reluKappa1(rho1);
  const expStepStep = reluKappa0(rho1);
  const nngp = sw2 * expReluReLU + sb2;
  if (setup.param === 'ntk') {
    const ntk = nngp + sw2 * sigma1 * expStepStep;
    return { nngp, ntk, ntkShape: ntk };
  }
  // Standard parameterisation: W₂ (m features), b₂, W₁ and b₁ (x·x' = ρ for unit inputs).
  const lowerOrder = 1 + sw2 * expStepStep * (rho + 1);
  if (!Number.isFinite(width)) return { nngp, ntk: Infinity, ntkShape: expReluReLU };
  return { nngp, ntk: width * expReluReLU + lowerOrder, ntkShape: expReluReLU + lowerOrder / width };
}

// ---------------------------------------------------------------------------------------------------------------
// The normal distribution, accurate in the tails (the ensemble sizes need log Φ(z) for z up to ~40)

/** The continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + …))), with erfc(x) = e^(−x²)/(√π · it), for x ≥ 2.5 (Lentz). */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return f;
}

/** erfc(x) for x ≥ 0 with ~1e-14 relative accuracy: a positive series below 2.5, a continued fraction above. */
function erfcNonNegative(x: number): number {
  if (x < 2.5) {
    // erf(x) = (2/√π)·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1)): all terms positive, no cancellation.
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / erfcContinuedFraction(x);
}

/** Φ(z), the standard normal CDF. */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z === Infinity) return 1;
  if (z === -Infinity) return 0;
  const tail = 0.5 * erfcNonNegative(Math.abs(z) / Math.SQRT2);
  return z < 0 ? tail : 1 - tail;
}

/** log Φ(z), accurate for large positive z (log Φ(z) ≈ −Φ(−z)) and for large negative z (no underflow). */
export function logNormalCdf(z: number): number {
  if (z === Infinity) return 0;
  if (z === -Infinity) return -Infinity;
  if (z >= 0) return Math.log1p(-0.5 * erfcNonNegative(z / Math.SQRT2));
  const x = -z / Math.SQRT2;
  if (x < 2.5) return Math.log(0.5 * erfcNonNegative(x));
  return Math.log(0.5) - x * x - 0.5 * Math.log(Math.PI) - Math.log(erfcContinuedFraction(x));
}

/** log(1 − e^a) for a ≤ 0, without cancellation. */
function log1mExp(a: number): number {
  if (a === 0) return -Infinity;
  return a > -Math.LN2 ? Math.log(-Math.expm1(a)) : Math.log1p(-Math.exp(a));
}

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const value of values) sum += Math.exp(value - max);
  return max + Math.log(sum);
}

/** log C(k, n) for n = 0…k. */
function logBinomials(k: number): number[] {
  const logFactorial = [0];
  for (let i = 1; i <= k; i++) logFactorial.push(logFactorial[i - 1] + Math.log(i));
  return Array.from({ length: k + 1 }, (_, n) => logFactorial[k] - logFactorial[n] - logFactorial[k - n]);
}

// ---------------------------------------------------------------------------------------------------------------
// The GP for each support size

export interface SupportSizeTheory {
  /** Number of ones in the input. */
  n: number;
  /** How many inputs have this size: C(k, n) (a float for large k). */
  count: number;
  /** GP mean of an output coordinate in the image of the support (target 1). */
  meanOn: number;
  /** GP mean of an output coordinate outside it (target 0); small and negative for n ≥ 2, exactly 0 for n = 1. */
  meanOff: number;
  /** GP variance of one member's output coordinate (the same on and off the support). */
  variance: number;
  sd: number;
  /**
   * meanOn / sd: the on-support margin of one member in standard deviations (an ensemble of M has √M times it); null
   * when sd = 0 (n = 1: no noise, the mean alone decides).
   */
  marginOn: number | null;
  /** −meanOff / sd: the off-support margin (positive when the mean is on the right side of 0); null when sd = 0 or n = k. */
  marginOff: number | null;
  /** True for n = 1: the training inputs, interpolated exactly, whose off-support mean is exactly the rounding threshold. */
  boundary: boolean;
  /** Smallest M with P(input entirely correct) ≥ 1 − δ; null when no M reaches it (a mean on the wrong side). */
  modelsForOneInput: number | null;
}

export interface ModelsNeeded {
  /** Smallest M, or null when no ensemble size reaches 1 − δ. */
  models: number | null;
  /** What the M guarantees. */
  meaning: string;
}

export interface GrowthRow {
  k: number;
  /** Worst single input (the size n that needs most members). */
  oneInput: number | null;
  oneInputWorstSize: number | null;
  twoOnes: number | null;
  /** All 2^k − 1 inputs right at once (union bound). */
  allInputs: number | null;
  kLogK: number;
  kSquared: number;
  oneInputOverKLogK: number | null;
  allInputsOverKSquared: number | null;
}

export interface PermutationTheoryOptions {
  /** 'standard' (default, the reference code) or 'ntk'. */
  param?: PermutationParameterisation;
  /** Hidden width for the standard parameterisation's O(1/m) NTK terms; default Infinity (the limit). */
  width?: number;
  /** Weight scale σ_w (default 1). */
  sigmaW?: number;
  /** Bias scale σ_b (default 0, as in the reference). */
  sigmaB?: number;
  /** 'fan-in' (default): first-layer weights N(0, σ_w²/k) as trained; 'unit': REFERENCES' K = κ₁, Θ = ρκ₀ + κ₁. */
  inputScaling?: InputScaling;
  /** Target error δ (default 0.1: 90% accuracy). */
  delta?: number;
  /** The k values of the growth table (default 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200). */
  growthKs?: number[];
  /** Ensemble sizes 1…curveModels for the accuracy curves (default: 1.5× the largest finite M reported, 20…5000). */
  curveModels?: number;
  /** Skip the growth table (it recomputes the theory for every k in growthKs). */
  skipGrowth?: boolean;
}

export interface PermutationTheoryResult {
  k: number;
  param: PermutationParameterisation;
  width: number | null;
  sigmaW: number;
  sigmaB: number;
  inputScaling: InputScaling;
  delta: number;
  /** The kernels at the cosines that occur (unit inputs). */
  kernels: {
    /** K and Θ (shape) at ρ = 1 (same input) and ρ = 0 (two training inputs). */
    nngpSame: number;
    nngpOrthogonal: number;
    ntkSame: number;
    ntkOrthogonal: number;
    /** Eigenvalues of Θ(X, X) (shape units): λ₁ on the all-ones vector, λ₂ (k − 1 times) on its complement. */
    trainEigenvalues: [number, number];
  };
  /** n = 1…k. */
  supportSizes: SupportSizeTheory[];
  models: {
    /** The worst single input: max over n of the per-size M. */
    oneInput: ModelsNeeded & { worstSize: number | null };
    /** Inputs with exactly two ones (the paper's test set): expected exact-match accuracy ≥ 1 − δ. */
    twoOnes: ModelsNeeded;
    /** All 2^k − 1 inputs right at once with probability ≥ 1 − δ (union bound over sizes, weighted by C(k, n)). */
    allInputs: ModelsNeeded;
    /** Expected exact-match accuracy over all 2^k − 1 inputs ≥ 1 − δ (what an all-inputs evaluation measures). */
    allInputsAverage: ModelsNeeded;
  };
  /** Expected accuracy for ensemble sizes 1…curveModels: on two-one inputs and over all inputs. */
  curves: { models: number[]; twoOnes: number[]; allInputsAverage: number[] };
  /** How the ensemble sizes grow with k, against k log k (one input) and k² (all inputs). */
  growth: GrowthRow[];
  notes: string[];
}

interface Resolved {
  param: PermutationParameterisation;
  width: number;
  sigmaW: number;
  sigmaB: number;
  inputScaling: InputScaling;
  delta: number;
}

function resolve(k: number, options: PermutationTheoryOptions): Resolved {
  if (!Number.isInteger(k) || k < 2 || k > 100_000) throw new RangeError(`k must be an integer from 2 to 100000, not ${k}`);
  const delta = options.delta ?? 0.1;
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), not ${delta}`);
  const width = options.width ?? Infinity;
  if (!(width >= 1)) throw new RangeError(`width must be at least 1, not ${width}`);
  const sigmaW = options.sigmaW ?? 1;
  const sigmaB = options.sigmaB ?? 0;
  if (!(sigmaW > 0) || !(sigmaB >= 0)) throw new RangeError('sigmaW must be positive and sigmaB non-negative');
  return { param: options.param ?? 'standard', width, sigmaW, sigmaB, inputScaling: options.inputScaling ?? 'fan-in', delta };
}

function kernelSetup(k: number, r: Resolved): ReluKernelSetup {
  return { param: r.param, fanIn: r.inputScaling === 'fan-in' ? k : 1, width: r.width, sigmaW: r.sigmaW, sigmaB: r.sigmaB };
}

/** The GP mean (on and off the support) and variance for every support size n = 1…k, in O(k). */
export function supportSizeGp(k: number, setup: ReluKernelSetup): { n: number; meanOn: number; meanOff: number; variance: number }[] {
  const K = (rho: number) => reluKernels(rho, setup).nngp;
  const T = (rho: number) => reluKernels(rho, setup).ntkShape;
  const a = T(1);
  const b = T(0);
  const lambda1 = a + (k - 1) * b;
  const lambda2 = a - b;
  const alpha = 1 / lambda2;
  const beta = (1 / lambda1 - 1 / lambda2) / k;
  const kSame = K(1);
  const kOrth = K(0);
  const rows = [{ n: 1, meanOn: 1, meanOff: 0, variance: 0 }];
  for (let n = 2; n <= k; n++) {
    const rho = 1 / Math.sqrt(n);
    const tOn = T(rho);
    const tOff = b;
    const s = n * tOn + (k - n) * tOff;
    // v = Θ⁻¹Θ(X, x): vOn on the support, vOff elsewhere; μ_j = v[π⁻¹(j)].
    const vOn = alpha * tOn + beta * s;
    const vOff = alpha * tOff + beta * s;
    const sumV = n * vOn + (k - n) * vOff;
    const vKv = (kSame - kOrth) * (n * vOn * vOn + (k - n) * vOff * vOff) + kOrth * sumV * sumV;
    const vk = n * vOn * K(rho) + (k - n) * vOff * kOrth;
    const variance = Math.max(0, kSame + vKv - 2 * vk);
    rows.push({ n, meanOn: vOn, meanOff: n < k ? vOff : 0, variance });
  }
  return rows;
}

/** log P(one coordinate of the M-member mean rounds right). */
function logCoordinateCorrect(mean: number, sd: number, models: number, on: boolean): number {
  if (sd === 0) return (on ? mean > 0 : mean <= 0) ? 0 : -Infinity;
  return logNormalCdf(((on ? mean : -mean) * Math.sqrt(models)) / sd);
}

/** log P(an input of size n is entirely right with M members). */
export function logProbabilityInputCorrect(k: number, size: Pick<SupportSizeTheory, 'n' | 'meanOn' | 'meanOff' | 'sd'>, models: number): number {
  const on = logCoordinateCorrect(size.meanOn, size.sd, models, true);
  const off = size.n < k ? logCoordinateCorrect(size.meanOff, size.sd, models, false) : 0;
  return size.n * on + (k - size.n) * off;
}

/** P(an input of size n is entirely right with M members) = ∏ Φ(±μ√M/σ). */
export function probabilityInputCorrect(k: number, size: Pick<SupportSizeTheory, 'n' | 'meanOn' | 'meanOff' | 'sd'>, models: number): number {
  return Math.exp(logProbabilityInputCorrect(k, size, models));
}

/**
 * Expected exact-match accuracy of an M-member ensemble on an evaluation set whose inputs have sizes distributed as
 * `sizeWeights` (sizeWeights[n] = fraction of inputs with n ones; index 0 unused).
 */
export function expectedAccuracy(k: number, sizes: readonly SupportSizeTheory[], sizeWeights: readonly number[], models: number): number {
  let accuracy = 0;
  for (const size of sizes) {
    const weight = sizeWeights[size.n] ?? 0;
    if (weight > 0) accuracy += weight * probabilityInputCorrect(k, size, models);
  }
  return accuracy;
}

const MODEL_CAP = 1e15;

/** Smallest integer M ≥ 1 with ok(M), for ok monotone in M; null when even MODEL_CAP fails. */
function smallestModels(ok: (models: number) => boolean): number | null {
  if (ok(1)) return 1;
  let high = 2;
  while (!ok(high)) {
    if (high >= MODEL_CAP) return null;
    high = Math.min(MODEL_CAP, high * 2);
  }
  let low = high / 2; // fails
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (ok(middle)) high = middle;
    else low = middle;
  }
  return high;
}

/** Whether the means sit on the right side of 0, so that large enough ensembles round correctly. */
const meansRight = (k: number, size: Pick<SupportSizeTheory, 'n' | 'meanOn' | 'meanOff' | 'sd'>) =>
  size.meanOn > 0 && (size.n === k || (size.sd === 0 ? size.meanOff <= 0 : size.meanOff < 0));

interface CoreTheory {
  sizes: SupportSizeTheory[];
  oneInput: number | null;
  worstSize: number | null;
  twoOnes: number | null;
  allInputs: number | null;
  allInputsAverage: number | null;
  kernels: PermutationTheoryResult['kernels'];
}

function coreTheory(k: number, r: Resolved): CoreTheory {
  const setup = kernelSetup(k, r);
  const logDelta = Math.log(r.delta);
  const logOneMinusDelta = Math.log1p(-r.delta);
  const logCounts = logBinomials(k);
  const sizes: SupportSizeTheory[] = supportSizeGp(k, setup).map((row) => {
    const sd = Math.sqrt(row.variance);
    const base = { ...row, sd, count: Math.exp(logCounts[row.n]) };
    const right = meansRight(k, base);
    return {
      ...base,
      marginOn: sd === 0 ? null : row.meanOn / sd,
      marginOff: row.n === k || sd === 0 ? null : -row.meanOff / sd,
      boundary: row.n === 1,
      modelsForOneInput: right ? smallestModels((m) => logProbabilityInputCorrect(k, base, m) >= logOneMinusDelta) : null,
    };
  });
  const allRight = sizes.every((size) => size.modelsForOneInput !== null);
  let oneInput: number | null = null;
  let worstSize: number | null = null;
  if (allRight) {
    for (const size of sizes) {
      if (oneInput === null || size.modelsForOneInput! > oneInput) {
        oneInput = size.modelsForOneInput;
        worstSize = size.n;
      }
    }
  }
  const twoOnes = sizes[1]?.modelsForOneInput ?? null;
  // Union bound: Σ_n C(k, n)·(1 − P_n(M)) ≤ δ, in logs.
  const logFailureSum = (m: number) => logSumExp(sizes.map((size) => logCounts[size.n] + log1mExp(logProbabilityInputCorrect(k, size, m))));
  const allInputs = allRight ? smallestModels((m) => logFailureSum(m) <= logDelta) : null;
  // Average: Σ_n C(k, n)·(1 − P_n(M)) ≤ δ·(2^k − 1).
  const logInputs = k * Math.LN2 + Math.log1p(-Math.pow(2, -k));
  const allInputsAverage = allRight ? smallestModels((m) => logFailureSum(m) <= logDelta + logInputs) : null;
  const K = (rho: number) => reluKernels(rho, setup).nngp;
  const T = (rho: number) => reluKernels(rho, setup).ntkShape;
  const kernels: PermutationTheoryResult['kernels'] = {
    nngpSame: K(1),
    nngpOrthogonal: K(0),
    ntkSame: T(1),
    ntkOrthogonal: T(0),
    trainEigenvalues: [T(1) + (k - 1) * T(0), T(1) - T(0)],
  };
  return { sizes, oneInput, worstSize, twoOnes, allInputs, allInputsAverage, kernels };
}

const DEFAULT_GROWTH_KS = [5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200];

/** The growth of the ensemble sizes with k, for the same parameterisation and δ. */
export function permutationGrowthTable(options: PermutationTheoryOptions = {}, ks: readonly number[] = options.growthKs ?? DEFAULT_GROWTH_KS): GrowthRow[] {
  return ks.map((k) => {
    const core = coreTheory(k, resolve(k, options));
    const kLogK = k * Math.log(k);
    return {
      k,
      oneInput: core.oneInput,
      oneInputWorstSize: core.worstSize,
      twoOnes: core.twoOnes,
      allInputs: core.allInputs,
      kLogK,
      kSquared: k * k,
      oneInputOverKLogK: core.oneInput === null ? null : core.oneInput / kLogK,
      allInputsOverKSquared: core.allInputs === null ? null : core.allInputs / (k * k),
    };
  });
}

/**
 * The whole theory for one k: kernels, the GP for every support size, margins, the ensemble sizes for 1 − δ (one
 * input, two-one inputs, all inputs), accuracy curves, and the growth table.
 */
export function permutationTheory(k: number, options: PermutationTheoryOptions = {}): PermutationTheoryResult {
  const r = resolve(k, options);
  const core = coreTheory(k, r);
  const finite = [core.oneInput, core.twoOnes, core.allInputs, core.allInputsAverage].filter((m): m is number => m !== null);
  const curveModels = options.curveModels ?? Math.max(20, Math.min(5000, Math.ceil(1.5 * Math.max(0, ...finite))));
  const models = Array.from({ length: curveModels }, (_, i) => i + 1);
  const twoWeights: number[] = [];
  twoWeights[2] = 1;
  const total = Math.pow(2, k) - 1;
  const allWeights = core.sizes.map((size) => size.count / total);
  allWeights.unshift(0);
  const curves = {
    models,
    twoOnes: models.map((m) => expectedAccuracy(k, core.sizes, twoWeights, m)),
    allInputsAverage: models.map((m) => expectedAccuracy(k, core.sizes, allWeights, m)),
  };
  const notes = [
    'n = 1 inputs are the training inputs: the converged GP interpolates them (off-support mean exactly 0, variance 0), ' +
      'which the rounding "mean > 0 → 1" counts as right; a real ensemble decides them by its training residuals.',
  ];
  if (r.param === 'standard' && !Number.isFinite(r.width)) {
    notes.push('Standard parameterisation at infinite width: training is last-layer regression on random ReLU features, so the ensemble is the NNGP posterior.');
  }
  const wrong = core.sizes.filter((size) => size.modelsForOneInput === null);
  if (wrong.length > 0) {
    notes.push(`The GP mean rounds wrongly for support sizes ${wrong.map((size) => size.n).join(', ')}: no ensemble size reaches 1 − δ there.`);
  }
  return {
    k,
    param: r.param,
    width: Number.isFinite(r.width) ? r.width : null,
    sigmaW: r.sigmaW,
    sigmaB: r.sigmaB,
    inputScaling: r.inputScaling,
    delta: r.delta,
    kernels: core.kernels,
    supportSizes: core.sizes,
    models: {
      oneInput: { models: core.oneInput, worstSize: core.worstSize, meaning: 'every single input (the worst support size) is entirely right with probability ≥ 1 − δ' },
      twoOnes: { models: core.twoOnes, meaning: 'expected exact-match accuracy ≥ 1 − δ on inputs with exactly two ones (the paper’s test set)' },
      allInputs: { models: core.allInputs, meaning: 'all 2^k − 1 inputs are right at once with probability ≥ 1 − δ (union bound)' },
      allInputsAverage: { models: core.allInputsAverage, meaning: 'expected exact-match accuracy ≥ 1 − δ over all 2^k − 1 inputs' },
    },
    curves,
    growth: options.skipGrowth ? [] : permutationGrowthTable(options),
    notes,
  };
}
