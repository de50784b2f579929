/**
 * Batched training and evaluation of many independent two-layer ReLU networks (k → m → o, with biases), the members of
 * an ensemble. All members train together: their parameters are stacked along a leading batch axis and every step is a
 * handful of batched matrix products in ONNX Runtime (a graph built in code, several steps unrolled per run), not a
 * loop over networks. `trainMembersNaive` is the one-network-at-a-time JavaScript peer: the same arithmetic, used to
 * check the batched kernel and as the benchmark's baseline.
 *
 * Parameters are stored as the *effective* weights the network multiplies by (h = W₁x + b₁, f = W₂·relu(h) + b₂).
 * Both parameterisations initialise them the same way, W₁ ~ N(0, σ_w²/fan_in), W₂ ~ N(0, σ_w²/m), biases N(0, σ_b²).
 * They differ only in how gradient descent moves them: a parameter p with effective weight s·p moves by lr·s² times the
 * gradient with respect to the effective weight, so the NTK parameterisation (s = σ_w/√fan_in, σ_b) is the standard one
 * (s = 1) with per-layer rates; see `gradientStepRates`.
 *
 * Training inputs are the standard basis e₁…e_k (the permutation task's training set): the first layer's
 * pre-activations for input e_i are then just row i of W₁ᵀ plus b₁, and the first layer's weight gradient is the
 * pre-activation gradient itself. Loss: MSE averaged over all k × o entries (PyTorch's `mse_loss`), full batch.
 */
import * as ort from 'onnxruntime-node';
import { ModelLensError } from '../errors';
import { buildOnnxModel, ints, OnnxType, type OnnxNode, type OnnxValueInfo } from './onnxGraph';
import { SeededRandom } from './seededRandom';

export type ReluParameterisation = 'ntk' | 'standard';

export interface ReluNetShape {
  /** Input size k (the training inputs are e₁…e_k). */
  inputs: number;
  /** Hidden width m. */
  hidden: number;
  /** Output size. */
  outputs: number;
}

/** The parameters of `count` members, stacked: member b's block of each array is contiguous. */
export interface MemberParameters {
  shape: ReluNetShape;
  count: number;
  /** [count, inputs, hidden]: W₁ᵀ, row i = the hidden pre-activations input e_i adds. */
  w1t: Float32Array;
  /** [count, hidden] */
  b1: Float32Array;
  /** [count, outputs, hidden]: W₂. */
  w2: Float32Array;
  /** [count, outputs] */
  b2: Float32Array;
}

/** How far one step moves each layer per unit of (output − target): lr × the parameterisation's scale × MSE's 2/(k·o). */
export interface StepRates {
  w1: number;
  b1: number;
  w2: number;
  b2: number;
}

export interface InitialisationScales {
  sigmaW: number;
  sigmaB: number;
}

function checkShape(shape: ReluNetShape): void {
  for (const [name, value] of Object.entries(shape)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new ModelLensError('usage', `network ${name} must be a positive integer, not ${value}`);
  }
}

/** Fresh members, member b drawn from its own stream `seeds[b]` (so a member does not depend on its batch). */
export function initialiseMembers(shape: ReluNetShape, seeds: readonly number[], scales: InitialisationScales): MemberParameters {
  checkShape(shape);
  const { inputs, hidden, outputs } = shape;
  const count = seeds.length;
  const params: MemberParameters = {
    shape,
    count,
    w1t: new Float32Array(count * inputs * hidden),
    b1: new Float32Array(count * hidden),
    w2: new Float32Array(count * outputs * hidden),
    b2: new Float32Array(count * outputs),
  };
  const w1Sd = scales.sigmaW / Math.sqrt(inputs);
  const w2Sd = scales.sigmaW / Math.sqrt(hidden);
  seeds.forEach((seed, b) => {
    const random = new SeededRandom(seed);
    random.fillNormal(params.w1t, w1Sd, b * inputs * hidden, (b + 1) * inputs * hidden);
    random.fillNormal(params.w2, w2Sd, b * outputs * hidden, (b + 1) * outputs * hidden);
    if (scales.sigmaB > 0) {
      random.fillNormal(params.b1, scales.sigmaB, b * hidden, (b + 1) * hidden);
      random.fillNormal(params.b2, scales.sigmaB, b * outputs, (b + 1) * outputs);
    }
  });
  return params;
}

/** Members [start, end) of `params`, as copies. */
export function sliceMembers(params: MemberParameters, start: number, end: number): MemberParameters {
  const { inputs, hidden, outputs } = params.shape;
  return {
    shape: params.shape,
    count: end - start,
    w1t: params.w1t.slice(start * inputs * hidden, end * inputs * hidden),
    b1: params.b1.slice(start * hidden, end * hidden),
    w2: params.w2.slice(start * outputs * hidden, end * outputs * hidden),
    b2: params.b2.slice(start * outputs, end * outputs),
  };
}

/**
 * The per-layer step sizes for learning rate `lr` on the parameterisation's own parameters, MSE over k × o entries.
 * Standard: every effective weight moves by lr × its gradient. NTK: W₁ by lr·σ_w²/k, b₁ by lr·σ_b², W₂ by lr·σ_w²/m,
 * b₂ by lr·σ_b² (biases scaled by σ_b = 0 never move).
 */
export function gradientStepRates(param: ReluParameterisation, lr: number, shape: ReluNetShape, scales: InitialisationScales): StepRates {
  const mse = 2 / (shape.inputs * shape.outputs);
  const step = lr * mse;
  if (param === 'standard') return { w1: step, b1: step, w2: step, b2: step };
  const sw2 = scales.sigmaW * scales.sigmaW;
  const sb2 = scales.sigmaB * scales.sigmaB;
  return { w1: (step * sw2) / shape.inputs, b1: step * sb2, w2: (step * sw2) / shape.hidden, b2: step * sb2 };
}

export interface TrainControl {
  /** Checked between runs of the kernel; an aborted signal rejects with an error named 'AbortError'. */
  signal?: { readonly aborted: boolean };
  /** Called after each run of the kernel with the steps done so far. */
  onSteps?: (stepsDone: number) => void;
}

export function trainingAbortError(): Error {
  const error = new Error('the training was cancelled');
  error.name = 'AbortError';
  return error;
}

// ---------------------------------------------------------------------------------------------------------------
// The one-network-at-a-time peer (plain loops, float32 storage, float64 sums)

/**
 * Trains each member in turn, in place, for `schedule`, by full-batch GD on (e_i, targets[i]) — the arithmetic of the
 * batched kernel without its batching or SIMD. `targets` is [inputs, outputs].
 */
export function trainMembersNaive(params: MemberParameters, targets: Float32Array, rates: StepRates, schedule: TrainSchedule, control: TrainControl = {}): TrainResult {
  const { minSteps, untilLoss, maxSteps } = scheduleParts(schedule);
  const { inputs: k, hidden: m, outputs: o } = params.shape;
  const act = new Float32Array(k * m);
  const residual = new Float64Array(k * o);
  const dAct = new Float64Array(m);
  const dPre = new Float32Array(k * m);
  const biasRatio = rates.b1 / rates.w1;
  const trainLoss = new Float64Array(params.count);
  const stepsTaken = new Int32Array(params.count);
  for (let b = 0; b < params.count; b++) {
    const w1t = params.w1t.subarray(b * k * m, (b + 1) * k * m);
    const b1 = params.b1.subarray(b * m, (b + 1) * m);
    const w2 = params.w2.subarray(b * o * m, (b + 1) * o * m);
    const b2 = params.b2.subarray(b * o, (b + 1) * o);
    let checkAt = nextChunk(0, minSteps, maxSteps);
    for (let step = 0; step < maxSteps; step++) {
      if (control.signal?.aborted) throw trainingAbortError();
      for (let i = 0; i < k; i++) {
        for (let h = 0; h < m; h++) {
          const value = w1t[i * m + h] + b1[h];
          act[i * m + h] = value > 0 ? value : 0;
        }
      }
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < o; j++) {
          let sum = 0;
          for (let h = 0; h < m; h++) sum += act[i * m + h] * w2[j * m + h];
          residual[i * o + j] = sum + b2[j] - targets[i * o + j];
        }
      }
      // First-layer gradients use the old W₂, so compute them before W₂ moves.
      for (let i = 0; i < k; i++) {
        dAct.fill(0);
        for (let j = 0; j < o; j++) {
          const g = -rates.w1 * residual[i * o + j];
          for (let h = 0; h < m; h++) dAct[h] += g * w2[j * m + h];
        }
        for (let h = 0; h < m; h++) dPre[i * m + h] = act[i * m + h] > 0 ? dAct[h] : 0;
      }
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < o; j++) {
          const g = -rates.w2 * residual[i * o + j];
          for (let h = 0; h < m; h++) w2[j * m + h] += g * act[i * m + h];
        }
      }
      for (let j = 0; j < o; j++) {
        let sum = 0;
        for (let i = 0; i < k; i++) sum += residual[i * o + j];
        b2[j] += -rates.b2 * sum;
      }
      for (let i = 0; i < k; i++) {
        for (let h = 0; h < m; h++) {
          w1t[i * m + h] += dPre[i * m + h];
          b1[h] += biasRatio * dPre[i * m + h];
        }
      }
      stepsTaken[b] = step + 1;
      control.onSteps?.(step + 1);
      if (step + 1 === checkAt) {
        // The same checkpoints as the batched kernel: its last run's residual is that of the run's last step.
        let sum = 0;
        for (let index = 0; index < k * o; index++) sum += residual[index] * residual[index];
        trainLoss[b] = sum / (k * o);
        if (step + 1 >= minSteps && trainLoss[b] <= untilLoss) break;
        checkAt += nextChunk(checkAt, minSteps, maxSteps);
      }
    }
  }
  return { trainLoss, steps: stepsTaken };
}

/** Outputs of every member on `x` ([n, inputs], any inputs): [count, n, outputs], by plain loops. */
export function evaluateMembersNaive(params: MemberParameters, x: Float32Array, n: number): Float32Array {
  const { inputs: k, hidden: m, outputs: o } = params.shape;
  const out = new Float32Array(params.count * n * o);
  const hiddenValues = new Float64Array(m);
  for (let b = 0; b < params.count; b++) {
    for (let r = 0; r < n; r++) {
      for (let h = 0; h < m; h++) hiddenValues[h] = params.b1[b * m + h];
      for (let i = 0; i < k; i++) {
        const xi = x[r * k + i];
        if (xi === 0) continue;
        const row = (b * k + i) * m;
        for (let h = 0; h < m; h++) hiddenValues[h] += xi * params.w1t[row + h];
      }
      for (let j = 0; j < o; j++) {
        let sum = params.b2[b * o + j];
        const row = (b * o + j) * m;
        for (let h = 0; h < m; h++) if (hiddenValues[h] > 0) sum += hiddenValues[h] * params.w2[row + h];
        out[(b * n + r) * o + j] = sum;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The batched ONNX kernels

/**
 * How many members to train together: enough that one ONNX Runtime run does real work (small networks are dominated
 * by per-run overhead, so batching them is up to ~4× faster), but each [B, k, m] tensor stays near 96K floats
 * (~384 KiB), cache-sized: the steps are memory-bound beyond that, and a batch of big members is no faster per
 * member than one member at a time. Measured on this project's 2-core machine (bench/probes.ts).
 */
export function defaultBatchSize(shape: ReluNetShape, most = 64): number {
  return Math.max(1, Math.min(most, Math.floor(98_304 / (shape.inputs * shape.hidden))));
}

/** Steps unrolled into one training graph run (fewer session runs; progress and cancellation between runs). */
export const STEPS_PER_RUN = 8;

const tensorInfo = (name: string, dims: (number | string)[]): OnnxValueInfo => ({ name, type: OnnxType.float, dims });

/**
 * A graph of `steps` full-batch GD steps on the basis training set for a batch of members. The step sizes are applied
 * to the small residual [B, k, o] before the products (cheaper than scaling [B, k, m] gradients), and the bias
 * gradients are products with a row of ones rather than ReduceSum: ONNX Runtime reduces in a different order for
 * different batch sizes, while its batched MatMul runs the same per-member GEMM, so a member trains to the same bits
 * whether it is trained alone or in a batch.
 */
function trainingGraph(steps: number): Uint8Array {
  const nodes: OnnxNode[] = [];
  const node = (op: string, inputs: string[], output: string, attributes?: OnnxNode['attributes']) => {
    nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  };
  let w1t = 'w1t';
  let b1 = 'b1';
  let w2 = 'w2';
  let b2 = 'b2';
  for (let s = 0; s < steps; s++) {
    const last = s === steps - 1;
    const suffix = last ? '_out' : `_${s}`;
    const act = node('Relu', [node('Add', [w1t, b1], `pre_${s}`)], `act_${s}`); // [B, k, m]
    const w2t = node('Transpose', [w2], `w2t_${s}`, { perm: ints([0, 2, 1]) }); // [B, m, o]
    const out = node('Add', [node('MatMul', [act, w2t], `logits_${s}`), b2], `out_${s}`); // [B, k, o]
    const residual = node('Sub', [out, 'targets'], last ? 'residual' : `residual_${s}`); // [B, k, o]
    const moving = node('Mul', [residual, 'active'], `moving_${s}`); // converged members (active 0) stop moving
    // Second layer: W₂ −= rate·residualᵀ·act, b₂ −= rate·1ᵀ·residual.
    const stepW2 = node('Mul', [moving, 'neg_rate_w2'], `rw2_${s}`);
    const stepW2T = node('Transpose', [stepW2], `rw2t_${s}`, { perm: ints([0, 2, 1]) }); // [B, o, k]
    const nextW2 = node('Add', [w2, node('MatMul', [stepW2T, act], `dw2_${s}`)], `w2${suffix}`);
    const stepB2 = node('Mul', [moving, 'neg_rate_b2'], `rb2_${s}`);
    b2 = node('Add', [b2, node('MatMul', ['ones', stepB2], `db2_${s}`)], `b2${suffix}`); // [B, 1, o]
    // First layer (old W₂): W₁ᵀ −= rate·(residual·W₂ ⊙ relu'(pre)); b₁ −= rate_b₁·1ᵀ·(residual·W₂ ⊙ relu'(pre)).
    const stepW1 = node('Mul', [moving, 'neg_rate_w1'], `rw1_${s}`);
    const mask = node('Sign', [act], `mask_${s}`); // relu'(pre) = sign(relu(pre))
    const dPre = node('Mul', [node('MatMul', [stepW1, w2], `dact_${s}`), mask], `dpre_${s}`); // [B, k, m], scaled
    const nextW1t = node('Add', [w1t, dPre], `w1t${suffix}`);
    b1 = node('Add', [b1, node('Mul', [node('MatMul', ['ones', dPre], `db1_${s}`), 'bias_ratio_b1'], `sb1_${s}`)], `b1${suffix}`);
    w1t = nextW1t;
    w2 = nextW2;
  }
  return buildOnnxModel({
    name: `relu_ensemble_train_${steps}`,
    inputs: [
      tensorInfo('w1t', ['B', 'k', 'm']),
      tensorInfo('b1', ['B', 1, 'm']),
      tensorInfo('w2', ['B', 'o', 'm']),
      tensorInfo('b2', ['B', 1, 'o']),
      tensorInfo('targets', ['k', 'o']),
      tensorInfo('active', ['B', 1, 1]),
      tensorInfo('ones', [1, 'k']),
      tensorInfo('neg_rate_w1', [1]),
      tensorInfo('bias_ratio_b1', [1]),
      tensorInfo('neg_rate_w2', [1]),
      tensorInfo('neg_rate_b2', [1]),
    ],
    outputs: [
      tensorInfo('w1t_out', ['B', 'k', 'm']),
      tensorInfo('b1_out', ['B', 1, 'm']),
      tensorInfo('w2_out', ['B', 'o', 'm']),
      tensorInfo('b2_out', ['B', 1, 'o']),
      tensorInfo('residual', ['B', 'k', 'o']),
    ],
    nodes,
  });
}

/** Member outputs on arbitrary inputs: relu(x·W₁ᵀ + b₁)·W₂ᵀ + b₂, [B, n, o]. */
function evaluationGraph(): Uint8Array {
  return buildOnnxModel({
    name: 'relu_ensemble_eval',
    inputs: [
      tensorInfo('x', ['n', 'k']),
      tensorInfo('w1t', ['B', 'k', 'm']),
      tensorInfo('b1', ['B', 1, 'm']),
      tensorInfo('w2', ['B', 'o', 'm']),
      tensorInfo('b2', ['B', 1, 'o']),
    ],
    outputs: [tensorInfo('out', ['B', 'n', 'o'])],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'w1t'], outputs: ['pre0'] },
      { op: 'Add', inputs: ['pre0', 'b1'], outputs: ['pre'] },
      { op: 'Relu', inputs: ['pre'], outputs: ['act'] },
      { op: 'Transpose', inputs: ['w2'], outputs: ['w2t'], attributes: { perm: ints([0, 2, 1]) } },
      { op: 'MatMul', inputs: ['act', 'w2t'], outputs: ['logits'] },
      { op: 'Add', inputs: ['logits', 'b2'], outputs: ['out'] },
    ],
  });
}

export interface ReluKernelSettings {
  /** ONNX Runtime intra-op threads (0: its default, one per core). */
  intraOpThreads: number;
}

const kernelSettings: ReluKernelSettings = { intraOpThreads: 0 };
const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** Changes the kernels' settings (drops cached sessions when the thread count changes). */
export function configureReluKernels(changes: Partial<ReluKernelSettings>): void {
  if (changes.intraOpThreads !== undefined) {
    if (!Number.isSafeInteger(changes.intraOpThreads) || changes.intraOpThreads < 0) throw new RangeError('intraOpThreads must be a non-negative integer');
    if (changes.intraOpThreads !== kernelSettings.intraOpThreads) {
      kernelSettings.intraOpThreads = changes.intraOpThreads;
      sessions.clear();
    }
  }
}

function session(key: string, build: () => Uint8Array): Promise<ort.InferenceSession> {
  let found = sessions.get(key);
  if (!found) {
    const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 };
    if (kernelSettings.intraOpThreads > 0) options.intraOpNumThreads = kernelSettings.intraOpThreads;
    found = ort.InferenceSession.create(build(), options);
    found.catch(() => sessions.delete(key));
    sessions.set(key, found);
  }
  return found;
}

const floatTensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

function parameterFeeds(params: MemberParameters): Record<string, ort.Tensor> {
  const { inputs: k, hidden: m, outputs: o } = params.shape;
  const B = params.count;
  return {
    w1t: floatTensor(params.w1t, [B, k, m]),
    b1: floatTensor(params.b1, [B, 1, m]),
    w2: floatTensor(params.w2, [B, o, m]),
    b2: floatTensor(params.b2, [B, 1, o]),
  };
}

/**
 * How long to train. A number: exactly that many steps (like the reference's fixed epochs). An object: at least
 * `steps`, then on until each member's training MSE is ≤ `untilLoss`, at most `maxSteps`. Each member is checked on
 * its own at every STEPS_PER_RUN-th step (and at `steps`) and stops moving once converged, so a member's training does
 * not depend on the other members of its batch.
 */
export type TrainSchedule = number | { steps: number; untilLoss: number; maxSteps: number };

export interface TrainResult {
  /** Final mean squared training error of each member (over its k × o outputs), from the last step's forward pass. */
  trainLoss: Float64Array;
  /** Gradient steps each member took. */
  steps: Int32Array;
}

function scheduleParts(schedule: TrainSchedule): { minSteps: number; untilLoss: number; maxSteps: number } {
  if (typeof schedule === 'number') return { minSteps: schedule, untilLoss: Infinity, maxSteps: schedule };
  return { minSteps: schedule.steps, untilLoss: schedule.untilLoss, maxSteps: Math.max(schedule.steps, schedule.maxSteps) };
}

/** The steps of the next run: STEPS_PER_RUN, cut so that every member is checked at `minSteps` and stops at `maxSteps`. */
function nextChunk(done: number, minSteps: number, maxSteps: number): number {
  const limit = done < minSteps ? minSteps : maxSteps;
  return Math.min(STEPS_PER_RUN, limit - done);
}

function memberLoss(residual: Float32Array, b: number, size: number): number {
  let sum = 0;
  for (let index = b * size; index < (b + 1) * size; index++) sum += residual[index] * residual[index];
  return sum / size;
}

/**
 * Trains all members together, in place, by full-batch GD on (e_i, targets[i]), targets [inputs, outputs], for
 * `schedule`. Runs up to STEPS_PER_RUN steps per ONNX Runtime run; checks `control.signal` and reports progress
 * between runs.
 */
export async function trainMembersBatched(params: MemberParameters, targets: Float32Array, rates: StepRates, schedule: TrainSchedule, control: TrainControl = {}): Promise<TrainResult> {
  const { inputs: k, outputs: o } = params.shape;
  if (targets.length !== k * o) throw new ModelLensError('usage', `targets must be [${k}, ${o}], not ${targets.length} values`);
  const { minSteps, untilLoss, maxSteps } = scheduleParts(schedule);
  const B = params.count;
  const trainLoss = new Float64Array(B);
  const steps = new Int32Array(B);
  if (maxSteps <= 0 || B === 0) return { trainLoss, steps };
  if (!(rates.w1 > 0)) throw new ModelLensError('usage', `the first layer's step rate must be positive, not ${rates.w1}`);
  const active = new Float32Array(B).fill(1);
  const constants = {
    targets: floatTensor(targets, [k, o]),
    ones: floatTensor(new Float32Array(k).fill(1), [1, k]),
    neg_rate_w1: floatTensor(Float32Array.of(-rates.w1), [1]),
    bias_ratio_b1: floatTensor(Float32Array.of(rates.b1 / rates.w1), [1]),
    neg_rate_w2: floatTensor(Float32Array.of(-rates.w2), [1]),
    neg_rate_b2: floatTensor(Float32Array.of(-rates.b2), [1]),
  };
  let done = 0;
  while (done < maxSteps) {
    if (control.signal?.aborted) throw trainingAbortError();
    const chunk = nextChunk(done, minSteps, maxSteps);
    const runner = await session(`train/${chunk}`, () => trainingGraph(chunk));
    const results = await runner.run({ ...parameterFeeds(params), ...constants, active: floatTensor(active, [B, 1, 1]) });
    params.w1t.set(results.w1t_out.data as Float32Array);
    params.b1.set(results.b1_out.data as Float32Array);
    params.w2.set(results.w2_out.data as Float32Array);
    params.b2.set(results.b2_out.data as Float32Array);
    const residual = results.residual.data as Float32Array;
    for (let b = 0; b < B; b++) {
      trainLoss[b] = memberLoss(residual, b, k * o);
      if (active[b] === 0) continue;
      steps[b] += chunk;
      if (done + chunk >= minSteps && trainLoss[b] <= untilLoss) active[b] = 0;
    }
    for (const tensor of Object.values(results)) tensor.dispose?.();
    done += chunk;
    control.onSteps?.(done);
    if (done >= minSteps && active.every((value) => value === 0)) break;
  }
  return { trainLoss, steps };
}

/** Outputs of every member on `x` ([n, inputs]): [count, n, outputs], in chunks of inputs that fit `maxFloats`. */
export async function evaluateMembersBatched(params: MemberParameters, x: Float32Array, n: number, maxFloats = 1 << 24): Promise<Float32Array> {
  const { inputs: k, hidden: m, outputs: o } = params.shape;
  if (x.length !== n * k) throw new ModelLensError('usage', `inputs must be [${n}, ${k}], not ${x.length} values`);
  const B = params.count;
  const out = new Float32Array(B * n * o);
  if (n === 0 || B === 0) return out;
  const runner = await session('eval', evaluationGraph);
  const feeds = parameterFeeds(params);
  const rowsPerRun = Math.max(1, Math.min(n, Math.floor(maxFloats / (B * m))));
  for (let first = 0; first < n; first += rowsPerRun) {
    const rows = Math.min(rowsPerRun, n - first);
    const results = await runner.run({ ...feeds, x: floatTensor(x.slice(first * k, (first + rows) * k), [rows, k]) });
    const chunk = results.out.data as Float32Array;
    for (let b = 0; b < B; b++) out.set(chunk.subarray(b * rows * o, (b + 1) * rows * o), (b * n + first) * o);
    results.out.dispose?.();
  }
  return out;
}
