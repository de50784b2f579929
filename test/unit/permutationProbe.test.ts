// Permutation-learning probes: the closed-form kernels against Monte-Carlo estimates from random wide networks, the
// structured GP against a direct solve, ensembles that learn a permutation exactly (and a single network that does
// not), batched training against one-at-a-time training, the worker's progress and cancellation, and the copy probe
// on fake language models whose answers are known.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../server/cli/main';
import { isModelLensError } from '../../server/errors';
import {
  evaluateMembersBatched,
  evaluateMembersNaive,
  gradientStepRates,
  initialiseMembers,
  sliceMembers,
  trainMembersBatched,
  trainMembersNaive,
  type MemberParameters,
  type ReluNetShape,
} from '../../server/kernels/reluEnsemble';
import { SeededRandom } from '../../server/kernels/seededRandom';
import { openCausalLanguageModel, registerCausalLanguageModelRunner, type CausalLanguageModel } from '../../server/features/probes/causalLanguageModel';
import { runCopyProbe } from '../../server/features/probes/copyProbe';
import { buildEvaluationSet, permutationTargets, runPermutationEnsemble } from '../../server/features/probes/permutationEnsemble';
import { runPermutationProbe, type PermutationProbeProgress } from '../../server/features/probes/permutationProbe';
import { explainReproductionGaps, PAPER_EXPERIMENT_1, type ReproductionRow } from '../../server/features/probes/permutationPreset';
import {
  logNormalCdf,
  normalCdf,
  permutationTheory,
  reluKernels,
  supportSizeGp,
  type ReluKernelSetup,
} from '../../server/features/probes/permutationTheory';
import { ModelRegistry } from '../../server/registry/registry';
import { WordListTokenizer } from '../../server/tokenization/wordListTokenizer';
import { buildDemoCheckpoints, DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';

// ---------------------------------------------------------------------------------------------------------------
// Theory

describe('closed-form kernels', () => {
  test('the normal CDF is accurate in the body and the tails', () => {
    assert.ok(Math.abs(normalCdf(1) - 0.8413447460685429) < 1e-14);
    assert.ok(Math.abs(normalCdf(-3) / 0.0013498980316301035 - 1) < 1e-12);
    assert.ok(Math.abs(normalCdf(-10) / 7.619853024160527e-24 - 1) < 1e-12);
    assert.ok(Math.abs(logNormalCdf(-40) - (Math.log(3.655893540915) - 350 * Math.LN10)) < 1e-9); // Φ(−40) = 3.655893540915e−350
    assert.ok(Math.abs(logNormalCdf(8) / -6.220960574271785e-16 - 1) < 1e-12);
  });

  /**
   * The empirical NTK and NNGP of one random network with 20,000 hidden units, for two unit inputs with cosine ρ,
   * summed over its actual parameter gradients: for the NTK parameterisation (every parameter N(0, 1), scaled in the
   * forward pass) and the standard one (effective weights N(0, σ_w²/fan_in), trained biases at 0).
   */
  function monteCarloKernels(rho: number, setup: ReluKernelSetup, inputs: number, seed: number): { nngp: number; ntk: number } {
    const m = 20_000;
    const random = new SeededRandom(seed);
    const x = new Float64Array(inputs);
    const y = new Float64Array(inputs);
    x[0] = 1;
    y[0] = rho;
    y[1] = Math.sqrt(1 - rho * rho);
    const dot = rho;
    const sw = setup.sigmaW;
    const sb = setup.sigmaB;
    let reluReLU = 0;
    let stepTerm = 0;
    for (let j = 0; j < m; j++) {
      // First-layer effective weights N(0, σ_w²/d), bias N(0, σ_b²): the same law in both parameterisations.
      let hx = sb * random.normal();
      let hy = hx;
      for (let i = 0; i < inputs; i++) {
        const w = (sw / Math.sqrt(setup.fanIn)) * random.normal();
        hx += w * x[i];
        hy += w * y[i];
      }
      const a = random.normal(); // second-layer raw weight
      reluReLU += Math.max(hx, 0) * Math.max(hy, 0);
      if (hx > 0 && hy > 0) {
        if (setup.param === 'ntk') {
          // ∂f/∂w_j = (σ_w/√m) a_j relu' (σ_w/√d) x, ∂f/∂b_j = (σ_w/√m) a_j relu' σ_b
          stepTerm += ((sw * sw) / m) * a * a * ((sw * sw * dot) / setup.fanIn + sb * sb);
        } else {
          // W₂ effective = (σ_w/√m)·a; ∂f/∂W₁ = W₂ relu' x, ∂f/∂b₁ = W₂ relu'
          stepTerm += ((sw * sw) / m) * a * a * (dot + 1);
        }
      }
    }
    const nngp = ((sw * sw) / m) * reluReLU + sb * sb;
    const ntk = setup.param === 'ntk' ? nngp + stepTerm : reluReLU + 1 + stepTerm;
    return { nngp, ntk };
  }

  const setups: { name: string; setup: ReluKernelSetup }[] = [
    { name: 'NTK parameterisation, bias-free, unit inputs (REFERENCES: K = κ₁, Θ = ρκ₀ + κ₁)', setup: { param: 'ntk', fanIn: 1, width: Infinity, sigmaW: 1, sigmaB: 0 } },
    { name: 'NTK parameterisation, fan-in k = 5, σ_b = 0.5', setup: { param: 'ntk', fanIn: 5, width: Infinity, sigmaW: 1, sigmaB: 0.5 } },
    { name: 'standard parameterisation, width 20,000, fan-in 5 (the reference code)', setup: { param: 'standard', fanIn: 5, width: 20_000, sigmaW: 1, sigmaB: 0 } },
  ];
  for (const { name, setup } of setups) {
    test(`match Monte-Carlo estimates over 20k random features within 2%: ${name}`, () => {
      // Errors are relative to the kernel at ρ = 1 (its scale): a value near 0 has no meaningful relative error.
      // 20k features give a Monte-Carlo sd of about 0.7% of that scale, so 2% is about 3 sd. One network (seed 1)
      // serves every ρ, as the same random features would.
      const scale = reluKernels(1, setup);
      for (const rho of [0, 1 / Math.sqrt(5), 0.5, 1 / Math.SQRT2, 0.9, 1]) {
        const exact = reluKernels(rho, setup);
        const estimate = monteCarloKernels(rho, setup, 5, 1);
        assert.ok(Math.abs(estimate.nngp - exact.nngp) / scale.nngp < 0.02, `NNGP at ρ = ${rho}: MC ${estimate.nngp}, closed form ${exact.nngp}`);
        assert.ok(Math.abs(estimate.ntk - exact.ntk) / scale.ntk < 0.02, `NTK at ρ = ${rho}: MC ${estimate.ntk}, closed form ${exact.ntk}`);
        if (rho >= 0.5) {
          assert.ok(Math.abs(estimate.nngp / exact.nngp - 1) < 0.02, `NNGP relative error at ρ = ${rho}`);
          assert.ok(Math.abs(estimate.ntk / exact.ntk - 1) < 0.02, `NTK relative error at ρ = ${rho}`);
        }
      }
    });
  }

  test('with σ_b = 0 and unit inputs the kernels are exactly the reference facts', () => {
    const setup: ReluKernelSetup = { param: 'ntk', fanIn: 1, width: Infinity, sigmaW: 1, sigmaB: 0 };
    for (const rho of [-0.5, 0, 0.3, 1 / Math.SQRT2, 1]) {
      const theta = Math.acos(rho);
      const k0 = (Math.PI - theta) / (2 * Math.PI);
      const k1 = (Math.sin(theta) + (Math.PI - theta) * rho) / (2 * Math.PI);
      const { nngp, ntk } = reluKernels(rho, setup);
      assert.ok(Math.abs(nngp - k1) < 1e-15);
      assert.ok(Math.abs(ntk - (rho * k0 + k1)) < 1e-15);
    }
  });
});

describe('permutation theory', () => {
  /** Solves A v = b by Gaussian elimination with partial pivoting (float64). */
  function solve(matrix: number[][], rhs: number[]): number[] {
    const n = rhs.length;
    const a = matrix.map((row, i) => [...row, rhs[i]]);
    for (let c = 0; c < n; c++) {
      let pivot = c;
      for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
      [a[c], a[pivot]] = [a[pivot], a[c]];
      for (let r = c + 1; r < n; r++) {
        const f = a[r][c] / a[c][c];
        for (let j = c; j <= n; j++) a[r][j] -= f * a[c][j];
      }
    }
    const v = new Array<number>(n).fill(0);
    for (let r = n - 1; r >= 0; r--) {
      let sum = a[r][n];
      for (let j = r + 1; j < n; j++) sum -= a[r][j] * v[j];
      v[r] = sum / a[r][r];
    }
    return v;
  }

  test('the structured GP mean and variance equal a direct solve on actual inputs', () => {
    const k = 7;
    const setup: ReluKernelSetup = { param: 'standard', fanIn: k, width: 300, sigmaW: 1, sigmaB: 0 };
    const K = (rho: number) => reluKernels(rho, setup).nngp;
    const T = (rho: number) => reluKernels(rho, setup).ntkShape;
    const gram = (f: (rho: number) => number) => Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => f(i === j ? 1 : 0)));
    const theta = gram(T);
    const kernel = gram(K);
    const rows = supportSizeGp(k, setup);
    const random = new SeededRandom(5);
    for (let n = 1; n <= k; n++) {
      const support = random.sample(k, n);
      const cos = (i: number) => (support.includes(i) ? 1 / Math.sqrt(n) : 0);
      const tx = Array.from({ length: k }, (_, i) => T(cos(i)));
      const kx = Array.from({ length: k }, (_, i) => K(cos(i)));
      const v = solve(theta, tx); // Θ⁻¹Θ(X, x)
      const onIndex = support[0];
      const offIndex = [...Array(k).keys()].find((i) => !support.includes(i));
      const kv = kernel.map((row) => row.reduce((sum, value, j) => sum + value * v[j], 0));
      const variance = K(1) + v.reduce((sum, value, i) => sum + value * kv[i], 0) - 2 * v.reduce((sum, value, i) => sum + value * kx[i], 0);
      assert.ok(Math.abs(rows[n - 1].meanOn - v[onIndex]) < 1e-9, `mean on, n = ${n}`);
      if (offIndex !== undefined) assert.ok(Math.abs(rows[n - 1].meanOff - v[offIndex]) < 1e-9, `mean off, n = ${n}`);
      assert.ok(Math.abs(rows[n - 1].variance - Math.max(0, variance)) < 1e-9, `variance, n = ${n}`);
    }
  });

  test('at k = 10 the GP mean rounds every input of every support size correctly', () => {
    for (const param of ['standard', 'ntk'] as const) {
      const theory = permutationTheory(10, { param, skipGrowth: true });
      assert.equal(theory.supportSizes.length, 10);
      for (const size of theory.supportSizes) {
        assert.ok(size.meanOn > 0, `${param}: on-support mean of size ${size.n} must round to 1`);
        if (size.n === 1) {
          assert.equal(size.meanOff, 0); // interpolated training input: exactly the threshold
          assert.equal(size.variance, 0);
          assert.equal(size.boundary, true);
        } else if (size.n < 10) {
          assert.ok(size.meanOff < 0, `${param}: off-support mean of size ${size.n} must round to 0`);
        }
        assert.notEqual(size.modelsForOneInput, null);
      }
      assert.ok(theory.models.allInputs.models! >= theory.models.oneInput.models!);
      assert.ok(theory.models.oneInput.models! >= theory.models.twoOnes.models!);
    }
  });

  test("the standard parameterisation's ensemble sizes are close to the paper's experiment 1", () => {
    PAPER_EXPERIMENT_1.ks.forEach((k, i) => {
      const theory = permutationTheory(k, { param: 'standard', width: PAPER_EXPERIMENT_1.width, skipGrowth: true });
      const ratio = theory.models.twoOnes.models! / PAPER_EXPERIMENT_1.models[i];
      assert.ok(ratio > 0.5 && ratio < 1.5, `k = ${k}: theory ${theory.models.twoOnes.models}, paper ${PAPER_EXPERIMENT_1.models[i]}`);
    });
  });

  test('the growth table grows faster than k and is reported against k log k and k²', () => {
    const theory = permutationTheory(10);
    const rows = theory.growth;
    assert.ok(rows.length >= 8);
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i].oneInput! > rows[i - 1].oneInput!);
    const first = rows[0];
    const last = rows[rows.length - 1];
    assert.ok(last.oneInput! / first.oneInput! > last.k / first.k, 'faster than linear');
    assert.ok(last.allInputs! / first.allInputs! < (last.k / first.k) ** 2, 'no faster than quadratic');
    for (const row of rows) assert.ok(Math.abs(row.oneInputOverKLogK! - row.oneInput! / (row.k * Math.log(row.k))) < 1e-12);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Empirical ensembles

describe('batched ensemble training', () => {
  const shape: ReluNetShape = { inputs: 6, hidden: 96, outputs: 6 };
  const scales = { sigmaW: 1, sigmaB: 0.3 };
  const targets = permutationTargets([2, 0, 5, 1, 3, 4]);
  const seeds = [11, 12, 13, 14];
  const same = (a: MemberParameters, b: MemberParameters) =>
    (['w1t', 'b1', 'w2', 'b2'] as const).every((key) => a[key].length === b[key].length && a[key].every((value, i) => Object.is(value, b[key][i])));

  for (const param of ['standard', 'ntk'] as const) {
    test(`gives the same bits as training the members one by one with the same seeds (${param})`, async () => {
      const rates = gradientStepRates(param, param === 'standard' ? 0.3 : 20, shape, scales);
      const batch = initialiseMembers(shape, seeds, scales);
      await trainMembersBatched(batch, targets, rates, 21);
      for (const [b, seed] of seeds.entries()) {
        const alone = initialiseMembers(shape, [seed], scales);
        assert.ok(same(alone, sliceMembers(initialiseMembers(shape, seeds, scales), b, b + 1)), 'initialisation does not depend on the batch');
        await trainMembersBatched(alone, targets, rates, 21);
        assert.ok(same(alone, sliceMembers(batch, b, b + 1)), `member ${b} differs`);
      }
      // The plain one-network-at-a-time loop does the same arithmetic (float64 sums): equal to float32 rounding.
      const naive = initialiseMembers(shape, seeds, scales);
      trainMembersNaive(naive, targets, rates, 21);
      for (const key of ['w1t', 'b1', 'w2', 'b2'] as const) {
        const scale = Math.max(...batch[key].map(Math.abs));
        batch[key].forEach((value, i) => assert.ok(Math.abs(value - naive[key][i]) <= 1e-5 * scale + 1e-7, `${key}[${i}]`));
      }
      const set = buildEvaluationSet('all', [2, 0, 5, 1, 3, 4], 0, 0);
      const outputs = await evaluateMembersBatched(batch, set.x, set.supports.length);
      const reference = evaluateMembersNaive(batch, set.x, set.supports.length);
      outputs.forEach((value, i) => assert.ok(Math.abs(value - reference[i]) < 1e-5));
    });
  }

  test('trains the members to the permutation on the training inputs', async () => {
    const members = initialiseMembers(shape, seeds, scales);
    const rates = gradientStepRates('standard', 0.5, shape, scales);
    const { trainLoss } = await trainMembersBatched(members, targets, rates, 150);
    for (const loss of trainLoss) assert.ok(loss < 1e-8, `training loss ${loss}`);
  });

  test('an ensemble run does not depend on the batch size', async () => {
    const options = { k: 5, width: 64, maxModels: 9, target: 1, seed: 4 };
    const one = await runPermutationEnsemble({ ...options, batchSize: 1 });
    const many = await runPermutationEnsemble({ ...options, batchSize: 32 });
    assert.deepEqual(one.curve, many.curve);
    assert.deepEqual(one.margins.margins, many.margins.margins);
  });
});

describe('empirical permutation probe', () => {
  test('at k = 6 an ensemble of width 256 gets all 63 inputs right and reports where it stopped (worker)', async () => {
    const progress: PermutationProbeProgress[] = [];
    const result = await runPermutationProbe({ k: 6, width: 256, target: 1, maxModels: 300, seed: 1 }, { onProgress: (p) => progress.push(p), progressIntervalMs: 0 });
    assert.equal(result.evaluationSet.kind, 'all');
    assert.equal(result.evaluationSet.distinctInputs, 63);
    assert.equal(result.reachedTarget, true);
    assert.ok(result.stoppedAt !== null && result.stoppedAt >= 2 && result.stoppedAt <= 300, `stopped at ${result.stoppedAt}`);
    assert.equal(result.models, result.stoppedAt);
    assert.equal(result.curve.accuracy.length, result.stoppedAt);
    assert.equal(result.curve.accuracy[result.stoppedAt! - 1], 1);
    assert.ok(result.curve.accuracy.slice(0, -1).every((accuracy) => accuracy < 1), 'the first M at 100% is the one reported');
    assert.ok(result.margins.margins.every((margin) => margin > 0));
    assert.equal(result.theoryCurve.accuracy.length, result.models);
    assert.ok(result.bySupportSize.every((size) => size.accuracy === 1));
    // The training inputs are interpolated: off-support outputs at float32 residue, far inside the tolerance (1e-5).
    assert.ok(result.trainingInputs && Math.abs(result.trainingInputs.largestOffSupportMean) < 1e-6);
    assert.ok(result.trainLoss.max <= 1e-12, 'trained to convergence');
    assert.ok(result.trainSteps.max >= result.options.steps);
    assert.ok(progress.length > 0 && progress.some((p) => p.phase === 'evaluating'));
    assert.ok(progress.every((p, i) => i === 0 || p.models >= progress[i - 1].models));
  });

  test('a single narrow network gets some multi-one inputs wrong', async () => {
    const result = await runPermutationEnsemble({ k: 6, width: 32, maxModels: 1, target: 1, seed: 1 });
    assert.equal(result.models, 1);
    assert.equal(result.reachedTarget, false);
    const multi = result.bySupportSize.filter((size) => size.n >= 2);
    assert.ok(multi.some((size) => size.accuracy < 1), JSON.stringify(multi));
    assert.ok(result.margins.margins.some((margin, i) => margin <= 0 && result.margins.supportSizes[i] >= 2));
  });

  test('two-one evaluation samples 1,000 inputs like the reference, with the strict rounding rule', async () => {
    const result = await runPermutationEnsemble({ k: 20, width: 64, maxModels: 2, seed: 3 });
    assert.equal(result.evaluationSet.kind, 'two-ones');
    assert.equal(result.evaluationSet.totalInputs, 1000);
    assert.ok(result.evaluationSet.distinctInputs <= 190);
    assert.equal(result.options.zeroTolerance, 0);
    assert.ok(result.margins.supportSizes.every((n) => n === 2));
    assert.equal(result.trainingInputs, null);
  });

  test('a given permutation is used and a bad one is refused', async () => {
    const result = await runPermutationEnsemble({ k: 4, width: 32, maxModels: 1, permutation: [3, 2, 1, 0] });
    assert.deepEqual(result.options.permutation, [3, 2, 1, 0]);
    await assert.rejects(runPermutationProbe({ k: 4, permutation: [0, 0, 1, 2] }), (error) => isModelLensError(error) && error.code === 'usage');
  });

  test('cancelling rejects with an AbortError', async () => {
    const controller = new AbortController();
    const run = runPermutationProbe(
      { k: 12, width: 512, maxModels: 5000, evaluation: 'two-ones' },
      { signal: controller.signal, progressIntervalMs: 0, onProgress: () => controller.abort() },
    );
    await assert.rejects(run, (error: Error) => error.name === 'AbortError');
  });

  test('the reproduction explanation names the gaps', () => {
    const row = (k: number, ours: number | null, paper: number, theory: number): ReproductionRow => ({
      ...{ k, paper, ours, oursAccuracy: 0.9, theoryInfiniteWidth: theory, theoryOurWidth: theory + 2, theoryPaperWidth: theory },
      ...{ theoryBand: { low: theory - 5, high: theory + 5 }, paperResidual: 1e-9, lr: 1, steps: 10, maxSteps: 12, seconds: 1 },
    });
    const lines = explainReproductionGaps([row(5, 30, 43, 28), row(10, 80, 69, 58), row(15, null, 103, 89)], 1024, 0.9);
    const text = lines.join('\n');
    assert.match(text, /converged/);
    assert.match(text, /Finite width/);
    assert.match(text, /outside: k = 10/);
    assert.match(text, /Not reached within the member limit: k = 15/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The copy probe on fake language models

const WORDS = ['apple', 'river', 'house', 'table', 'garden', 'window', 'horse', 'bread', 'chair', 'water', 'music', 'paper', 'money', 'cat', 'dog', 'bird'];
const VOCAB = ['<unk>', 'Input', 'Output', ':', ...WORDS];

interface FakeBehaviour {
  /** The rearrangement the fake applies: a fixed π, or 'first-shot' (inferred from the first shot; identity without shots). */
  rule: ((k: number) => number[]) | 'first-shot';
  /** 0-based position where the fake always answers wrong. */
  failAt?: number;
}

/** A fake causal LM over a word-list tokenizer that reads the prompt's structure and answers by a rule. */
function fakeLm(behaviour: FakeBehaviour): CausalLanguageModel & { calls: number[][] } {
  const tokenizer = new WordListTokenizer(VOCAB);
  const inputId = tokenizer.tokenToId('Input')!;
  const outputId = tokenizer.tokenToId('Output')!;
  const isWord = (id: number) => id >= 4;
  const calls: number[][] = [];
  return {
    tokenizer,
    calls,
    async nextTokenLogits(ids) {
      calls.push(ids);
      const lastInput = ids.lastIndexOf(inputId);
      const lastOutput = ids.lastIndexOf(outputId);
      const query = ids.slice(lastInput + 1, lastOutput).filter(isWord);
      const position = ids.slice(lastOutput + 1).filter(isWord).length;
      const k = query.length;
      let permutation = Array.from({ length: k }, (_, i) => i);
      if (behaviour.rule === 'first-shot') {
        const firstInput = ids.indexOf(inputId);
        if (firstInput !== lastInput) {
          const firstOutput = ids.indexOf(outputId);
          const shotIn = ids.slice(firstInput + 1, firstOutput).filter(isWord);
          const shotOut = ids.slice(firstOutput + 1, ids.indexOf(inputId, firstOutput)).filter(isWord);
          permutation = shotOut.map((id) => shotIn.indexOf(id));
        }
      } else permutation = behaviour.rule(k);
      let answer = query[permutation[position]];
      if (position === behaviour.failAt) answer = query[(permutation[position] + 1) % k];
      const logits = new Float32Array(VOCAB.length);
      logits[answer] = 5;
      return logits;
    },
  };
}

const identity = (k: number) => Array.from({ length: k }, (_, i) => i);

describe('copy probe', () => {
  test('a perfect copier scores 100% everywhere, and the prompts are well formed', async () => {
    const lm = fakeLm({ rule: identity });
    const result = await runCopyProbe(lm, { ks: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], shots: [0, 1, 2, 3, 4], queries: 3, words: WORDS });
    assert.equal(result.cells.length, 11 * 5);
    for (const cell of result.cells) {
      assert.equal(cell.exactMatch, 1);
      assert.deepEqual(cell.perPosition, new Array(cell.k).fill(1));
      assert.equal(cell.prompts.length, 3);
    }
    assert.deepEqual(result.failingPositions, []);
    assert.deepEqual(result.heatmap.exactMatch, result.ks.map(() => result.shots.map(() => 1)));
    const cell = result.cells.find((c) => c.k === 3 && c.shots === 2)!;
    const prompt = cell.prompts[0];
    assert.match(prompt.prompt, /^Input:( \w+){3}\nOutput:( \w+){3}\n\nInput:( \w+){3}\nOutput:( \w+){3}\n\nInput:( \w+){3}\nOutput:$/);
    const shotLines = prompt.prompt.split('\n\n');
    for (const shot of shotLines.slice(0, 2)) {
      const [input, output] = shot.split('\n');
      assert.equal(input.replace('Input:', ''), output.replace('Output:', ''), 'copy shots repeat their input');
    }
    assert.equal(shotLines[2].replace(/^Input:|\nOutput:$/g, ''), ` ${prompt.input.join(' ')}`);
    assert.deepEqual(prompt.expected, prompt.input);
    assert.deepEqual(prompt.generated, prompt.input);
    // Tokens: each shot is "Input : w w w Output : w w w" (10), the query "Input : w w w Output :" (7).
    assert.equal(prompt.promptTokens, 2 * 10 + 7);
    // Prompts nest: the same query words for every shot count.
    const zeroShot = result.cells.find((c) => c.k === 3 && c.shots === 0)!;
    assert.deepEqual(zeroShot.prompts[0].input, prompt.input);
    assert.equal(result.timing.logitsCalls, 3 * 5 * [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].reduce((a, b) => a + b, 0));
  });

  test('a model that fails at position 3 loses exact match for k ≥ 3 and only that position', async () => {
    const result = await runCopyProbe(fakeLm({ rule: identity, failAt: 2 }), { ks: [2, 3, 6, 12], shots: [0, 2], queries: 4, words: WORDS });
    for (const cell of result.cells) {
      if (cell.k === 2) {
        assert.equal(cell.exactMatch, 1);
        continue;
      }
      assert.equal(cell.exactMatch, 0);
      cell.perPosition.forEach((accuracy, p) => assert.equal(accuracy, p === 2 ? 0 : 1, `k = ${cell.k}, position ${p}`));
    }
    assert.deepEqual(
      result.failingPositions.map((f) => [f.k, f.shots, f.position, f.accuracy]),
      [3, 6, 12].flatMap((k) => [0, 2].map((shots) => [k, shots, 2, 0])),
    );
  });

  test('a copier asked to reverse is right only in the middle; a model that reads the first shot needs one', async () => {
    const copier = await runCopyProbe(fakeLm({ rule: identity }), { ks: [3, 4, 5], shots: [0, 1], permutation: 'reverse', queries: 3, words: WORDS });
    for (const cell of copier.cells) {
      assert.equal(cell.exactMatch, 0);
      cell.perPosition.forEach((accuracy, p) => assert.equal(accuracy, p === cell.k - 1 - p ? 1 : 0));
    }
    const learner = await runCopyProbe(fakeLm({ rule: 'first-shot' }), { ks: [3, 4, 5], shots: [0, 1, 3], permutation: 'random', seed: 7, queries: 3, words: WORDS });
    // Without a shot it copies, which is never the whole (non-identity) permutation; one shot is enough.
    assert.deepEqual(learner.heatmap.exactMatch, [[0, 1, 1], [0, 1, 1], [0, 1, 1]]);
    for (const cell of learner.cells) assert.notDeepEqual(cell.permutation, identity(cell.k));
  });

  test('only single-token words are used; too few is an error; templates and cancellation', async () => {
    const lm = fakeLm({ rule: identity });
    const result = await runCopyProbe(lm, { ks: [2], shots: [1], queries: 1, words: [...WORDS.slice(0, 4), 'zebra', 'ice cream'], template: { preamble: 'Copy.\n', shot: 'Input:{input} Output:{output}\n', query: 'Input:{input} Output:' } });
    assert.equal(result.wordPool.size, 4);
    assert.equal(result.wordPool.rejected, 2);
    assert.match(result.cells[0].prompts[0].prompt, /^Copy\.\nInput: \w+ \w+ Output: \w+ \w+\nInput: \w+ \w+ Output:$/);
    await assert.rejects(runCopyProbe(lm, { ks: [5], words: WORDS.slice(0, 4) }), (error) => isModelLensError(error) && error.code === 'unsupported');
    await assert.rejects(runCopyProbe(lm, { template: { query: 'Q:' } }), (error) => isModelLensError(error) && error.code === 'usage');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(runCopyProbe(lm, { words: WORDS }, { signal: controller.signal }), (error: Error) => error.name === 'AbortError');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Opening a model for the copy probe, and the CLI

describe('probe CLI and model runners', () => {
  const llama = `${DEFAULT_DEMO_DIR}/tiny-llama3-f32`;
  before(async () => {
    await buildDemoCheckpoints();
  });

  async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const lines: string[] = [];
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const code = await main(argv, (text) => {
        lines.push(text);
        return true;
      });
      return { code, stdout: lines.join('\n'), stderr: errors.join('') };
    } finally {
      process.stderr.write = write;
    }
  }

  test('a model nothing can run is refused with what is supported; a registered runner is used', async () => {
    const model = await new ModelRegistry().open(llama);
    await assert.rejects(openCausalLanguageModel(model), (error) => isModelLensError(error) && error.code === 'unsupported' && /Backpack/.test(error.toUserMessage()));
    const lm = fakeLm({ rule: identity });
    const unregister = registerCausalLanguageModelRunner({ description: 'test runner', canRun: (m) => m.path === model.path, open: async () => lm });
    try {
      assert.equal(await openCausalLanguageModel(model), lm);
    } finally {
      unregister();
    }
  });

  test('probe copy exits 2 with one line naming what is supported', async () => {
    const { code, stdout, stderr } = await cli('probe', 'copy', llama, '--k', '2..4', '--json');
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /^error: .*cannot run next-token logits.*Backpack.*\n$/);
  });

  test('probe permutation --theory-only --json prints the theory', async () => {
    const { code, stdout } = await cli('probe', 'permutation', '--k', '8', '--param', 'ntk', '--theory-only', '--json');
    assert.equal(code, 0);
    const { theory } = JSON.parse(stdout);
    assert.equal(theory.k, 8);
    assert.equal(theory.param, 'ntk');
    assert.equal(theory.supportSizes.length, 8);
    assert.ok(theory.models.twoOnes.models > 0);
    assert.ok(Array.isArray(theory.growth) && theory.growth.length > 0);
  });

  test('probe permutation --json prints the theory and the empirical curve; bad options exit 2', async () => {
    const { code, stdout } = await cli('probe', 'permutation', '--k', '4', '--width', '64', '--max-models', '3', '--target', '0.99', '--json');
    assert.equal(code, 0);
    const { theory, empirical } = JSON.parse(stdout);
    assert.equal(theory.k, 4);
    assert.ok(empirical.curve.accuracy.length >= 1 && empirical.curve.accuracy.length <= 3);
    assert.equal(empirical.options.width, 64);
    assert.equal((await cli('probe', 'permutation', '--k', '4', '--shots', '2')).code, 2);
    assert.equal((await cli('probe', 'permutation', '--k', '1', '--theory-only')).code, 2);
    assert.equal((await cli('probe', 'copy', llama, '--k', '0..3')).code, 2);
    assert.equal((await cli('probe', 'sideways')).code, 2);
  });
});
