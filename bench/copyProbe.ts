// Copy-probe benchmark on the fixture models: the full grid k = 2…12 × shots 0…4 (8 prompts per cell) on the demo
// Backpack and on the GPT-2 in ONNX that transformers.js runs, against a bare loop making the same number of
// next-token calls on prompts of the same lengths (the models' own cost), in the same run. The ratio is the probe's
// overhead: prompt building, tokenizing and bookkeeping.
//
// Run: node --import tsx bench/copyProbe.ts      Writes bench/results/copy-probe.json.
import { openCausalLanguageModel, type CausalLanguageModel } from '../server/features/probes/causalLanguageModel';
import { runCopyProbe } from '../server/features/probes/copyProbe';
import { ModelRegistry } from '../server/registry/registry';
import { buildDemoBackpack } from '../test/fixtures/buildBackpack';
import { DEFAULT_DEMO_DIR } from '../test/fixtures/buildCheckpoints';
import { buildDemoOnnxLanguageModel } from '../test/fixtures/buildOnnxLanguageModel';
import { fmt, median, printTable, writeResults } from './stats';

const REPEATS = 3;
const OPTIONS = { ks: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], shots: [0, 1, 2, 3, 4], queries: 8 };

async function measure(name: string, lm: CausalLanguageModel) {
  const lengths: number[] = [];
  const recording: CausalLanguageModel = {
    tokenizer: lm.tokenizer,
    nextTokenLogits: (ids) => {
      lengths.push(ids.length);
      return lm.nextTokenLogits(ids);
    },
  };
  const probeMs: number[] = [];
  const bareMs: number[] = [];
  let cells = 0;
  let meanExact = 0;
  for (let r = 0; r < REPEATS; r++) {
    lengths.length = 0;
    const start = performance.now();
    const result = await runCopyProbe(recording, OPTIONS);
    probeMs.push(performance.now() - start);
    cells = result.cells.length;
    meanExact = result.cells.reduce((sum, cell) => sum + cell.exactMatch, 0) / cells;
    // The bare peer: the same calls (same prompt lengths), argmax only, nothing else.
    const prompt = Array.from({ length: Math.max(...lengths) }, (_, i) => (i * 37 + 11) % 1000);
    const bareStart = performance.now();
    for (const length of lengths) {
      const logits = await lm.nextTokenLogits(prompt.slice(0, length));
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    }
    bareMs.push(performance.now() - bareStart);
  }
  return { name, cells, calls: lengths.length, meanPromptTokens: lengths.reduce((a, b) => a + b, 0) / lengths.length, probeMs: median(probeMs), bareMs: median(bareMs), overhead: median(probeMs) / median(bareMs), meanExactMatch: meanExact };
}

async function main(): Promise<void> {
  const registry = new ModelRegistry();
  const backpack = await openCausalLanguageModel(await registry.open((await buildDemoBackpack(DEFAULT_DEMO_DIR)).folder));
  const onnx = await openCausalLanguageModel(await registry.open((await buildDemoOnnxLanguageModel(DEFAULT_DEMO_DIR)).folder));
  const rows = [await measure('tiny-backpack (Backpack, ONNX graph built in code)', backpack), await measure('tiny-gpt2-onnx (transformers.js)', onnx)];
  printTable(
    ['model', 'cells', 'next-token calls', 'mean prompt tokens', 'probe', 'bare calls', 'probe ÷ bare'],
    rows.map((r) => [r.name, r.cells, r.calls, fmt(r.meanPromptTokens, 1), `${fmt(r.probeMs / 1000, 2)} s`, `${fmt(r.bareMs / 1000, 2)} s`, `${fmt(r.overhead, 2)}×`]),
  );
  const file = writeResults('copy-probe', { grid: OPTIONS, repeats: REPEATS, models: rows });
  console.log(`wrote ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
