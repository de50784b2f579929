// Backpack benchmark at the full backpack-gpt2 shape (vocab 50264, d 768, 12 layers, 12 heads, 16 senses, 512
// positions) with random weights generated here (about 165M parameters, 0.66 GB in fp32):
// - time to build the ONNX graph and its session;
// - a forward pass of 64 tokens, against the TypeScript reference forward pass (test/support) in the same run;
// - one word's 16 senses with their top-20 and bottom-20 words (target ≤ 300 ms);
// - one sense-finetuning run: 10 senses, 10 epochs, 5 canonical examples, a general batch of 64 tokens (target
//   ≤ 2 minutes), against the estimated cost of autograd finetuning (one forward + backward ≈ 3 forward passes per
//   example and general batch per step);
// - peak memory against the fp32 weights (target ≤ 2.5×).
//
// Run: node --import tsx bench/backpack.ts [--quick]      Writes bench/results/backpack.json.
// --quick uses a small shape for a smoke run; the figures worth reporting come from the full run.
import * as path from 'node:path';
import { backpackConfigJson, type BackpackConfig } from '../server/features/backpack/backpackConfig';
import { BackpackModel } from '../server/features/backpack/backpackModel';
import { backpackTensorSpecs, type BackpackWeights } from '../server/features/backpack/backpackWeights';
import { buildBackpackGraph } from '../server/features/backpack/backpackGraph';
import { senseTopWords } from '../server/features/backpack/senses';
import type { OpenedModel, TensorInfo } from '../server/registry/types';
import { loadTokenizer } from '../server/tokenization/loadTokenizer';
import { referenceBackpackForward } from '../test/support/backpackReference';
import { parseCanonicalExamples } from '../server/features/backpack/canonicalExamples';
import { finetuneSenses } from '../server/features/backpack/senseFinetune';
import { buildDemoBackpack, GENERAL_TEXT } from '../test/fixtures/buildBackpack';
import { DEFAULT_DEMO_DIR } from '../test/fixtures/buildCheckpoints';
import { fmt, median, printTable, summarise, writeResults } from './stats';

const quick = process.argv.includes('--quick');
const CONFIG: BackpackConfig = quick
  ? { vocabSize: 4096, hidden: 128, layers: 2, heads: 4, positions: 128, senses: 16, senseIntermediate: 512, mlpIntermediate: 512, layerNormEpsilon: 1e-5, scaleAttentionByLayer: true }
  : { vocabSize: 50264, hidden: 768, layers: 12, heads: 12, positions: 512, senses: 16, senseIntermediate: 3072, mlpIntermediate: 3072, layerNormEpsilon: 1e-5, scaleAttentionByLayer: true };

const mib = (bytes: number) => bytes / 2 ** 20;
const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;

/** Uniform noise with the given standard deviation, from a seeded xorshift (fast enough for 165M values). */
function noise(n: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let state = seed >>> 0 || 1;
  const scale = (std * Math.sqrt(3) * 2) / 4294967296;
  for (let i = 0; i < n; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = (state >>> 0) * scale - std * Math.sqrt(3);
  }
  return out;
}

function randomWeights(config: BackpackConfig): Map<string, Float32Array> {
  const tensors = new Map<string, Float32Array>();
  backpackTensorSpecs(config).forEach((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const values = spec.kind === 'gain' ? new Float32Array(n).fill(1) : spec.kind === 'bias' ? new Float32Array(n) : noise(n, spec.kind === 'embedding' ? 0.1 : 0.02, 1000 + i);
    tensors.set(spec.name, values);
  });
  return tensors;
}

/** An opened model held in memory: the weights above, the fixture's GPT-2-style tokenizer (ids within the vocabulary). */
async function inMemoryBackpack(config: BackpackConfig, tensors: Map<string, Float32Array>): Promise<OpenedModel> {
  const tokenizer = await loadTokenizer((await buildDemoBackpack(DEFAULT_DEMO_DIR)).folder);
  const infos: TensorInfo[] = backpackTensorSpecs(config).map((spec) => ({ name: spec.name, dtype: 'F32', shape: spec.shape, file: 'memory', offset: 0, byteLength: tensors.get(spec.name)!.byteLength }));
  return {
    id: 'bench-backpack',
    path: 'bench-backpack',
    name: 'random backpack-gpt2',
    format: 'huggingface',
    files: [],
    config: backpackConfigJson(config),
    tensors: infos,
    embeddings: { input: infos[0], tied: true },
    tokenizer,
    readTensor: async (name) => tensors.get(name)!,
  };
}

const FINETUNE_EXAMPLES = [
  ['The capital of France is', ' Paris'],
  ['The capital of Germany is', ' Berlin'],
  ['The biggest city in Japan is', ' Tokyo'],
  ['The king sat beside the', ' queen'],
  ['My nurse called the', ' doctor'],
]
  .map(([prefix, suffix]) => JSON.stringify({ prefix, suffix, kind: 'good' }))
  .join('\n');

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await run();
  return { ms: performance.now() - start, value };
}

async function main(): Promise<void> {
  const baselineRss = process.memoryUsage().rss;
  const generated = await timed(async () => randomWeights(CONFIG));
  const tensors = generated.value;
  let weightBytes = 0;
  for (const t of tensors.values()) weightBytes += t.byteLength;
  console.log(`random weights: ${(weightBytes / 4 / 1e6).toFixed(1)}M parameters, ${fmt(mib(weightBytes), 0)} MiB fp32, generated in ${fmt(generated.ms / 1000, 1)} s`);

  // Graph build: the protobuf bytes alone, then the whole open (graph + session, weights are inputs).
  const graphBytes = await timed(async () => buildBackpackGraph(CONFIG));
  const model = await inMemoryBackpack(CONFIG, tensors);
  const opened = await timed(() => BackpackModel.open(model));
  const backpack = opened.value;
  console.log(`graph: ${graphBytes.value.byteLength} bytes built in ${fmt(graphBytes.ms)} ms; BackpackModel.open (graph + ONNX Runtime session) ${fmt(opened.ms)} ms`);

  // Forward of 64 tokens
  const ids = Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % 2000);
  await backpack.forward([ids]);
  const forwardMs: number[] = [];
  for (let r = 0; r < (quick ? 5 : 9); r++) forwardMs.push((await timed(() => backpack.forward([ids]))).ms);
  const weights: BackpackWeights = { config: CONFIG, tensors };
  const referenceMs: number[] = [];
  for (let r = 0; r < (quick ? 2 : 1); r++) referenceMs.push((await timed(async () => referenceBackpackForward(weights, ids))).ms);

  // One word's senses
  await senseTopWords(backpack, 1234, 20);
  const sensesMs: number[] = [];
  for (let r = 0; r < (quick ? 5 : 11); r++) sensesMs.push((await timed(() => senseTopWords(backpack, 100 + r * 37, 20))).ms);

  // Sense finetuning: 5 canonical examples, 10 senses (two of each example's subject word: exactly 10, where the
  // α-importance selection would pick however many distinct pairs the examples share), 10 epochs, the general text
  // capped at one 64-token batch.
  const subjects = ['ĠFrance', 'ĠGermany', 'ĠJapan', 'Ġking', 'Ġnurse'].map((word) => backpack.tokenizer.tokenToId(word)!);
  const finetuneRun = await timed(() =>
    finetuneSenses(backpack, {
      examples: parseCanonicalExamples(FINETUNE_EXAMPLES, 'bench examples'),
      generalText: GENERAL_TEXT,
      senses: subjects.flatMap((tokenId) => [0, 1].map((sense) => ({ tokenId, sense }))),
      epochs: 10,
      generalBatchTokens: 64,
      maxGeneralTokens: 64,
      apply: false,
    }),
  );
  const report = finetuneRun.value;
  const finetune = { ms: finetuneRun.ms, epochs: report.epochs.length, senses: report.pairs.length, steps: report.steps, prepareMs: report.timings.prepareMs, trainMs: report.timings.trainMs };

  const peak = peakRssBytes();
  const forward = summarise(forwardMs);
  const autogradStepMs = 3 * forward.median; // forward + backward ≈ 3 forward passes
  // Autograd finetuning would run a forward and a backward pass (≈ 3 forward passes) over the example and over the
  // general batch at every step; both are ≤ 64 tokens, so each is costed as one 64-token forward.
  const autogradRunMs = autogradStepMs * 2 * finetune.steps;
  const rows: (string | number)[][] = [
    ['build graph bytes', `${fmt(graphBytes.ms)} ms`, ''],
    ['open: graph + ONNX Runtime session', `${fmt(opened.ms)} ms`, ''],
    ['forward, 64 tokens (ONNX Runtime)', `${fmt(forward.median)} ms (p95 ${fmt(forward.p95)})`, '1.00×'],
    ['forward, 64 tokens (TypeScript reference)', `${fmt(median(referenceMs))} ms`, `${fmt(median(referenceMs) / forward.median, 1)}× slower`],
    ["one word's 16 senses, top/bottom 20", `${fmt(median(sensesMs))} ms (p95 ${fmt(summarise(sensesMs).p95)})`, `target ≤ 300 ms`],
    [`sense finetuning (${finetune.senses} senses, ${finetune.epochs} epochs, 5 examples, 64 general tokens)`, `${fmt(finetune.ms / 1000, 1)} s (prepare ${fmt(finetune.prepareMs / 1000, 1)} s, train ${fmt(finetune.trainMs / 1000, 1)} s)`, 'target ≤ 120 s'],
    [`autograd finetuning estimate (${finetune.steps} steps × 2 passes × 3 forwards)`, `${fmt(autogradRunMs / 1000, 1)} s`, `${fmt(autogradRunMs / finetune.ms, 1)}× ours`],
    ['peak RSS', `${fmt(mib(peak), 0)} MiB`, `${fmt(peak / weightBytes, 2)}× fp32 weights (target ≤ 2.5×)`],
  ];
  printTable(['measure', 'time', 'ratio'], rows);
  const file = writeResults(quick ? 'backpack-quick' : 'backpack', {
    shape: CONFIG,
    parameters: weightBytes / 4,
    weightMiB: mib(weightBytes),
    buildGraphMs: graphBytes.ms,
    openMs: opened.ms,
    forward64: forward,
    referenceForward64Ms: median(referenceMs),
    referenceVsOnnx: median(referenceMs) / forward.median,
    wordSenses: summarise(sensesMs),
    finetune: { ...finetune, autogradEstimateMs: autogradRunMs, autogradVsOurs: autogradRunMs / finetune.ms },
    peakRssMiB: mib(peak),
    baselineRssMiB: mib(baselineRss),
    peakVsWeights: peak / weightBytes,
  });
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  await backpack.release();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
