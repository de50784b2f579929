// Batch-OMP against a plain OMP written here the way the reference works (every step correlates the residual with
// every atom, a Gram–Schmidt QR refit, float64), on seeded random dictionaries: same selections, same coefficients
// up to rounding, for both routes, raw and unit-normalised atoms, in the calling thread and in worker threads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelLensError } from '../../server/errors';
import { allocateOmpOutput, BatchOmpSolver, createGramCache, resolveOmpOptions, type BatchOmpOptions, type OmpOutput } from '../../server/kernels/batchOmp';
import { OmpKernels, OmpStepKernel } from '../../server/kernels/ompKernels';
import { batchOmp } from '../../server/kernels/ompPool';

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rows of roughly normal values with a per-row scale, so raw and unit atoms rank differently. */
function randomRows(rows: number, dim: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const scale = 0.3 + 1.7 * random();
    for (let d = 0; d < dim; d++) out[r * dim + d] = (random() + random() + random() - 1.5) * scale;
  }
  return out;
}

interface PlainResult {
  atoms: number[];
  coefficients: number[];
  residual: number;
}

/**
 * The reference algorithm, plainly: each step scores |⟨r, a_i⟩| (÷|a_i| for unit atoms) for every unused atom, takes
 * the best (lower index on ties), extends a QR factorisation of the selected atoms by modified Gram–Schmidt, solves
 * R c = Qᵀy and recomputes the residual. It stops at k atoms, or early under the same rules as the kernel: residual
 * ≤ tol·‖y‖, best correlation ≈ 0, or a best atom inside the span of the selected ones.
 */
function plainOmp(dictionary: Float32Array, n: number, dim: number, y: Float32Array, yOffset: number, k: number, normalize: boolean, tol = 1e-5): PlainResult {
  const atom = (i: number) => Array.from(dictionary.subarray(i * dim, (i + 1) * dim), Number);
  const target = Array.from(y.subarray(yOffset, yOffset + dim), Number);
  const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
  const norms = Array.from({ length: n }, (_, i) => Math.sqrt(dot(atom(i), atom(i))));
  const yNorm = Math.sqrt(dot(target, target));
  const selected: number[] = [];
  const q: number[][] = [];
  const r: number[][] = []; // r[j][i] = R[i][j] (column j)
  let residual = target.slice();
  let coefficients: number[] = [];
  if (yNorm === 0) return { atoms: [], coefficients: [], residual: 0 };
  while (selected.length < k) {
    let best = -1;
    let bestValue = -1;
    let bestAlpha = 0;
    for (let i = 0; i < n; i++) {
      if (selected.includes(i)) continue;
      const alpha = dot(residual, atom(i));
      const value = Math.abs(alpha) / (normalize ? norms[i] : 1);
      if (value > bestValue) {
        bestValue = value;
        best = i;
        bestAlpha = alpha;
      }
    }
    const rNorm = Math.sqrt(dot(residual, residual));
    if (best < 0 || !(Math.abs(bestAlpha) > 1e-6 * rNorm * norms[best])) break;
    // Modified Gram–Schmidt.
    let v = atom(best);
    const column: number[] = [];
    for (let j = 0; j < q.length; j++) {
      const p = dot(q[j], v);
      column.push(p);
      v = v.map((x, d) => x - p * q[j][d]);
    }
    const pivot = Math.sqrt(dot(v, v));
    if (!(pivot * pivot > 1e-6 * norms[best] * norms[best])) break;
    column.push(pivot);
    q.push(v.map((x) => x / pivot));
    r.push(column);
    selected.push(best);
    // Solve R c = Qᵀy by back substitution.
    const s = selected.length;
    const qty = q.map((row) => dot(row, target));
    coefficients = new Array(s).fill(0);
    for (let i = s - 1; i >= 0; i--) {
      let sum = qty[i];
      for (let j = i + 1; j < s; j++) sum -= r[j][i] * coefficients[j];
      coefficients[i] = sum / r[i][i];
    }
    residual = target.slice();
    selected.forEach((a, j) => {
      const row = atom(a);
      for (let d = 0; d < dim; d++) residual[d] -= coefficients[j] * row[d];
    });
    if (Math.sqrt(dot(residual, residual)) <= tol * yNorm) break;
  }
  return { atoms: selected, coefficients, residual: Math.sqrt(dot(residual, residual)) / yNorm };
}

let kernels: OmpKernels;
before(async () => {
  kernels = await OmpKernels.create({ intraOpThreads: 1 });
});
after(async () => {
  await kernels.release();
});

async function solveInThread(dictionary: Float32Array, n: number, dim: number, targets: Float32Array, count: number, options: BatchOmpOptions): Promise<OmpOutput> {
  const resolved = resolveOmpOptions(n, dim, options);
  const solver = new BatchOmpSolver(dictionary, n, dim, resolved, kernels, undefined, options.gramCacheBytes === 0 ? undefined : createGramCache(n, 1 << 20));
  const out = allocateOmpOutput(count, resolved.k);
  await solver.solve(targets, 0, count, out);
  return out;
}

/** Asserts the kernel's output equals the plain OMP's for every target: selections exactly, coefficients closely. */
function assertMatchesPlain(out: OmpOutput, dictionary: Float32Array, n: number, dim: number, targets: Float32Array, normalize: boolean): void {
  for (let t = 0; t < out.count; t++) {
    const plain = plainOmp(dictionary, n, dim, targets, t * dim, out.k, normalize);
    const size = out.sizes[t];
    const atoms = Array.from(out.atoms.subarray(t * out.k, t * out.k + size));
    assert.deepEqual(atoms, plain.atoms, `target ${t}: selections`);
    const scale = Math.max(...plain.coefficients.map(Math.abs), 1e-12);
    for (let j = 0; j < size; j++) {
      const c = out.coefficients[t * out.k + j];
      assert.ok(Math.abs(c - plain.coefficients[j]) <= 2e-4 * scale, `target ${t}, atom ${j}: coefficient ${c} vs ${plain.coefficients[j]}`);
    }
    assert.ok(Math.abs(out.relativeResiduals[t] - plain.residual) <= 1e-4, `target ${t}: residual ${out.relativeResiduals[t]} vs ${plain.residual}`);
  }
}

describe('Batch-OMP equals plain OMP', () => {
  const n = 240;
  const dim = 40;
  const count = 24;
  const dictionary = randomRows(n, dim, 11);
  const targets = randomRows(count, dim, 12);

  for (const route of ['gram', 'residual'] as const) {
    for (const normalizeAtoms of [false, true]) {
      test(`route ${route}, ${normalizeAtoms ? 'unit' : 'raw'} atoms, k = 12`, async () => {
        const out = await solveInThread(dictionary, n, dim, targets, count, { k: 12, route, normalizeAtoms, blockSize: 7 });
        assertMatchesPlain(out, dictionary, n, dim, targets, normalizeAtoms);
        for (let t = 0; t < count; t++) assert.equal(out.sizes[t], 12);
      });
    }
  }

  test('a block that spans several panels and a cache smaller than the atoms used', async () => {
    const options = resolveOmpOptions(n, dim, { k: 10, route: 'gram', blockSize: 5 });
    const cache = createGramCache(n, 30 * n * 4); // 30 columns only
    const solver = new BatchOmpSolver(dictionary, n, dim, options, kernels, undefined, cache);
    const out = allocateOmpOutput(count, 10);
    await solver.solve(targets, 0, count, out);
    assertMatchesPlain(out, dictionary, n, dim, targets, false);
    assert.equal(Atomics.load(cache.counter, 0) >= 30, true, 'the cache filled up');
    assert.ok(solver.stats.gramColumnHits > 0, 'some columns came from the cache');
  });
});

describe('the fused WebAssembly step', () => {
  // n = 2,503: two full 1,024-atom tiles, a short one, and 3 atoms past the last multiple of 4 (the scalar tail).
  const n = 2503;
  const k = 11;
  const random = seededRandom(5);
  const step = OmpStepKernel.create(k * n + 3 * n + k);
  assert.ok(step, 'WebAssembly SIMD is available');
  const panel = step.allocate(k * n);
  const alpha0 = step.allocate(n);
  const gamma = step.allocate(k);
  const scale = step.allocate(n);
  const ones = step.allocate(n).fill(1);
  for (let i = 0; i < panel.length; i++) panel[i] = random() - 0.5;
  for (let i = 0; i < n; i++) {
    alpha0[i] = 4 * (random() - 0.5);
    scale[i] = 0.5 + random();
  }
  for (let j = 0; j < k; j++) gamma[j] = random() - 0.5;

  /** The same step in float64, with every atom's score, to see how close the runner-up is. */
  function reference(s: number, scaled: boolean): Float64Array {
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let alpha = alpha0[i];
      for (let j = 0; j < s; j++) alpha -= gamma[j] * panel[j * n + i];
      values[i] = Math.abs(alpha) * (scaled ? scale[i] : 1);
    }
    return values;
  }

  for (const s of [0, 1, 3, 4, 7, 11]) {
    for (const scaled of [false, true]) {
      test(`s = ${s}, ${scaled ? 'scaled' : 'raw'}: the best atom and score of α⁰ − γ·P, as ONNX Runtime finds them`, async () => {
        const got = step.updateAndRank(gamma, s, panel.subarray(0, s * n), alpha0, scaled ? scale : ones);
        const values = reference(s, scaled);
        const best = values.reduce((b, v, i) => (v > values[b] ? i : b), 0);
        assert.equal(got.index, best);
        assert.ok(Math.abs(got.value - values[best]) <= 1e-5 * values[best], `${got.value} vs ${values[best]}`);
        if (s > 0) {
          const ort = await kernels.updateAndRank(gamma.slice(0, s), panel.slice(0, s * n), alpha0.slice(), scaled ? scale.slice() : undefined);
          assert.equal(got.index, ort.index);
        }
      });
    }
  }

  test('ties go to the lower index, in the vector part and in the scalar tail', () => {
    const tie = step.allocate(n);
    tie.fill(1);
    tie[n - 1] = -3; // |α| = 3 at the last atom (tail) …
    tie[2] = 3; // … and at atom 2 (lane 2 of the first vector): atom 2 wins
    tie[1029] = -3; // and again in the second tile
    assert.deepEqual(step.updateAndRank(gamma, 0, panel.subarray(0, 0), tie, ones), { value: 3, index: 2 });
    tie[2] = 1;
    assert.deepEqual(step.updateAndRank(gamma, 0, panel.subarray(0, 0), tie, ones), { value: 3, index: 1029 });
    tie[1029] = 1;
    assert.deepEqual(step.updateAndRank(gamma, 0, panel.subarray(0, 0), tie, ones), { value: 3, index: n - 1 });
  });
});

describe('early stopping and edge cases', () => {
  test('k above the hidden size stops once the residual is negligible (exact reconstruction)', async () => {
    const n = 150;
    const dim = 12;
    const dictionary = randomRows(n, dim, 21);
    const targets = randomRows(10, dim, 22);
    for (const route of ['gram', 'residual'] as const) {
      const out = await solveInThread(dictionary, n, dim, targets, 10, { k: 64, route });
      for (let t = 0; t < 10; t++) {
        assert.ok(out.sizes[t] <= dim, `target ${t} used ${out.sizes[t]} atoms in ${dim} dimensions`);
        assert.ok(out.relativeResiduals[t] <= 1e-5, `target ${t} residual ${out.relativeResiduals[t]}`);
      }
      assertMatchesPlain(out, dictionary, n, dim, targets, false);
    }
  });

  test('a target that is an atom is that atom alone; a zero target gets no atoms', async () => {
    const n = 60;
    const dim = 16;
    const dictionary = randomRows(n, dim, 31);
    const targets = new Float32Array(2 * dim);
    targets.set(dictionary.subarray(17 * dim, 18 * dim).map((v) => v * 2.5), 0);
    for (const route of ['gram', 'residual'] as const) {
      const out = await solveInThread(dictionary, n, dim, targets, 2, { k: 8, route });
      assert.equal(out.sizes[0], 1);
      assert.equal(out.atoms[0], 17);
      assert.ok(Math.abs(out.coefficients[0] - 2.5) < 1e-5);
      assert.equal(out.sizes[1], 0);
      assert.equal(out.atoms[8], -1);
      assert.equal(out.relativeResiduals[1], 0);
    }
  });

  test('k larger than the number of anchors is a usage error', () => {
    assert.throws(
      () => resolveOmpOptions(10, 4, { k: 11 }),
      (error: unknown) => error instanceof ModelLensError && error.code === 'usage' && /k = 11 is more than the 10 anchor/.test(error.message),
    );
  });
});

describe('worker threads', () => {
  const n = 300;
  const dim = 48;
  const count = 64;
  const dictionary = randomRows(n, dim, 41);
  const targets = randomRows(count, dim, 42);

  test('two workers give the plain OMP result and report progress to the end', async () => {
    const seen: number[] = [];
    const result = await batchOmp(dictionary, n, dim, targets, count, { k: 10, route: 'gram', blockSize: 8, workers: 2 }, { onProgress: (p) => seen.push(p.done) });
    assertMatchesPlain(result, dictionary, n, dim, targets, false);
    assert.equal(seen.at(-1), count);
    assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]), 'progress never goes back');
    assert.ok(result.stats.gramColumnsComputed > 0);
  });

  test('an abort rejects at once with a cancelled error and stops the workers', async () => {
    const bigN = 4000;
    const big = randomRows(bigN, 64, 51);
    const many = randomRows(2000, 64, 52);
    const controller = new AbortController();
    const started = performance.now();
    const run = batchOmp(big, bigN, 64, many, 2000, { k: 48, route: 'residual', blockSize: 16, workers: 2 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await assert.rejects(run, (error: unknown) => error instanceof ModelLensError && error.code === 'cancelled');
    assert.ok(performance.now() - started < 5000, 'cancellation is prompt');
  });

  test('an already aborted signal rejects without starting', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(batchOmp(dictionary, n, dim, targets, count, { k: 4 }, { signal: controller.signal }), (error: unknown) => error instanceof ModelLensError && error.code === 'cancelled');
  });
});
