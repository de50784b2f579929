// kNN benchmark: exact single-query latency and 64-query batch throughput of the kernels (ONNX Runtime, and the
// WebAssembly half kernel for single f16 queries; in process and through the worker pool the server uses), against
// peers measured in the same run:
// - the naive JS loop (`searchNearestNaive`), on a subsample of queries when the full run would take too long;
// - the memory-bandwidth floor: matrix bytes ÷ the copy bandwidth of this machine (a large TypedArray.set).
// The default pool splits a single query across one worker per core; the engine "single queries unsplit" (the same
// pool with each query on one worker) shows what that split buys, and for f16 matrices "ONNX Runtime only" (the same
// pool without the half kernel) what scanning in place buys. Engines take turns query by query.
// It also measures the server's event-loop responsiveness (setTimeout(0) lag and a tiny synchronous task) while the
// pool runs a 64-query batch, against the same measures when idle.
//
// Run: node --import tsx bench/knn.ts [--quick] [--storage f32|f16] [--busy N]      Writes bench/results/knn.json.
// --quick shrinks the big matrices (for a smoke run); the figures worth reporting come from the full run.
// --storage runs only the cases of that storage, and --busy N runs N background processes that copy and add large
// arrays throughout (the load of other work on a shared machine); either writes knn-<storage>-busy<N>.json instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EmbeddingMatrix, type EmbeddingStorage } from '../server/kernels/embeddingMatrix';
import { configureKnnKernels, searchNearest, searchNearestNaive, type KnnMetric, type KnnResult } from '../server/kernels/knn';
import { KnnPool } from '../server/kernels/knnPool';
import { float32ToFloat16Bits } from '../server/loaders/safetensors';

const quick = process.argv.includes('--quick');
const argument = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const onlyStorage = argument('--storage') as EmbeddingStorage | undefined;
const busyProcesses = Number(argument('--busy') ?? 0);

/** Starts `count` processes that stream and add 64 MiB arrays until killed: memory and vector load, like a test run. */
function startBackgroundLoad(count: number): ChildProcess[] {
  const loop = 'const a=new Float32Array(1<<24),b=new Float32Array(1<<24);for(;;){b.set(a);for(let i=0;i<a.length;i+=7)a[i]+=b[i]*0.5;}';
  return Array.from({ length: count }, () => spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
}
const BATCH = 64;
const K = 10;
const METRIC: KnnMetric = 'cosine';

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

const median = (samples: readonly number[]) => quantile(samples, 0.5);
const p95 = (samples: readonly number[]) => quantile(samples, 0.95);
const round = (value: number, digits = 2) => Number(value.toFixed(digits));
const gib = (bytes: number) => bytes / 2 ** 30;

/** Collects garbage between cases, so a finished case's matrix is gone before the next one is built. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

async function timeIt(run: () => unknown): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/**
 * The memory-bandwidth floor: the time to stream `bytes` at the copy bandwidth of this machine, from one large
 * TypedArray.set over buffers far bigger than the caches. Sampled right before every timed search, so each search
 * is compared with the bandwidth of the same moment (this machine is shared; its load drifts).
 */
class FloorMeter {
  private readonly source: Float32Array;
  private readonly target: Float32Array;
  readonly samplesGBps: number[] = [];

  constructor(private readonly bytes = 128 << 20) {
    this.source = new Float32Array(bytes / 4).fill(1); // touched: no page faults inside the timing
    this.target = new Float32Array(bytes / 4).fill(2);
    for (let i = 0; i < 3; i++) this.target.set(this.source);
  }

  /** Milliseconds to stream `bytes` at the bandwidth measured now. */
  sample(bytes: number): number {
    const start = performance.now();
    this.target.set(this.source);
    const bytesPerMs = this.bytes / (performance.now() - start);
    this.samplesGBps.push(bytesPerMs / 1e6);
    return bytes / bytesPerMs;
  }
}

/**
 * A synthetic [rows, dim] matrix, filled fast: each row is a window of a 1M-value random pool at a random offset,
 * written a block at a time (the only full-size buffer is the matrix itself).
 */
function syntheticMatrix(rows: number, dim: number, storage: EmbeddingStorage, seed: number): EmbeddingMatrix {
  const random = seededRandom(seed);
  const poolSize = 1 << 20;
  const pool = new Float32Array(poolSize);
  for (let i = 0; i < poolSize; i++) pool[i] = random() + random() + random() - 1.5;
  const matrix = EmbeddingMatrix.allocate(rows, dim, storage);
  const blockRows = Math.max(1, Math.floor((4 << 20) / (dim * 4)));
  if (storage === 'f16') {
    const halfPool = Uint16Array.from(pool, (v) => float32ToFloat16Bits(v));
    const block = new Uint16Array(blockRows * dim);
    for (let row = 0; row < rows; row += blockRows) {
      const count = Math.min(blockRows, rows - row);
      for (let r = 0; r < count; r++) {
        const offset = Math.floor(random() * (poolSize - dim));
        block.set(halfPool.subarray(offset, offset + dim), r * dim);
      }
      matrix.setRowsFloat16Bits(row, block.subarray(0, count * dim));
    }
  } else {
    const block = new Float32Array(blockRows * dim);
    for (let row = 0; row < rows; row += blockRows) {
      const count = Math.min(blockRows, rows - row);
      for (let r = 0; r < count; r++) {
        const offset = Math.floor(random() * (poolSize - dim));
        block.set(pool.subarray(offset, offset + dim), r * dim);
      }
      matrix.setRows(row, block.subarray(0, count * dim));
    }
  }
  return matrix;
}

function randomQueries(count: number, dim: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count * dim }, () => random() + random() + random() - 1.5);
}

function sameIds(a: KnnResult[], b: KnnResult[]): boolean {
  return a.length === b.length && a.every((result, q) => result.ids.join() === b[q].ids.join());
}

// ---------------------------------------------------------------------------------------------------------------
// One matrix

interface EngineFigures {
  engine: string;
  singleMedianMs: number;
  singleP95Ms: number;
  singleSamples: number;
  /** Median over the single queries of (query time ÷ floor sampled just before it). */
  singleVsFloor: number;
  batchMedianMs: number;
  batchQueriesPerS: number;
  /** Median over the batches of (batch time ÷ 64 ÷ floor sampled just before it). */
  batchPerQueryVsFloor: number;
}

interface CaseFigures {
  name: string;
  rows: number;
  dim: number;
  storage: EmbeddingStorage;
  matrixGiB: number;
  buildMs: number;
  /** Resident memory of the whole process (workers included) once the matrix is built. */
  rssGiB: number;
  copyGBps: number;
  floorMs: number;
  floorP95Ms: number;
  engines: EngineFigures[];
  naive: { singleMedianMs: number; singleSamples: number; singleVsFloor: number; batchMs: number; batchMeasuredQueries: number; batchScaled: boolean };
  speedupVsNaive: { single: number; batch: number };
  exactAgainstNaive: boolean;
}

async function benchCase(
  name: string,
  rows: number,
  dim: number,
  storage: EmbeddingStorage,
  plan: { singles: number; batches: number; naiveSingles: number; naiveBatchQueries: number },
  pools: { label: string; pool: KnnPool }[],
  alsoMeasure?: (matrix: EmbeddingMatrix) => Promise<void>,
): Promise<CaseFigures> {
  console.log(`\n${name}: ${rows} × ${dim} ${storage} (${gib(rows * dim * (storage === 'f16' ? 2 : 4)).toFixed(2)} GiB)`);
  const buildStart = performance.now();
  let matrix: EmbeddingMatrix | undefined = syntheticMatrix(rows, dim, storage, rows ^ dim);
  const buildMs = performance.now() - buildStart;
  const rssGiB = gib(process.memoryUsage().rss);
  console.log(`  built in ${(buildMs / 1000).toFixed(1)} s; process rss ${rssGiB.toFixed(2)} GiB (matrix ${gib(matrix.byteLength).toFixed(2)} GiB)`);

  const singles = randomQueries(plan.singles + 2, dim, 11);
  const batch = randomQueries(BATCH, dim, 12);
  const query = (i: number) => singles.subarray(i * dim, (i + 1) * dim);
  const options = { k: K, metric: METRIC };

  const engines: { label: string; search: (q: Float32Array) => Promise<KnnResult[]> }[] = [
    { label: storage === 'f16' ? 'in process, 1 thread (half kernel or ORT)' : 'ORT in process, 1 thread', search: (q) => searchNearest(matrix!, q, options) },
    ...pools.map(({ label, pool }) => ({ label, search: (q: Float32Array) => pool.search(matrix!, q, options) })),
  ];

  const floor = new FloorMeter();
  const bytes = matrix.data.byteLength;
  const floors: number[] = [];
  /** Runs `search` right after a floor sample; returns [ms, ms ÷ floor]. */
  const paired = async (search: () => unknown, queriesPerRun = 1): Promise<[number, number]> => {
    const floorMs = floor.sample(bytes);
    floors.push(floorMs);
    const ms = await timeIt(search);
    return [ms, ms / queriesPerRun / floorMs];
  };

  // Two warm-up queries per engine (sessions, worker start, scratch pages), then the timed ones. The engines take
  // turns query by query (and batch by batch), so each sees the same drift in this shared machine's load.
  let firstAnswers: KnnResult[] | undefined;
  for (const engine of engines) {
    const warm = await engine.search(query(0));
    await engine.search(query(1));
    firstAnswers ??= warm;
  }
  const samples = engines.map(() => ({ times: [] as number[], ratios: [] as number[], batchTimes: [] as number[], batchRatios: [] as number[] }));
  for (let i = 0; i < plan.singles; i++) {
    for (const [e, engine] of engines.entries()) {
      const [ms, ratio] = await paired(() => engine.search(query(i + 2)));
      samples[e].times.push(ms);
      samples[e].ratios.push(ratio);
    }
  }
  for (let i = 0; i < plan.batches; i++) {
    for (const [e, engine] of engines.entries()) {
      const [ms, ratio] = await paired(() => engine.search(batch), BATCH);
      samples[e].batchTimes.push(ms);
      samples[e].batchRatios.push(ratio);
    }
  }
  const figures: EngineFigures[] = engines.map((engine, e) => {
    const { times, ratios, batchTimes, batchRatios } = samples[e];
    const f: EngineFigures = {
      engine: engine.label,
      singleMedianMs: round(median(times)),
      singleP95Ms: round(p95(times)),
      singleSamples: times.length,
      singleVsFloor: round(median(ratios)),
      batchMedianMs: round(median(batchTimes)),
      batchQueriesPerS: round((BATCH * 1000) / median(batchTimes), 1),
      batchPerQueryVsFloor: round(median(batchRatios), 3),
    };
    console.log(
      `  ${f.engine.padEnd(28)} single median ${f.singleMedianMs} ms, p95 ${f.singleP95Ms} ms (${f.singleVsFloor}× floor); ` +
        `batch of ${BATCH}: ${f.batchMedianMs} ms (${f.batchQueriesPerS} queries/s, ${f.batchPerQueryVsFloor}× floor per query)`,
    );
    return f;
  });

  // The naive JS loop: single queries on a few samples; the batch (which it runs one query at a time) on a subsample
  // of queries, scaled to 64 when it would take too long.
  const naiveTimes: number[] = [];
  const naiveRatios: number[] = [];
  let naiveFirst: KnnResult[] | undefined;
  for (let i = 0; i < plan.naiveSingles; i++) {
    const [ms, ratio] = await paired(() => (naiveFirst = searchNearestNaive(matrix!, query(0), options)));
    naiveTimes.push(ms);
    naiveRatios.push(ratio);
  }
  const naiveBatchQueries = Math.min(BATCH, plan.naiveBatchQueries);
  const naiveBatchStart = performance.now();
  searchNearestNaive(matrix, batch.subarray(0, naiveBatchQueries * dim), options);
  const naiveBatchMs = ((performance.now() - naiveBatchStart) * BATCH) / naiveBatchQueries;
  const naive = {
    singleMedianMs: round(median(naiveTimes)),
    singleSamples: naiveTimes.length,
    singleVsFloor: round(median(naiveRatios)),
    batchMs: round(naiveBatchMs),
    batchMeasuredQueries: naiveBatchQueries,
    batchScaled: naiveBatchQueries < BATCH,
  };
  console.log(
    `  ${'naive JS loop'.padEnd(28)} single median ${naive.singleMedianMs} ms (${naive.singleSamples} runs, ${naive.singleVsFloor}× floor); batch of ${BATCH}: ` +
      `${naive.batchMs} ms${naive.batchScaled ? ` (measured on ${naiveBatchQueries} queries, scaled ×${BATCH / naiveBatchQueries})` : ''}`,
  );
  console.log(`  floor: median ${median(floors).toFixed(1)} ms, p95 ${p95(floors).toFixed(1)} ms over ${floors.length} samples (copy ${median(floor.samplesGBps).toFixed(2)} GB/s)`);

  const best = figures.reduce((a, b) => (b.singleMedianMs < a.singleMedianMs ? b : a));
  const bestBatch = figures.reduce((a, b) => (b.batchMedianMs < a.batchMedianMs ? b : a));
  const result: CaseFigures = {
    name,
    rows,
    dim,
    storage,
    matrixGiB: round(gib(matrix.data.byteLength), 3),
    buildMs: round(buildMs, 0),
    rssGiB: round(rssGiB),
    copyGBps: round(median(floor.samplesGBps)),
    floorMs: round(median(floors)),
    floorP95Ms: round(p95(floors)),
    engines: figures,
    naive,
    speedupVsNaive: { single: round(naive.singleMedianMs / best.singleMedianMs, 1), batch: round(naive.batchMs / bestBatch.batchMedianMs, 1) },
    exactAgainstNaive: sameIds(firstAnswers!, naiveFirst!),
  };
  await alsoMeasure?.(matrix);
  for (const { pool } of pools) pool.release(matrix);
  matrix = undefined;
  await new Promise((resolve) => setTimeout(resolve, 100)); // the workers drop their references
  collectGarbage();
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Event-loop responsiveness

interface Responsiveness {
  timerLagMedianMs: number;
  timerLagP95Ms: number;
  tinyTaskMedianMs: number;
  tinyTaskP95Ms: number;
  samples: number;
}

/** A hover-sized synchronous task: a 4096-wide dot product, 64 times. */
function tinyTask(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let r = 0; r < 64; r++) for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}

interface ResponsivenessSamples {
  lags: number[];
  tasks: number[];
}

/** Adds setTimeout(0) lags and tiny-task durations to `into` until `until` settles (or `count` samples when idle). */
async function sampleResponsiveness(into: ResponsivenessSamples, until: Promise<unknown> | undefined, count = 150): Promise<void> {
  const a = randomQueries(1, 4096, 1);
  const b = randomQueries(1, 4096, 2);
  let done = false;
  void until?.then(
    () => (done = true),
    () => (done = true),
  );
  for (let n = 0; until ? !done : n < count; n++) {
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 0));
    into.lags.push(performance.now() - start);
    const taskStart = performance.now();
    tinyTask(a, b);
    into.tasks.push(performance.now() - taskStart);
  }
}

function summarise({ lags, tasks }: ResponsivenessSamples): Responsiveness {
  return {
    timerLagMedianMs: round(median(lags), 3),
    timerLagP95Ms: round(p95(lags), 3),
    tinyTaskMedianMs: round(median(tasks), 3),
    tinyTaskP95Ms: round(p95(tasks), 3),
    samples: lags.length,
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  configureKnnKernels({ intraOpThreads: 1 });
  // What the server starts: batches on one worker per core but one; a single query split across one per core.
  const defaultPool = new KnnPool();
  const twoWorkers = new KnnPool({ workers: 2 });
  const plural = (n: number) => `${n} worker${n > 1 ? 's' : ''}`;
  const defaultLabel =
    defaultPool.latencyWorkerCount === defaultPool.workerCount
      ? `pool, ${plural(defaultPool.workerCount)} (default)`
      : `pool, ${plural(defaultPool.workerCount)}, ${defaultPool.latencyWorkerCount} for single queries (default)`;
  const pools = [
    { label: defaultLabel, pool: defaultPool },
    ...(defaultPool.workerCount === 2 ? [] : [{ label: 'pool, 2 workers', pool: twoWorkers }]),
  ];
  // A peer for the single-query split: the default pool's batch workers alone, each query on one worker.
  const unsplitPool = new KnnPool({ latencyWorkers: defaultPool.workerCount });
  const engines = [
    ...pools,
    ...(defaultPool.latencyWorkerCount > defaultPool.workerCount ? [{ label: `pool, ${plural(defaultPool.workerCount)}, single queries unsplit`, pool: unsplitPool }] : []),
  ];
  // A peer for the half kernel: the default pool with every f16 search in ONNX Runtime (copy, cast, multiply).
  const ortOnlyPool = new KnnPool({ kernels: { halfKernel: false } });
  const f16Engines = [...engines, { label: `${defaultLabel.replace(' (default)', '')}, ONNX Runtime only (no half kernel)`, pool: ortOnlyPool }];
  const background = startBackgroundLoad(busyProcesses);
  if (busyProcesses > 0) await new Promise((resolve) => setTimeout(resolve, 5000));
  const started = new Date().toISOString();
  const load = os.loadavg();
  console.log(`kNN benchmark: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  console.log(`load average at start: ${load.map((l) => l.toFixed(2)).join(' ')}${quick ? ' (--quick: small matrices)' : ''}${busyProcesses ? `; ${busyProcesses} background load processes` : ''}`);
  console.log(`k = ${K}, metric ${METRIC}, batch ${BATCH}; the floor is the time to stream the matrix once at copy bandwidth`);

  const big = quick ? { rows: 8192, dim: 4096, name: '8k × 4096 (quick)' } : { rows: 131072, dim: 4096, name: '128k × 4096' };
  const glove = quick ? { rows: 34148, dim: 100, name: '34k × 100 (quick)' } : { rows: 341479, dim: 100, name: 'GloVe-sized 341k × 100' };
  const cases: CaseFigures[] = [];
  let responsiveness: { idle: Responsiveness; busy: Record<string, Responsiveness & { batchMs: number }>; busyOverIdle: Record<string, Record<string, number>> } | undefined;

  // Responsiveness on the biggest matrix: the server's thread while a pool runs a 64-query batch, against idle.
  // Idle and busy rounds alternate, so both see the same background load on this shared machine.
  const measureResponsiveness = async (matrix: EmbeddingMatrix) => {
    const batch = randomQueries(BATCH, matrix.dim, 13);
    const idleSamples: ResponsivenessSamples = { lags: [], tasks: [] };
    const busySamples = new Map(pools.map(({ label }) => [label, { lags: [], tasks: [], batchMs: [] as number[] }]));
    for (let round = 0; round < 3; round++) {
      for (const { label, pool } of pools) {
        await sampleResponsiveness(idleSamples, undefined);
        const samples = busySamples.get(label)!;
        const start = performance.now();
        await sampleResponsiveness(samples, pool.search(matrix, batch, { k: K, metric: METRIC }));
        samples.batchMs.push(performance.now() - start);
      }
    }
    const idle = summarise(idleSamples);
    console.log(`  server thread idle: setTimeout(0) lag median ${idle.timerLagMedianMs} ms, p95 ${idle.timerLagP95Ms} ms; tiny task median ${idle.tinyTaskMedianMs} ms, p95 ${idle.tinyTaskP95Ms} ms (${idle.samples} samples)`);
    const busy: Record<string, Responsiveness & { batchMs: number }> = {};
    for (const [label, samples] of busySamples) {
      const sampled = summarise(samples);
      busy[label] = { ...sampled, batchMs: round(median(samples.batchMs)) };
      console.log(
        `  while ${label} runs a batch of ${BATCH} (3 × ~${round(busy[label].batchMs / 1000, 1)} s): setTimeout(0) lag median ${sampled.timerLagMedianMs} ms, ` +
          `p95 ${sampled.timerLagP95Ms} ms; tiny task median ${sampled.tinyTaskMedianMs} ms, p95 ${sampled.tinyTaskP95Ms} ms (${sampled.samples} samples)`,
      );
    }
    const ratios = Object.fromEntries(
      Object.entries(busy).map(([label, b]) => [
        label,
        { timerLagMedian: round(b.timerLagMedianMs / idle.timerLagMedianMs), timerLagP95: round(b.timerLagP95Ms / idle.timerLagP95Ms), tinyTaskMedian: round(b.tinyTaskMedianMs / idle.tinyTaskMedianMs), tinyTaskP95: round(b.tinyTaskP95Ms / idle.tinyTaskP95Ms) },
      ]),
    );
    for (const [label, r] of Object.entries(ratios)) {
      const worst = Math.max(...Object.values(r));
      console.log(`  ${label}: busy ÷ idle = lag ${r.timerLagMedian}× (median), ${r.timerLagP95}× (p95); task ${r.tinyTaskMedian}×, ${r.tinyTaskP95}× → ${worst <= 2 ? 'within' : 'NOT within'} 2×`);
    }
    responsiveness = { idle, busy, busyOverIdle: ratios };
  };
  const runs: (() => Promise<CaseFigures>)[] = [
    () => benchCase(big.name, big.rows, big.dim, 'f32', { singles: 15, batches: 3, naiveSingles: 2, naiveBatchQueries: 2 }, engines, measureResponsiveness),
    () => benchCase(big.name, big.rows, big.dim, 'f16', { singles: 15, batches: 3, naiveSingles: 2, naiveBatchQueries: 2 }, f16Engines),
    () => benchCase(glove.name, glove.rows, glove.dim, 'f32', { singles: 30, batches: 5, naiveSingles: 5, naiveBatchQueries: BATCH }, engines),
    () => benchCase(glove.name, glove.rows, glove.dim, 'f16', { singles: 30, batches: 5, naiveSingles: 5, naiveBatchQueries: BATCH }, f16Engines),
  ];
  const storages: EmbeddingStorage[] = ['f32', 'f16', 'f32', 'f16'];
  try {
    for (const [i, run] of runs.entries()) if (!onlyStorage || storages[i] === onlyStorage) cases.push(await run());
  } finally {
    for (const child of background) child.kill();
  }

  await Promise.all([defaultPool.close(), twoWorkers.close(), unsplitPool.close(), ortOnlyPool.close()]);

  // Table
  console.log('\n| matrix | storage | engine | single median ms | single p95 ms | × floor | batch 64 ms | queries/s | × naive (single) |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const c of cases) {
    for (const e of c.engines) {
      console.log(
        `| ${c.name} | ${c.storage} | ${e.engine} | ${e.singleMedianMs} | ${e.singleP95Ms} | ${e.singleVsFloor} | ${e.batchMedianMs} | ${e.batchQueriesPerS} | ${round(c.naive.singleMedianMs / e.singleMedianMs, 1)} |`,
      );
    }
    console.log(`| ${c.name} | ${c.storage} | naive JS loop | ${c.naive.singleMedianMs} | | ${c.naive.singleVsFloor} | ${c.naive.batchMs}${c.naive.batchScaled ? '*' : ''} | ${round((BATCH * 1000) / c.naive.batchMs, 1)} | 1 |`);
    console.log(`| ${c.name} | ${c.storage} | floor (bytes ÷ ${c.copyGBps} GB/s) | ${c.floorMs} | | 1 | | | |`);
  }
  if (cases[0]) console.log(`* naive batch measured on ${cases[0].naive.batchMeasuredQueries} queries and scaled to ${BATCH}.`);

  const results = {
    benchmark: 'knn',
    started,
    quick,
    backgroundLoadProcesses: busyProcesses,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version, loadAverageAtStart: load.map((l) => round(l)), loadAverageAtEnd: os.loadavg().map((l) => round(l)) },
    settings: { k: K, metric: METRIC, batch: BATCH, floor: 'matrix bytes ÷ copy bandwidth of a 128 MiB Float32Array.set, sampled right before every timed search; × floor figures are medians of the paired ratios' },
    cases,
    responsiveness,
  };
  const partial = onlyStorage || busyProcesses ? `-${onlyStorage ?? 'all'}-busy${busyProcesses}` : '';
  const out = join(dirname(__filename), 'results', `knn${partial}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(`${out}.tmp`, out);
  console.log(`\nwrote ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
