/**
 * Sense finetuning from canonical examples (REFERENCES §2, "Model Editing with Canonical Examples"): learn additive
 * deltas on a few (word, sense) pairs so that the examples' suffixes become likely (or unlikely, or balanced), while
 * general text keeps the distribution it had.
 *
 * 1. **Prepare.** Each example's prefix + suffix, and the general text (in chunks of at most the model's positions),
 *    run once through the Backpack. α does not depend on the senses, so it is kept fixed from here on, and so is each
 *    position's output vector o0_i = Σ_ℓ Σ_j α[ℓ,i,j]·scale(x_j,ℓ)·C(x_j)_ℓ (the model as it is, with its edits).
 * 2. **Select senses.** Score(x,ℓ) = Σ α[ℓ,i,j] over the suffix-prediction positions i and the occurrences j of x,
 *    minus λ × the same sum averaged over the general text's positions. Positive scores only; the top k per example,
 *    united over examples (or the caller names the pairs).
 * 3. **Optimise.** With α fixed, o_i = o0_i + Σ_p W[i,p]·Δ_p where W[i,p] = scale_p · Σ_{j ≤ i: x_j = word_p}
 *    α[ℓ_p,i,j], logits z_i = E·o_i, and the exact gradient of any loss built from log-softmax rows is
 *    ∂/∂Δ_p = Σ_i W[i,p] · Eᵀ(softmax(z_i) − target_i). No autograd: the two big products (E·o over the vocabulary
 *    and Eᵀ·(p − q)) are small ONNX graphs that read E in place; the rest is a few loops over the rows.
 *    - Losses per example (each suffix's NLL divided by its length n): good NLL/n, bad −NLL/n, balance
 *      |NLL₁/n₁ − NLL₂/n₂|, good-vs-bad NLL_good/n_good − NLL_bad/n_bad; averaged over the examples of a step.
 *    - Regulariser: klWeight × KL(original ‖ edited), averaged over a seeded random batch of general-text positions
 *      per step. A position whose context holds no selected word is unchanged (KL 0, no gradient) and costs nothing.
 *    - Adam (β 0.9, 0.995), cosine learning-rate schedule over all steps; an epoch is one pass over the examples.
 * 4. **Keep within the degradation budget.** After each epoch, the mean next-token NLL over all prepared general-text
 *    positions (the fixed evaluation slice) is measured exactly (α fixed, unaffected positions unchanged); its
 *    relative rise over the unedited model must stay ≤ the budget. The last epoch within budget is kept (epoch 0,
 *    no edit, when none is).
 *
 * Edits go into `backpack.edits` (addDelta, then record, then editsChanged) only at the very end, so a cancelled or
 * failed run leaves the model as it was.
 */
import * as ort from 'onnxruntime-node';
import { ModelLensError } from '../../errors';
import { buildOnnxModel, int, OnnxType } from '../../kernels/onnxGraph';
import { SeededRandom } from '../../kernels/seededRandom';
import type { BackpackModel } from './backpackModel';
import { type CanonicalExample, exampleSucceeds, exampleSuffixes, exampleThreshold } from './canonicalExamples';

export { readFinetuneInputs, parseCanonicalExamples, type CanonicalExample, type FinetuneInputFiles, type FinetuneInputs } from './canonicalExamples';

// ---------------------------------------------------------------------------------------------------------------
// Options and report

export interface SenseFinetuneOptions {
  /** The canonical examples to learn from (see canonicalExamples.ts). */
  examples: readonly CanonicalExample[];
  /** General text the edit should leave alone: the KL regulariser's batches and the degradation budget's slice. */
  generalText: string;
  /** Held-out examples for the success rate (optional). */
  evaluation?: readonly CanonicalExample[];
  /** Senses kept per example, top k by score (default 10). */
  sensesPerExample?: number;
  /** λ, the background penalty in the selection score (default 1000). */
  backgroundPenalty?: number;
  /** Train exactly these (word, sense) pairs instead of selecting them. */
  senses?: readonly { tokenId: number; sense: number }[];
  /** Peak Adam learning rate (default 1e-2), cosine-decayed over all steps. */
  learningRate?: number;
  /** Passes over the examples (default 10). */
  epochs?: number;
  /** Examples per optimiser step (default 1). */
  examplesPerStep?: number;
  /** Weight of KL(original ‖ edited) on general text (default 0.5). */
  klWeight?: number;
  /** General-text positions drawn for the KL term each step (default 64). */
  generalBatchTokens?: number;
  /** General-text tokens read (default 1024): the KL batches are drawn from them and they are the evaluation slice. */
  maxGeneralTokens?: number;
  /** Largest relative rise of the general-text loss an epoch may cause (default 1e-4; 1e-3 and 1e-5 are the paper's others). */
  degradationBudget?: number;
  /** Seed of the example order and the general-text batches (default 0). */
  seed?: number;
  /** Put the chosen deltas into `backpack.edits` (default true). */
  apply?: boolean;
}

export interface SenseFinetuneSettings {
  sensesPerExample: number;
  backgroundPenalty: number;
  learningRate: number;
  epochs: number;
  examplesPerStep: number;
  klWeight: number;
  generalBatchTokens: number;
  maxGeneralTokens: number;
  degradationBudget: number;
  seed: number;
  apply: boolean;
  betas: [number, number];
  schedule: 'cosine';
  /** True when the caller named the pairs (no selection). */
  explicitSenses: boolean;
}

export interface SelectedSense {
  tokenId: number;
  token: string;
  sense: number;
  /** The selection score (the largest over the examples that chose it). */
  score: number;
  /** Indices (into `examples`) of the examples whose top k held it. */
  examples: number[];
  /** ‖Δ‖ of the kept epoch. */
  deltaNorm: number;
}

export interface EpochSummary {
  epoch: number;
  /** Mean loss of the examples (the training objective without the regulariser). */
  canonicalLoss: number;
  /** Mean next-token NLL over the general-text slice. */
  generalLoss: number;
  /** (generalLoss − before) / before. */
  generalLossChange: number;
  /** On the evaluation examples, when there are some. */
  successRate?: number;
  withinBudget: boolean;
}

export interface ExampleOutcome {
  /** Line in its JSONL file, when it came from one. */
  line?: number;
  kind: CanonicalExample['kind'];
  prefix: string;
  /** [suffix], [s₁, s₂] (balance) or [good, bad] (good-vs-bad). */
  suffixes: string[];
  /** p(suffix | prefix) for each suffix, before and after (the kept epoch). */
  before: number[];
  after: number[];
  threshold: number;
  successBefore: boolean;
  successAfter: boolean;
}

export interface SenseFinetuneReport {
  modelId: string;
  settings: SenseFinetuneSettings;
  pairs: SelectedSense[];
  epochs: EpochSummary[];
  /** The kept epoch: the last within the budget; 0 when none was (nothing is applied). */
  chosenEpoch: number;
  canonicalLossBefore: number;
  canonicalLossAfter: number;
  examples: ExampleOutcome[];
  evaluation?: ExampleOutcome[];
  successRateBefore?: number;
  successRateAfter?: number;
  generalLossBefore: number;
  generalLossAfter: number;
  generalLossChange: number;
  /** General-text tokens read and next-token positions evaluated. */
  generalTokens: number;
  generalPositions: number;
  /** True when the deltas went into backpack.edits. */
  applied: boolean;
  steps: number;
  timings: { prepareMs: number; trainMs: number; totalMs: number };
}

export interface FinetuneControl {
  signal?: AbortSignal;
  onProgress?: (message: string, fraction?: number) => void;
}

const YIELD_EVERY_ROWS = 8;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------------------------
// Settings

function usage(message: string, hint?: string): ModelLensError {
  return new ModelLensError('usage', message, undefined, hint);
}

function cancelled(): ModelLensError {
  return new ModelLensError('cancelled', 'the sense finetuning was cancelled');
}

export function resolveFinetuneSettings(options: SenseFinetuneOptions): SenseFinetuneSettings {
  const number = (name: keyof SenseFinetuneOptions, fallback: number, check: (v: number) => boolean, what: string): number => {
    const value = options[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) throw usage(`"${name}" must be ${what} (found ${JSON.stringify(options[name])}).`);
    return value;
  };
  const positiveInt = (name: keyof SenseFinetuneOptions, fallback: number) => number(name, fallback, (v) => Number.isSafeInteger(v) && v >= 1, 'a positive integer');
  return {
    sensesPerExample: positiveInt('sensesPerExample', 10),
    backgroundPenalty: number('backgroundPenalty', 1000, (v) => v >= 0, 'a number ≥ 0'),
    learningRate: number('learningRate', 1e-2, (v) => v > 0, 'a positive number'),
    epochs: number('epochs', 10, (v) => Number.isSafeInteger(v) && v >= 1 && v <= 10000, 'an integer from 1 to 10000'),
    examplesPerStep: positiveInt('examplesPerStep', 1),
    klWeight: number('klWeight', 0.5, (v) => v >= 0, 'a number ≥ 0'),
    generalBatchTokens: positiveInt('generalBatchTokens', 64),
    maxGeneralTokens: number('maxGeneralTokens', 1024, (v) => Number.isSafeInteger(v) && v >= 2, 'an integer ≥ 2'),
    degradationBudget: number('degradationBudget', 1e-4, (v) => v > 0, 'a positive number (1e-3, 1e-4 or 1e-5)'),
    seed: number('seed', 0, (v) => Number.isSafeInteger(v), 'an integer'),
    apply: options.apply ?? true,
    betas: [0.9, 0.995],
    schedule: 'cosine',
    explicitSenses: options.senses !== undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// ONNX kernels: output vectors from α and senses; log-softmax of E·o; Eᵀ·G

interface FinetuneSessions {
  outputs: ort.InferenceSession;
  logProbs: ort.InferenceSession;
  project: ort.InferenceSession;
}

let sessions: Promise<FinetuneSessions> | undefined;

function finetuneSessions(): Promise<FinetuneSessions> {
  const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 };
  sessions ??= Promise.all([
    // o [s, d] = Σ_ℓ α[ℓ] [s, s] · (senses[ℓ] [s, d] ⊙ scale[ℓ] [s, 1])
    ort.InferenceSession.create(
      buildOnnxModel({
        name: 'backpack-output-vectors',
        inputs: [
          { name: 'alpha', type: OnnxType.float, dims: ['senses', 's', 's'] },
          { name: 'senses', type: OnnxType.float, dims: ['senses', 's', 'd'] },
          { name: 'scale', type: OnnxType.float, dims: ['senses', 's', 1] },
        ],
        outputs: [{ name: 'vectors', type: OnnxType.float, dims: ['s', 'd'] }],
        initializers: [{ name: 'sense_axis', dims: [1], int64: [0] }],
        nodes: [
          { op: 'Mul', inputs: ['senses', 'scale'], outputs: ['scaled'] },
          { op: 'MatMul', inputs: ['alpha', 'scaled'], outputs: ['per_sense'] },
          { op: 'ReduceSum', inputs: ['per_sense', 'sense_axis'], outputs: ['vectors'], attributes: { keepdims: int(0) } },
        ],
      }),
      options,
    ),
    // log softmax(o [n, d] · Eᵀ) [n, V]
    ort.InferenceSession.create(
      buildOnnxModel({
        name: 'backpack-log-probs',
        inputs: [
          { name: 'vectors', type: OnnxType.float, dims: ['n', 'd'] },
          { name: 'embedding', type: OnnxType.float, dims: ['v', 'd'] },
        ],
        outputs: [{ name: 'log_probs', type: OnnxType.float, dims: ['n', 'v'] }],
        nodes: [
          { op: 'Gemm', inputs: ['vectors', 'embedding'], outputs: ['logits'], attributes: { transB: int(1) } },
          { op: 'LogSoftmax', inputs: ['logits'], outputs: ['log_probs'], attributes: { axis: int(-1) } },
        ],
      }),
      options,
    ),
    // G [n, V] · E [V, d] → [n, d]
    ort.InferenceSession.create(
      buildOnnxModel({
        name: 'backpack-project-to-hidden',
        inputs: [
          { name: 'gradients', type: OnnxType.float, dims: ['n', 'v'] },
          { name: 'embedding', type: OnnxType.float, dims: ['v', 'd'] },
        ],
        outputs: [{ name: 'hidden', type: OnnxType.float, dims: ['n', 'd'] }],
        nodes: [{ op: 'Gemm', inputs: ['gradients', 'embedding'], outputs: ['hidden'] }],
      }),
      options,
    ),
  ]).then(([outputs, logProbs, project]) => ({ outputs, logProbs, project }));
  sessions.catch(() => (sessions = undefined));
  return sessions;
}

// ---------------------------------------------------------------------------------------------------------------
// Prepared data

/** One next-token prediction with α fixed: the unedited output vector, its weights on the pairs, and the target. */
interface Row {
  /** o0 [d] */
  o0: Float32Array;
  /** W[·, p] [pairs] */
  weights: Float32Array;
  /** The token to predict. */
  target: number;
  /** Some selected pair reaches this position (a weight ≠ 0). */
  affected: boolean;
}

interface PreparedSequence {
  ids: number[];
  /** Where the suffix starts (= prefix length). */
  prefixLength: number;
  /** α [senses, s, s], dropped once the rows are built. */
  alpha?: Float32Array;
  /** o0 [s, d] */
  vectors: Float32Array;
  /** One row per suffix token (the prediction at position prefixLength − 1 + t). */
  rows: Row[];
}

interface PreparedUnit {
  example: CanonicalExample;
  sequences: PreparedSequence[];
}

interface GeneralChunk {
  ids: number[];
  alpha?: Float32Array;
  vectors: Float32Array;
  /** NLL of ids[i + 1] at position i, unedited, from the model's own logits. */
  nll: Float64Array;
}

export interface ObjectiveValue {
  /** Canonical loss (mean over the step's examples) + klWeight × mean KL over the step's general positions. */
  loss: number;
  canonicalLoss: number;
  /** Mean KL(original ‖ edited) over the step's general positions. */
  kl: number;
  /** ∂loss/∂Δ [pairs, d] */
  gradient: Float64Array;
}

export interface EvaluationState {
  /** Mean example loss. */
  canonicalLoss: number;
  /** p(suffix) per example and suffix. */
  probabilities: number[][];
  evaluationProbabilities: number[][];
  successRate?: number;
  generalLoss: number;
}

function unitLoss(kind: CanonicalExample['kind'], nll: readonly number[], lengths: readonly number[]): { loss: number; slopes: number[] } {
  const a = nll[0] / lengths[0];
  switch (kind) {
    case 'good':
      return { loss: a, slopes: [1 / lengths[0]] };
    case 'bad':
      return { loss: -a, slopes: [-1 / lengths[0]] };
    case 'balance': {
      const diff = a - nll[1] / lengths[1];
      const sign = Math.sign(diff);
      return { loss: Math.abs(diff), slopes: [sign / lengths[0], -sign / lengths[1]] };
    }
    case 'good-vs-bad':
      return { loss: a - nll[1] / lengths[1], slopes: [1 / lengths[0], -1 / lengths[1]] };
  }
}

/** Rows are run through the vocabulary in blocks of this many (memory: block × V floats). */
const ROW_BLOCK = 256;

/**
 * Everything a finetuning run needs, prepared once: the examples and the general text with α and o0 fixed, the
 * selected pairs, and the rows. `objective` gives the loss and its exact gradient; `evaluate` the report's numbers.
 */
export class SenseFinetuneProblem {
  private readonly embeddingTensor: ort.Tensor;
  private readonly unaffectedGeneralNll: number;
  private readonly affectedGeneralRows: Row[];

  constructor(
    readonly backpack: BackpackModel,
    readonly settings: SenseFinetuneSettings,
    readonly pairs: SelectedSense[],
    readonly units: readonly PreparedUnit[],
    readonly evaluationUnits: readonly PreparedUnit[],
    /** The general text's prediction positions, in chunk order (the evaluation slice; KL batches index into it). */
    readonly generalRows: readonly Row[],
    /** Token ids of the general-text chunks (each ≤ the model's positions). */
    readonly generalChunks: readonly (readonly number[])[],
    unaffectedGeneralNll: number,
  ) {
    const { vocabSize, hidden } = backpack.config;
    this.embeddingTensor = new ort.Tensor('float32', backpack.embedding, [vocabSize, hidden]);
    this.unaffectedGeneralNll = unaffectedGeneralNll;
    this.affectedGeneralRows = generalRows.filter((row) => row.affected);
  }

  get hidden(): number {
    return this.backpack.config.hidden;
  }

  /** Positions of the general text whose context holds a selected word (the only ones an edit can change). */
  get affectedGeneralPositions(): number {
    return this.affectedGeneralRows.length;
  }

  /** o = o0 + Σ_p W[p]·Δ_p, written at `offset` of `out`. */
  private editedVector(row: Row, deltas: Float64Array, out: Float32Array, offset: number): void {
    const d = this.hidden;
    out.set(row.o0, offset);
    for (let p = 0; p < row.weights.length; p++) {
      const w = row.weights[p];
      if (w === 0) continue;
      for (let k = 0; k < d; k++) out[offset + k] += w * deltas[p * d + k];
    }
  }

  private async logProbabilities(vectors: Float32Array, n: number): Promise<Float32Array> {
    const { logProbs } = await finetuneSessions();
    const out = await logProbs.run({ vectors: new ort.Tensor('float32', vectors, [n, this.hidden]), embedding: this.embeddingTensor });
    return out.log_probs.data as Float32Array;
  }

  private async projectToHidden(gradients: Float32Array, n: number): Promise<Float32Array> {
    const { project } = await finetuneSessions();
    const out = await project.run({ gradients: new ort.Tensor('float32', gradients, [n, this.backpack.config.vocabSize]), embedding: this.embeddingTensor });
    return out.hidden.data as Float32Array;
  }

  /** −log p(target) of each row with the deltas applied. */
  private async rowNll(rows: readonly Row[], deltas: Float64Array): Promise<Float64Array> {
    const V = this.backpack.config.vocabSize;
    const d = this.hidden;
    const losses = new Float64Array(rows.length);
    for (let start = 0; start < rows.length; start += ROW_BLOCK) {
      const block = rows.slice(start, start + ROW_BLOCK);
      const vectors = new Float32Array(block.length * d);
      block.forEach((row, r) => this.editedVector(row, deltas, vectors, r * d));
      const logp = await this.logProbabilities(vectors, block.length);
      block.forEach((row, r) => (losses[start + r] = -logp[r * V + row.target]));
    }
    return losses;
  }

  /**
   * The training objective on some examples (indices into `units`) and some general positions (indices into
   * `generalRows`), with its exact gradient in the deltas ([pairs, d]).
   */
  async objective(deltas: Float64Array, unitIndices: readonly number[], generalIndices: readonly number[]): Promise<ObjectiveValue> {
    const V = this.backpack.config.vocabSize;
    const d = this.hidden;
    const P = this.pairs.length;
    const hardRows: Row[] = [];
    const rowSequence: number[] = [];
    const sequences: { unit: number; length: number }[] = [];
    for (const u of unitIndices) {
      for (const sequence of this.units[u].sequences) {
        for (const row of sequence.rows) {
          hardRows.push(row);
          rowSequence.push(sequences.length);
        }
        sequences.push({ unit: u, length: sequence.rows.length });
      }
    }
    const softRows = generalIndices.map((g) => this.generalRows[g]).filter((row) => row.affected);
    const nHard = hardRows.length;
    const nSoft = softRows.length;
    const n = nHard + 2 * nSoft;
    const vectors = new Float32Array(n * d);
    hardRows.forEach((row, r) => this.editedVector(row, deltas, vectors, r * d));
    softRows.forEach((row, r) => {
      this.editedVector(row, deltas, vectors, (nHard + r) * d);
      vectors.set(row.o0, (nHard + nSoft + r) * d);
    });
    const logp = n > 0 ? await this.logProbabilities(vectors, n) : new Float32Array(0);

    // Canonical part: per-sequence NLL, per-example loss and its slope in each sequence's NLL.
    const sequenceNll = new Float64Array(sequences.length);
    hardRows.forEach((row, r) => (sequenceNll[rowSequence[r]] -= logp[r * V + row.target]));
    const sequenceSlope = new Float64Array(sequences.length);
    const batch = Math.max(1, unitIndices.length);
    let canonicalLoss = 0;
    for (let s = 0; s < sequences.length; ) {
      const unit = sequences[s].unit;
      const count = this.units[unit].sequences.length;
      const nll = Array.from(sequenceNll.subarray(s, s + count));
      const lengths = sequences.slice(s, s + count).map((q) => q.length);
      const { loss, slopes } = unitLoss(this.units[unit].example.kind, nll, lengths);
      canonicalLoss += loss / batch;
      slopes.forEach((slope, k) => (sequenceSlope[s + k] = slope / batch));
      s += count;
    }

    // Regulariser: KL(original ‖ edited) = Σ_v p0 (log p0 − log p). Gradient rows: those a pair reaches get
    // G = coefficient · (p − target) (target: one-hot for an example, p0 for general text), projected by Eᵀ below.
    const generalBatch = generalIndices.length;
    const klCoefficient = generalBatch > 0 ? this.settings.klWeight / generalBatch : 0;
    const gradRows: { row: Row; index: number; coefficient: number }[] = [];
    hardRows.forEach((row, r) => {
      const coefficient = sequenceSlope[rowSequence[r]];
      if (row.affected && coefficient !== 0) gradRows.push({ row, index: r, coefficient });
    });
    const hardGradRows = gradRows.length;
    if (klCoefficient > 0) softRows.forEach((row, r) => gradRows.push({ row, index: nHard + r, coefficient: klCoefficient }));
    const G = new Float32Array(gradRows.length * V);
    gradRows.slice(0, hardGradRows).forEach(({ row, index, coefficient }, m) => {
      const source = index * V;
      const target = m * V;
      for (let v = 0; v < V; v++) G[target + v] = coefficient * Math.exp(logp[source + v]);
      G[target + row.target] -= coefficient;
    });
    let klSum = 0;
    for (let r = 0; r < nSoft; r++) {
      // Rows are V wide (50k for backpack-gpt2): let the server answer hovers between small groups of them.
      if (r % YIELD_EVERY_ROWS === YIELD_EVERY_ROWS - 1) await yieldToEventLoop();
      const edited = (nHard + r) * V;
      const original = (nHard + nSoft + r) * V;
      const target = klCoefficient > 0 ? (hardGradRows + r) * V : -1;
      let kl = 0;
      for (let v = 0; v < V; v++) {
        const lp0 = logp[original + v];
        const lp = logp[edited + v];
        const p0 = Math.exp(lp0);
        kl += p0 * (lp0 - lp);
        if (target >= 0) G[target + v] = klCoefficient * (Math.exp(lp) - p0);
      }
      klSum += kl;
    }

    const gradient = new Float64Array(P * d);
    if (gradRows.length > 0) {
      const hidden = await this.projectToHidden(G, gradRows.length);
      gradRows.forEach(({ row }, m) => {
        for (let p = 0; p < P; p++) {
          const w = row.weights[p];
          if (w === 0) continue;
          for (let k = 0; k < d; k++) gradient[p * d + k] += w * hidden[m * d + k];
        }
      });
    }
    const kl = generalBatch > 0 ? klSum / generalBatch : 0;
    return { loss: canonicalLoss + this.settings.klWeight * kl, canonicalLoss, kl, gradient };
  }

  /** Example losses and probabilities, the evaluation success rate and the general-text loss, with these deltas. */
  async evaluate(deltas: Float64Array): Promise<EvaluationState> {
    const unitRows = (units: readonly PreparedUnit[]) => units.flatMap((unit) => unit.sequences.flatMap((sequence) => sequence.rows));
    const trainingRows = unitRows(this.units);
    const evaluationRows = unitRows(this.evaluationUnits);
    const nll = await this.rowNll([...trainingRows, ...evaluationRows, ...this.affectedGeneralRows], deltas);
    let cursor = 0;
    const perUnit = (units: readonly PreparedUnit[]) =>
      units.map((unit) => {
        const sequenceNll = unit.sequences.map((sequence) => {
          let sum = 0;
          for (let r = 0; r < sequence.rows.length; r++) sum += nll[cursor++];
          return sum;
        });
        return { unit, sequenceNll, loss: unitLoss(unit.example.kind, sequenceNll, unit.sequences.map((s) => s.rows.length)).loss };
      });
    const training = perUnit(this.units);
    const evaluation = perUnit(this.evaluationUnits);
    let general = this.unaffectedGeneralNll;
    for (let r = 0; r < this.affectedGeneralRows.length; r++) general += nll[cursor++];
    const evaluationProbabilities = evaluation.map((e) => e.sequenceNll.map((v) => Math.exp(-v)));
    const successes = evaluation.filter((e, i) => exampleSucceeds(e.unit.example, evaluationProbabilities[i])).length;
    return {
      canonicalLoss: training.reduce((sum, t) => sum + t.loss, 0) / Math.max(1, training.length),
      probabilities: training.map((t) => t.sequenceNll.map((v) => Math.exp(-v))),
      evaluationProbabilities,
      ...(evaluation.length > 0 ? { successRate: successes / evaluation.length } : {}),
      generalLoss: general / Math.max(1, this.generalRows.length),
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Preparation

function exampleLabel(example: CanonicalExample): string {
  return example.line !== undefined ? `the example on line ${example.line}` : `the example "${example.prefix.slice(0, 40)}"`;
}

/** Runs one sequence through the model: α [senses, s, s], o0 [s, d], and the logits [s, V]. */
async function runSequence(backpack: BackpackModel, ids: readonly number[]): Promise<{ alpha: Float32Array; vectors: Float32Array; logits: Float32Array }> {
  const { senses: S, hidden: d } = backpack.config;
  const s = ids.length;
  const out = await backpack.forward([ids]);
  const edits = backpack.edits?.enabled ? backpack.edits : undefined;
  const scale = new Float32Array(S * s).fill(1);
  if (edits && edits.size > 0) {
    for (let l = 0; l < S; l++) for (let j = 0; j < s; j++) scale[l * s + j] = edits.contributionScale(ids[j], l);
  }
  const { outputs } = await finetuneSessions();
  const result = await outputs.run({
    alpha: new ort.Tensor('float32', out.contextualization, [S, s, s]),
    senses: new ort.Tensor('float32', out.senses, [S, s, d]),
    scale: new ort.Tensor('float32', scale, [S, s, 1]),
  });
  return { alpha: out.contextualization, vectors: result.vectors.data as Float32Array, logits: out.logits };
}

/** W[i, ·]: for each pair, scale · Σ_{j ≤ i: x_j = word} α[ℓ, i, j]. */
function pairWeights(backpack: BackpackModel, pairs: readonly SelectedSense[], ids: readonly number[], alpha: Float32Array, i: number): Float32Array {
  const s = ids.length;
  const edits = backpack.edits?.enabled ? backpack.edits : undefined;
  const weights = new Float32Array(pairs.length);
  pairs.forEach((pair, p) => {
    let sum = 0;
    for (let j = 0; j <= i; j++) if (ids[j] === pair.tokenId) sum += alpha[(pair.sense * s + i) * s + j];
    weights[p] = sum === 0 ? 0 : sum * (edits?.contributionScale(pair.tokenId, pair.sense) ?? 1);
  });
  return weights;
}

function makeRow(backpack: BackpackModel, pairs: readonly SelectedSense[], ids: readonly number[], alpha: Float32Array, vectors: Float32Array, i: number): Row {
  const d = backpack.config.hidden;
  const weights = pairWeights(backpack, pairs, ids, alpha, i);
  return { o0: vectors.subarray(i * d, (i + 1) * d), weights, target: ids[i + 1], affected: weights.some((w) => w !== 0) };
}

/** Σ over positions i in [from, to] of α[ℓ, i, j] for each (x_j, ℓ), keyed id·senses + ℓ, for ids in `only` if given. */
function accumulateAttention(ids: readonly number[], alpha: Float32Array, senses: number, from: number, to: number, into: Map<number, number>, only?: ReadonlySet<number>): void {
  const s = ids.length;
  for (let l = 0; l < senses; l++) {
    for (let i = from; i <= to; i++) {
      const row = (l * s + i) * s;
      for (let j = 0; j <= i; j++) {
        const id = ids[j];
        if (only && !only.has(id)) continue;
        const key = id * senses + l;
        into.set(key, (into.get(key) ?? 0) + alpha[row + j]);
      }
    }
  }
}

function tokenIds(backpack: BackpackModel, text: string): number[] {
  return backpack.tokenizer.tokenize(text).map((t) => t.id);
}

/** Prefix + suffix token ids of each suffix of an example, checked against the model. */
function exampleSequences(backpack: BackpackModel, example: CanonicalExample): { ids: number[]; prefixLength: number }[] {
  const prefix = tokenIds(backpack, example.prefix);
  if (prefix.length === 0) throw usage(`${exampleLabel(example)} has a prefix with no tokens.`, 'Give each example a prefix to predict the suffix from.');
  return exampleSuffixes(example).map((suffix) => {
    const ids = [...prefix, ...tokenIds(backpack, suffix)];
    if (ids.length === prefix.length) throw usage(`${exampleLabel(example)} has a suffix (${JSON.stringify(suffix)}) with no tokens.`);
    if (ids.length > backpack.config.positions) {
      throw usage(`${exampleLabel(example)} is ${ids.length} tokens long; the model reads at most ${backpack.config.positions}.`, 'Shorten the prefix.');
    }
    return { ids, prefixLength: prefix.length };
  });
}

/**
 * Runs the examples and the general text through the model, selects the (word, sense) pairs and builds the rows.
 * Cancellable between forward passes.
 */
export async function prepareSenseFinetune(backpack: BackpackModel, options: SenseFinetuneOptions, control: FinetuneControl = {}): Promise<SenseFinetuneProblem> {
  const settings = resolveFinetuneSettings(options);
  const { senses: S, vocabSize: V, positions } = backpack.config;
  const check = () => {
    if (control.signal?.aborted) throw cancelled();
  };
  check();
  if (options.examples.length === 0) throw usage('sense finetuning needs at least one canonical example.');

  // Tokens: examples, evaluation examples, general text in chunks of at most `positions`.
  const trainingSpecs = options.examples.map((example) => ({ example, sequences: exampleSequences(backpack, example) }));
  const evaluationSpecs = (options.evaluation ?? []).map((example) => ({ example, sequences: exampleSequences(backpack, example) }));
  // A token is rarely more than a few dozen characters: read no more text than the token cap needs.
  const generalIds = tokenIds(backpack, options.generalText.slice(0, settings.maxGeneralTokens * 64)).slice(0, settings.maxGeneralTokens);
  const chunkIds: number[][] = [];
  for (let start = 0; start < generalIds.length; start += positions) {
    const chunk = generalIds.slice(start, start + positions);
    if (chunk.length >= 2) chunkIds.push(chunk);
  }
  if (chunkIds.length === 0) throw usage('the general text has fewer than two tokens; the finetuning needs general text to keep the rest of the model as it was.');

  const totalRuns = trainingSpecs.reduce((n, u) => n + u.sequences.length, 0) + evaluationSpecs.reduce((n, u) => n + u.sequences.length, 0) + chunkIds.length;
  let runs = 0;
  const progress = (what: string) => control.onProgress?.(`Running ${what} through the Backpack (${++runs}/${totalRuns})`, (0.15 * runs) / totalRuns);

  const prepareUnits = async (specs: typeof trainingSpecs, what: string): Promise<PreparedUnit[]> => {
    const units: PreparedUnit[] = [];
    for (const spec of specs) {
      const sequences: PreparedSequence[] = [];
      for (const { ids, prefixLength } of spec.sequences) {
        check();
        const { alpha, vectors } = await runSequence(backpack, ids);
        progress(what);
        sequences.push({ ids, prefixLength, alpha, vectors, rows: [] });
      }
      units.push({ example: spec.example, sequences });
    }
    return units;
  };
  const units = await prepareUnits(trainingSpecs, 'the examples');
  const evaluationUnits = await prepareUnits(evaluationSpecs, 'the evaluation examples');

  // Candidate words are those of the training examples; their background is summed over the general text.
  const candidates = new Set(units.flatMap((unit) => unit.sequences.flatMap((sequence) => sequence.ids)));
  const background = new Map<number, number>();
  const chunks: GeneralChunk[] = [];
  let generalPositions = 0;
  for (const ids of chunkIds) {
    check();
    const { alpha, vectors, logits } = await runSequence(backpack, ids);
    progress('the general text');
    const s = ids.length;
    const nll = new Float64Array(s - 1);
    for (let i = 0; i < s - 1; i++) {
      if (i % (4 * YIELD_EVERY_ROWS) === 4 * YIELD_EVERY_ROWS - 1) await yieldToEventLoop();
      const row = i * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[row + v]);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(logits[row + v] - max);
      nll[i] = max + Math.log(sum) - logits[row + ids[i + 1]];
    }
    accumulateAttention(ids, alpha, S, 0, s - 2, background, candidates);
    generalPositions += s - 1;
    chunks.push({ ids, alpha, vectors, nll });
  }

  // Selection: Score(x, ℓ) = Σ α over the suffix-prediction positions − λ · (the same sum per general position).
  check();
  const lambda = settings.backgroundPenalty;
  const unitScores = units.map((unit) => {
    const sums = new Map<number, number>();
    for (const sequence of unit.sequences) {
      accumulateAttention(sequence.ids, sequence.alpha!, S, sequence.prefixLength - 1, sequence.ids.length - 2, sums);
    }
    const scores = new Map<number, number>();
    for (const [key, sum] of sums) scores.set(key, sum - (lambda * (background.get(key) ?? 0)) / generalPositions);
    return scores;
  });
  const chosen = new Map<number, SelectedSense>();
  const choose = (key: number, score: number, unit: number | undefined) => {
    let pair = chosen.get(key);
    if (!pair) {
      const tokenId = Math.floor(key / S);
      pair = { tokenId, token: backpack.tokenText(tokenId), sense: key % S, score, examples: [], deltaNorm: 0 };
      chosen.set(key, pair);
    }
    pair.score = Math.max(pair.score, score);
    if (unit !== undefined && !pair.examples.includes(unit)) pair.examples.push(unit);
  };
  if (options.senses) {
    if (options.senses.length === 0) throw usage('"senses" names no (word, sense) pair.');
    for (const { tokenId, sense } of options.senses) {
      if (!Number.isSafeInteger(tokenId) || tokenId < 0 || tokenId >= V) throw usage(`token id ${tokenId} is outside the vocabulary (${V}).`);
      if (!Number.isSafeInteger(sense) || sense < 0 || sense >= S) throw usage(`sense ${sense} is not one of the model's ${S} senses (0–${S - 1}).`);
      const key = tokenId * S + sense;
      const score = Math.max(...unitScores.map((scores) => scores.get(key) ?? (-lambda * (background.get(key) ?? 0)) / generalPositions));
      choose(key, score, undefined);
      unitScores.forEach((scores, u) => {
        const pair = chosen.get(key)!;
        if (scores.has(key) && !pair.examples.includes(u)) pair.examples.push(u);
      });
    }
  } else {
    unitScores.forEach((scores, u) => {
      const eligible = [...scores.entries()].filter(([, score]) => score > 0).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      for (const [key, score] of eligible.slice(0, settings.sensesPerExample)) choose(key, score, u);
    });
    if (chosen.size === 0) {
      throw usage(
        'no (word, sense) pair has a positive selection score: every word of the examples is common in the general text.',
        `Lower the background penalty (now ${lambda}), or use examples whose key words are rarer in the general text.`,
      );
    }
  }
  const pairs = [...chosen.values()];

  // Rows.
  const suffixRows = (sequence: PreparedSequence) => {
    const rows: Row[] = [];
    for (let i = sequence.prefixLength - 1; i < sequence.ids.length - 1; i++) rows.push(makeRow(backpack, pairs, sequence.ids, sequence.alpha!, sequence.vectors, i));
    sequence.rows = rows;
    sequence.alpha = undefined;
  };
  for (const unit of [...units, ...evaluationUnits]) unit.sequences.forEach(suffixRows);
  const generalRows: Row[] = [];
  let unaffectedNll = 0;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.ids.length - 1; i++) {
      const row = makeRow(backpack, pairs, chunk.ids, chunk.alpha!, chunk.vectors, i);
      generalRows.push(row);
      if (!row.affected) unaffectedNll += chunk.nll[i];
    }
    chunk.alpha = undefined;
  }
  return new SenseFinetuneProblem(backpack, settings, pairs, units, evaluationUnits, generalRows, chunkIds, unaffectedNll);
}

// ---------------------------------------------------------------------------------------------------------------
// The run

function outcomes(units: readonly PreparedUnit[], before: readonly number[][], after: readonly number[][]): ExampleOutcome[] {
  return units.map((unit, u) => ({
    ...(unit.example.line !== undefined ? { line: unit.example.line } : {}),
    kind: unit.example.kind,
    prefix: unit.example.prefix,
    suffixes: exampleSuffixes(unit.example),
    before: before[u],
    after: after[u],
    threshold: exampleThreshold(unit.example),
    successBefore: exampleSucceeds(unit.example, before[u]),
    successAfter: exampleSucceeds(unit.example, after[u]),
  }));
}

/**
 * Finetunes the senses of a Backpack on canonical examples (see the top of this file) and reports what it did.
 * With `apply` (the default) the kept epoch's deltas go into `backpack.edits`; a cancelled run (a 'cancelled'
 * ModelLensError) or a failed one leaves the edits untouched.
 */
export async function finetuneSenses(backpack: BackpackModel, options: SenseFinetuneOptions, control: FinetuneControl = {}): Promise<SenseFinetuneReport> {
  const started = performance.now();
  const settings = resolveFinetuneSettings(options);
  if (settings.apply) {
    if (!backpack.edits) {
      throw new ModelLensError('unsupported', 'this Backpack is view-only (an ONNX file with its edits baked in), so finetuned senses cannot be applied to it.', backpack.model.path, 'Open the backpack-gpt2 safetensors folder, or finetune with apply off to see the report only.');
    }
    if (!backpack.edits.enabled) throw usage('sense edits are switched off for this model; switch them on before finetuning, so the new edits build on the ones shown.');
  }
  const check = () => {
    if (control.signal?.aborted) throw cancelled();
  };
  const problem = await prepareSenseFinetune(backpack, options, control);
  const prepared = performance.now();
  const { hidden: d } = backpack.config;
  const P = problem.pairs.length;
  const U = problem.units.length;
  const generalCount = problem.generalRows.length;

  const deltas = new Float64Array(P * d);
  const firstMoment = new Float64Array(P * d);
  const secondMoment = new Float64Array(P * d);
  const [beta1, beta2] = settings.betas;
  const epsilon = 1e-8;
  const before = await problem.evaluate(deltas);
  const epochs: EpochSummary[] = [];
  let chosenEpoch = 0;
  let kept = { deltas: deltas.slice(), state: before };
  const stepsPerEpoch = Math.ceil(U / settings.examplesPerStep);
  const totalSteps = settings.epochs * stepsPerEpoch;
  const random = new SeededRandom(settings.seed);
  let step = 0;
  control.onProgress?.(`Finetuning ${P} senses on ${U} examples (${settings.epochs} epochs)`, 0.15);

  for (let epoch = 1; epoch <= settings.epochs; epoch++) {
    const order = random.permutation(U);
    for (let b = 0; b < stepsPerEpoch; b++) {
      check();
      const unitIndices = order.slice(b * settings.examplesPerStep, (b + 1) * settings.examplesPerStep);
      const generalIndices = random.sample(generalCount, Math.min(settings.generalBatchTokens, generalCount));
      const { gradient } = await problem.objective(deltas, unitIndices, generalIndices);
      const rate = settings.learningRate * 0.5 * (1 + Math.cos((Math.PI * step) / totalSteps));
      step++;
      const correction1 = 1 - beta1 ** step;
      const correction2 = 1 - beta2 ** step;
      for (let k = 0; k < deltas.length; k++) {
        const g = gradient[k];
        firstMoment[k] = beta1 * firstMoment[k] + (1 - beta1) * g;
        secondMoment[k] = beta2 * secondMoment[k] + (1 - beta2) * g * g;
        deltas[k] -= (rate * (firstMoment[k] / correction1)) / (Math.sqrt(secondMoment[k] / correction2) + epsilon);
      }
    }
    check();
    const state = await problem.evaluate(deltas);
    const generalLossChange = (state.generalLoss - before.generalLoss) / before.generalLoss;
    const withinBudget = generalLossChange <= settings.degradationBudget;
    if (withinBudget) {
      chosenEpoch = epoch;
      kept = { deltas: deltas.slice(), state };
    }
    epochs.push({
      epoch,
      canonicalLoss: state.canonicalLoss,
      generalLoss: state.generalLoss,
      generalLossChange,
      ...(state.successRate !== undefined ? { successRate: state.successRate } : {}),
      withinBudget,
    });
    const success = state.successRate !== undefined ? `, success ${(100 * state.successRate).toFixed(0)}%` : '';
    control.onProgress?.(
      `Epoch ${epoch}/${settings.epochs}: canonical loss ${state.canonicalLoss.toFixed(4)}, general loss ${generalLossChange >= 0 ? '+' : ''}${generalLossChange.toExponential(1)}${withinBudget ? '' : ' (over budget)'}${success}`,
      0.15 + (0.85 * epoch) / settings.epochs,
    );
  }
  check();

  problem.pairs.forEach((pair, p) => {
    let sum = 0;
    for (let k = 0; k < d; k++) sum += kept.deltas[p * d + k] ** 2;
    pair.deltaNorm = Math.sqrt(sum);
  });
  let applied = false;
  if (settings.apply && chosenEpoch > 0) {
    const edits = backpack.edits!;
    problem.pairs.forEach((pair, p) => edits.addDelta(pair.tokenId, pair.sense, kept.deltas.subarray(p * d, (p + 1) * d)));
    edits.record({
      method: 'finetune',
      pairs: problem.pairs.map(({ tokenId, token, sense }) => ({ tokenId, token, sense })),
      settings: {
        learningRate: settings.learningRate,
        epochs: settings.epochs,
        chosenEpoch,
        examplesPerStep: settings.examplesPerStep,
        klWeight: settings.klWeight,
        generalBatchTokens: settings.generalBatchTokens,
        degradationBudget: settings.degradationBudget,
        generalLossChange: (kept.state.generalLoss - before.generalLoss) / before.generalLoss,
        backgroundPenalty: settings.backgroundPenalty,
        sensesPerExample: settings.explicitSenses ? undefined : settings.sensesPerExample,
        betas: settings.betas,
        schedule: settings.schedule,
        seed: settings.seed,
        examples: options.examples.length,
      },
    });
    backpack.editsChanged();
    applied = true;
  }
  const finished = performance.now();
  return {
    modelId: backpack.model.id,
    settings,
    pairs: problem.pairs,
    epochs,
    chosenEpoch,
    canonicalLossBefore: before.canonicalLoss,
    canonicalLossAfter: kept.state.canonicalLoss,
    examples: outcomes(problem.units, before.probabilities, kept.state.probabilities),
    ...(problem.evaluationUnits.length > 0
      ? {
          evaluation: outcomes(problem.evaluationUnits, before.evaluationProbabilities, kept.state.evaluationProbabilities),
          successRateBefore: before.successRate,
          successRateAfter: kept.state.successRate,
        }
      : {}),
    generalLossBefore: before.generalLoss,
    generalLossAfter: kept.state.generalLoss,
    generalLossChange: (kept.state.generalLoss - before.generalLoss) / before.generalLoss,
    generalTokens: problem.generalChunks.reduce((n, c) => n + c.length, 0),
    generalPositions: generalCount,
    applied,
    steps: step,
    timings: { prepareMs: prepared - started, trainMs: finished - prepared, totalMs: finished - started },
  };
}
