/**
 * Opening a checkpoint must cost the same at 10 MB and at 10 GB, because only headers, config and tokenizer are read.
 * Synthetic Hugging Face folders of growing size are made with sparse files (a real header, then the file extended
 * to full size), opened in a fresh process each time, and timed with peak memory. The naive baseline reads the
 * whole weight file, as a loader without lazy reads would (skipped above 2 GB: it would need that much memory).
 *
 * Run: node --import tsx bench/openCheckpoint.ts
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fmt, printTable, summarise, writeResults } from './stats';

const SIZES_GB = [0.01, 0.1, 1, 10];
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const HIDDEN = 4096;
const LAYERS = 32;

/** A Llama-like folder whose weights add up to about `gigabytes`, written as one sparse safetensors file. */
function makeCheckpoint(dir: string, gigabytes: number): string {
  const folder = path.join(dir, `ckpt-${gigabytes}gb`);
  fs.mkdirSync(folder, { recursive: true });
  const totalBytes = Math.round(gigabytes * 1024 ** 3);
  // An embedding, a head and per-layer square matrices share the bytes; the vocabulary absorbs the rest.
  const perLayer = Math.floor(totalBytes / 4 / (LAYERS + 2) / HIDDEN / HIDDEN) || 0;
  const tensors: { name: string; dtype: string; shape: number[] }[] = [];
  let used = 0;
  for (let layer = 0; layer < LAYERS && perLayer > 0; layer++) {
    tensors.push({ name: `model.layers.${layer}.mlp.down_proj.weight`, dtype: 'F32', shape: [HIDDEN * perLayer, HIDDEN] });
    used += HIDDEN * perLayer * HIDDEN * 4;
  }
  const vocab = Math.max(1, Math.floor((totalBytes - used) / 2 / HIDDEN / 4));
  tensors.push({ name: 'model.embed_tokens.weight', dtype: 'F32', shape: [vocab, HIDDEN] });
  tensors.push({ name: 'lm_head.weight', dtype: 'F32', shape: [vocab, HIDDEN] });
  // The header as the format defines it: 8-byte little-endian length, JSON padded to 8 bytes, then the data.
  const entries: Record<string, unknown> = {};
  let offset = 0;
  for (const tensor of tensors) {
    const bytes = tensor.shape[0] * tensor.shape[1] * 4;
    entries[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(entries);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(folder, 'model.safetensors');
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, Buffer.concat([length, Buffer.from(json)]));
  fs.ftruncateSync(fd, 8 + json.length + offset); // sparse: the weights take no disk space
  fs.closeSync(fd);
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ model_type: 'llama', vocab_size: vocab, hidden_size: HIDDEN }));
  return folder;
}

/** In the child: load the code first, then time only the open (or the whole-file read) and its memory growth. */
const CHILD = String.raw`
const run = async () => {
  const [mode, target] = process.argv.slice(1);
  const { ModelRegistry } = require(process.env.REGISTRY);
  const rssBefore = process.memoryUsage().rss;
  const started = process.hrtime.bigint();
  if (mode === 'open') {
    const model = await new ModelRegistry().open(target);
    if (!model.embeddings.input) throw new Error('no embedding found');
  } else {
    const buffer = require('fs').readFileSync(require('path').join(target, 'model.safetensors'));
    if (buffer.length === 0) throw new Error('empty');
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const growthMb = Math.max(0, process.resourceUsage().maxRSS * 1024 - rssBefore) / 1024 / 1024;
  process.stdout.write(JSON.stringify({ ms, growthMb }));
};
run().catch((error) => { console.error(error); process.exit(1); });
`;

function measure(mode: 'open' | 'read', folder: string) {
  const times: number[] = [];
  const memory: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const result = spawnSync(process.execPath, ['--import', 'tsx', '-e', CHILD, mode, folder], {
      encoding: 'utf8',
      env: { ...process.env, REGISTRY: path.join(__dirname, '../server/registry/registry.ts') },
      maxBuffer: 1 << 20,
    });
    if (result.status !== 0) throw new Error(`${mode} ${folder}: ${result.stderr.slice(-1500)}`);
    const { ms, growthMb } = JSON.parse(result.stdout);
    times.push(ms);
    memory.push(growthMb);
  }
  return { time: summarise(times), memoryGrowthMb: summarise(memory) };
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-open-bench-'));
try {
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  for (const gigabytes of SIZES_GB) {
    const folder = makeCheckpoint(scratch, gigabytes);
    const open = measure('open', folder);
    const naive = gigabytes <= 2 ? measure('read', folder) : undefined;
    rows.push([
      `${gigabytes} GB`,
      fmt(open.time.median, 0),
      fmt(open.memoryGrowthMb.median, 1),
      naive ? fmt(naive.time.median, 0) : 'skipped',
      naive ? fmt(naive.memoryGrowthMb.median, 0) : '–',
      naive ? fmt(naive.time.median / open.time.median, 1) : '–',
    ]);
    results.push({ gigabytes, open, naiveReadWholeFile: naive ?? null });
    fs.rmSync(folder, { recursive: true, force: true });
  }
  printTable(['checkpoint', 'open median ms', 'open memory MB', 'read-all median ms', 'read-all memory MB', 'read-all / open'], rows);
  const first = (results[0].open as { time: { median: number } }).time.median;
  const last = (results.at(-1)!.open as { time: { median: number } }).time.median;
  console.log(`\nopen time at ${SIZES_GB.at(-1)} GB is ${fmt(last / first, 2)}× the time at ${SIZES_GB[0]} GB (flat means ≈ 1)`);
  console.log(`wrote ${writeResults('open-checkpoint', { runs: RUNS, note: 'time and peak-RSS growth of the open alone, after the code is loaded', results })}`);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
