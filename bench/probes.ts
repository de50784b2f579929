// Permutation-probe benchmark.
//
// 1. Ensemble training throughput (members/s) at k = 10 and 30, width 4,096 (and k = 6, width 256, a small case),
//    standard parameterisation with the probe's automatic step count, for three ways of training the same members in
//    the same run:
//    - batched: members together as batched matrix products in ONNX Runtime, in the probe's cache-sized batches
//      (`defaultBatchSize`: 2 at k = 10, 1 at k = 30 for width 4,096; 64 at k = 6, width 256);
//    - one at a time, JS loop: the plain one-network-at-a-time loop (`trainMembersNaive`), the baseline;
//    - one at a time, same ONNX kernel: batch size 1 (so the gain of batching itself shows separately).
//    Members/s = 1 / (seconds per member-step × steps per member), from timed runs of a few steps (a whole member
//    of the JS loop at k = 30 takes many seconds); runs interleave and repeat, medians are reported.
// 2. The reproduction preset (experiment 1, k = 5…30, 90%) at width 1,024 (--quick: 256), timed once, with its table.
// 3. The copy probe over k = 2…12 × shots 0…4 (8 prompts per cell) on a fake LM (the fixture models are timed in copyProbe.ts):
//    the model is an instant oracle with a 50,257-entry vocabulary, so this times the probe's own work
//    (prompt building, argmax, bookkeeping), against a bare loop that makes the same logits calls.
//
// Run: node --import tsx bench/probes.ts [--quick]        Writes bench/results/probes.json.
import { runCopyProbe, type CausalLanguageModel } from '../server/features/probes/copyProbe';
import { resolvePermutationProbeOptions, permutationTargets } from '../server/features/probes/permutationEnsemble';
import { runReproductionPreset } from '../server/features/probes/permutationPreset';
import { defaultBatchSize, gradientStepRates, initialiseMembers, trainMembersBatched, trainMembersNaive, type ReluNetShape } from '../server/kernels/reluEnsemble';
import type { TokenizerHandle, TokenSpan } from '../server/tokenization/tokenizer';
import { fmt, median, printTable, writeResults } from './stats';

const quick = process.argv.includes('--quick');
const WIDTH = 4096;
const REPEATS = quick ? 2 : 5;

// ---------------------------------------------------------------------------------------------------------------
// 1. Training throughput

interface ThroughputCase {
  k: number;
  width: number;
  batch: number;
  stepsPerMember: number;
  batched: number[];
  oneAtATimeJs: number[];
  oneAtATimeOnnx: number[];
}

async function secondsPerMemberStep(kind: 'batched' | 'js' | 'onnx1', k: number, width: number, steps: number): Promise<number> {
  const shape: ReluNetShape = { inputs: k, hidden: width, outputs: k };
  const scales = { sigmaW: 1, sigmaB: 0 };
  const options = resolvePermutationProbeOptions({ k, width });
  const rates = gradientStepRates('standard', options.lr, shape, scales);
  const targets = permutationTargets(options.permutation);
  const members = kind === 'batched' ? defaultBatchSize(shape) : 1;
  const params = initialiseMembers(shape, Array.from({ length: members }, (_, b) => 7 + b), scales);
  const start = performance.now();
  if (kind === 'js') trainMembersNaive(params, targets, rates, steps);
  else await trainMembersBatched(params, targets, rates, steps);
  return (performance.now() - start) / 1000 / (members * steps);
}

async function throughput(k: number, width: number): Promise<ThroughputCase> {
  const stepsPerMember = resolvePermutationProbeOptions({ k, width }).steps;
  const batch = defaultBatchSize({ inputs: k, hidden: width, outputs: k });
  const result: ThroughputCase = { k, width, batch, stepsPerMember, batched: [], oneAtATimeJs: [], oneAtATimeOnnx: [] };
  // Warm up the ONNX sessions (graph build and first-run allocations are not part of a member's cost).
  await secondsPerMemberStep('batched', k, width, 8);
  await secondsPerMemberStep('onnx1', k, width, 8);
  // Enough steps for ~0.1–0.5 s per timed run.
  const work = k * k * width;
  const steps = {
    batched: Math.max(8, Math.round(4e8 / (work * batch))),
    onnx1: Math.max(8, Math.round(4e8 / work)),
    js: Math.max(1, Math.round(3e7 / work)),
  };
  for (let r = 0; r < REPEATS; r++) {
    result.batched.push(1 / ((await secondsPerMemberStep('batched', k, width, steps.batched)) * stepsPerMember));
    result.oneAtATimeJs.push(1 / ((await secondsPerMemberStep('js', k, width, steps.js)) * stepsPerMember));
    result.oneAtATimeOnnx.push(1 / ((await secondsPerMemberStep('onnx1', k, width, steps.onnx1)) * stepsPerMember));
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Copy probe on a fake LM

const VOCAB = 50_257;

/** A tokenizer over "w0".."w99" (space-prefixed words are one token each) and a few template pieces. */
function fakeTokenizer(): TokenizerHandle {
  const pieces = ['Input', 'Output', ':', ...Array.from({ length: 100 }, (_, i) => `w${i}`)];
  const ids = new Map(pieces.map((piece, id) => [piece, id]));
  return {
    facts: { type: 'WordLevel', vocabSize: VOCAB, style: 'other', specialTokens: [] },
    tokenize(text: string): TokenSpan[] {
      const spans: TokenSpan[] = [];
      for (const match of text.matchAll(/\w+|:/g)) {
        const id = ids.get(match[0]) ?? 0;
        spans.push({ id, text: match[0], start: match.index!, end: match.index! + match[0].length, special: false });
      }
      return spans;
    },
    decode: (list) => list.map((id) => pieces[id] ?? '?').join(' '),
    idToToken: (id) => pieces[id],
    tokenToId: (token) => ids.get(token),
    isSpecial: () => false,
    tokenBytes: () => new Uint8Array(0),
  };
}

/** An oracle copier: finds the query after the last "Input" and repeats it, one token per call. */
function fakeCopier(tokenizer: TokenizerHandle): CausalLanguageModel & { calls: number } {
  const inputId = tokenizer.tokenToId('Input')!;
  const outputId = tokenizer.tokenToId('Output')!;
  const model = {
    tokenizer,
    calls: 0,
    async nextTokenLogits(ids: number[]) {
      model.calls++;
      const lastInput = ids.lastIndexOf(inputId);
      const lastOutput = ids.lastIndexOf(outputId);
      const query = ids.slice(lastInput + 1, lastOutput).filter((id) => id > 2);
      const position = ids.length - lastOutput - 2;
      const logits = new Float32Array(VOCAB);
      logits[query[position] ?? 0] = 1;
      return logits;
    },
  };
  return model;
}

async function copyProbeTiming(): Promise<{ probeMs: number[]; bareMs: number[]; calls: number }> {
  const tokenizer = fakeTokenizer();
  const words = Array.from({ length: 100 }, (_, i) => `w${i}`);
  const options = { ks: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], shots: [0, 1, 2, 3, 4], queries: 8, words };
  const probeMs: number[] = [];
  const bareMs: number[] = [];
  let calls = 0;
  for (let r = 0; r < REPEATS; r++) {
    const model = fakeCopier(tokenizer);
    const start = performance.now();
    const result = await runCopyProbe(model, options);
    probeMs.push(performance.now() - start);
    if (result.heatmap.exactMatch.flat().some((value) => value !== 1)) throw new Error('the fake copier should be perfect');
    calls = model.calls;
    // The bare peer: the same number of logits calls on a fixed prompt of the same length, argmax only.
    const bare = fakeCopier(tokenizer);
    const prompt = tokenizer.tokenize('Input: w1 w2 w3 w4 w5 w6 w7 w8 Output:').map((span) => span.id);
    const bareStart = performance.now();
    for (let c = 0; c < calls; c++) {
      const logits = await bare.nextTokenLogits(prompt);
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    }
    bareMs.push(performance.now() - bareStart);
  }
  return { probeMs, bareMs, calls };
}

// ---------------------------------------------------------------------------------------------------------------

async function mainBench(): Promise<void> {
  console.log(`Permutation probes benchmark${quick ? ' (quick)' : ''}: node ${process.version}\n`);

  console.log(`1. Ensemble training throughput, standard parameterisation, auto steps (members/s, median of ${REPEATS})`);
  const cases: ThroughputCase[] = [];
  for (const [k, width] of [[10, WIDTH], [30, WIDTH], [6, 256]]) cases.push(await throughput(k, width));
  printTable(
    ['k', 'width', 'steps/member', 'batch', 'batched', 'one at a time (JS)', 'one at a time (ONNX, batch 1)', 'batched ÷ JS', 'batched ÷ ONNX×1'],
    cases.map((c) => [
      c.k,
      c.width,
      c.stepsPerMember,
      c.batch,
      fmt(median(c.batched), 1),
      fmt(median(c.oneAtATimeJs), 2),
      fmt(median(c.oneAtATimeOnnx), 1),
      `${fmt(median(c.batched) / median(c.oneAtATimeJs), 1)}×`,
      `${fmt(median(c.batched) / median(c.oneAtATimeOnnx), 1)}×`,
    ]),
  );

  const width = quick ? 256 : 1024;
  console.log(`\n2. Reproduction preset (experiment 1, k = 5…30, target 90%) at width ${width}`);
  const preset = await runReproductionPreset({ width });
  printTable(
    ['k', 'ours', 'paper', 'theory ∞', `theory ${width}`, 'band', 'steps', 's'],
    preset.rows.map((row) => [row.k, row.ours ?? '–', row.paper ?? '–', row.theoryInfiniteWidth ?? '–', row.theoryOurWidth ?? '–', `${row.theoryBand.low}–${row.theoryBand.high ?? '∞'}`, row.steps, fmt(row.seconds, 1)]),
  );
  // The paper's compute per member: 3·k²·m multiply-adds per step × 10,000 epochs at m = 50,000; ours at our m and steps.
  const paperWork = preset.rows.reduce((sum, row) => sum + (row.paper ?? 0) * 3 * row.k * row.k * 50_000 * 10_000, 0);
  const ourWork = preset.rows.reduce((sum, row) => sum + (row.ours ?? 0) * 3 * row.k * row.k * width * row.steps, 0);
  console.log(`   total ${fmt(preset.totalSeconds, 1)} s; training work ${fmt(ourWork / 1e12, 3)} T multiply-adds vs the paper's ${fmt(paperWork / 1e12, 0)} T (${fmt(paperWork / ourWork, 0)}× less)`);
  for (const line of preset.explanation.slice(0, 5)) console.log(`   ${line}`);

  console.log('\n3. Copy probe, k = 2…12 × shots 0…4, 8 prompts per cell, fake LM (no fixture Backpack yet)');
  const copy = await copyProbeTiming();
  const probeMedian = median(copy.probeMs);
  const bareMedian = median(copy.bareMs);
  console.log(`   ${copy.calls} logits calls: probe ${fmt(probeMedian, 1)} ms (${fmt((probeMedian * 1000) / copy.calls, 1)} µs/call) vs bare loop ${fmt(bareMedian, 1)} ms: ${fmt(probeMedian / bareMedian, 2)}×`);

  const file = writeResults('probes', {
    quick,
    throughput: cases.map((c) => ({
      k: c.k,
      width: c.width,
      batch: c.batch,
      stepsPerMember: c.stepsPerMember,
      membersPerSecond: { batched: median(c.batched), oneAtATimeJs: median(c.oneAtATimeJs), oneAtATimeOnnx: median(c.oneAtATimeOnnx) },
      ratios: { batchedOverJs: median(c.batched) / median(c.oneAtATimeJs), batchedOverOnnxOne: median(c.batched) / median(c.oneAtATimeOnnx) },
      samples: { batched: c.batched, oneAtATimeJs: c.oneAtATimeJs, oneAtATimeOnnx: c.oneAtATimeOnnx },
    })),
    reproduction: { width, totalSeconds: preset.totalSeconds, rows: preset.rows, explanation: preset.explanation, paperWorkOverOurs: paperWork / ourWork },
    copyProbe: { model: 'fake oracle copier, vocabulary 50,257 (no fixture Backpack yet)', cells: 55, queries: 8, logitsCalls: copy.calls, probeMs: probeMedian, bareLoopMs: bareMedian, ratio: probeMedian / bareMedian },
  });
  console.log(`\nwrote ${file}`);
}

mainBench().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
