// Exact kNN over embedding matrices: ONNX Runtime kernels against a brute-force reference, f32 and f16 storage,
// exclusions, batches, cancellation and the worker pool. Random matrices come from a seeded generator.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelLensError } from '../../server/errors';
import { EmbeddingMatrix, roundToFloat16, type EmbeddingStorage } from '../../server/kernels/embeddingMatrix';
import {
  configureKnnKernels,
  KNN_METRICS,
  mergeRanked,
  searchNearest,
  searchNearestNaive,
  searchNearestRanked,
  type KnnMetric,
  type KnnOptions,
  type KnnProgress,
  type KnnResult,
} from '../../server/kernels/knn';
import { KnnPool } from '../../server/kernels/knnPool';

/** mulberry32: a small seeded generator, uniform in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Roughly normal values (sum of three uniforms), with a per-row scale so norms differ and dot ≠ cosine. */
function randomMatrix(rows: number, dim: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const scale = 0.5 + random() * 1.5;
    for (let j = 0; j < dim; j++) values[r * dim + j] = (random() + random() + random() - 1.5) * scale;
  }
  return values;
}

/** Scores every row with the textbook formula in float64 and sorts: the reference the naive search must match. */
function bruteForce(values: Float32Array, rows: number, dim: number, query: Float32Array, k: number, metric: KnnMetric, exclude: number[] = []): number[] {
  const scored: { id: number; score: number }[] = [];
  let qq = 0;
  for (let j = 0; j < dim; j++) qq += query[j] * query[j];
  for (let r = 0; r < rows; r++) {
    if (exclude.includes(r)) continue;
    let dot = 0;
    let xx = 0;
    let dd = 0;
    for (let j = 0; j < dim; j++) {
      const x = values[r * dim + j];
      dot += x * query[j];
      xx += x * x;
      dd += (x - query[j]) ** 2;
    }
    const score = metric === 'dot' ? dot : metric === 'cosine' ? dot / Math.sqrt(xx * qq) : -Math.sqrt(dd);
    scored.push({ id: r, score });
  }
  scored.sort((a, b) => b.score - a.score || a.id - b.id);
  return scored.slice(0, k).map((s) => s.id);
}

function ids(result: KnnResult): number[] {
  return Array.from(result.ids);
}

function assertSameResults(actual: KnnResult[], expected: KnnResult[], context: string): void {
  assert.equal(actual.length, expected.length, `${context}: number of queries`);
  actual.forEach((result, q) => {
    assert.deepEqual(ids(result), ids(expected[q]), `${context}: ids of query ${q}`);
    assert.deepEqual(Array.from(result.scores), Array.from(expected[q].scores), `${context}: scores of query ${q}`);
  });
}

function assertOrdered(result: KnnResult, metric: KnnMetric): void {
  for (let i = 1; i < result.scores.length; i++) {
    if (metric === 'euclidean') assert.ok(result.scores[i - 1] <= result.scores[i], 'distances ascend');
    else assert.ok(result.scores[i - 1] >= result.scores[i], 'similarities descend');
  }
}

const ROWS = 2_003; // not a multiple of the block size: the last block is short
const DIM = 48;
const values = randomMatrix(ROWS, DIM, 1);
const queries = randomMatrix(6, DIM, 2);
const matrices: Record<EmbeddingStorage, EmbeddingMatrix> = {
  f32: EmbeddingMatrix.fromFloat32(values, ROWS, DIM, 'f32'),
  f16: EmbeddingMatrix.fromFloat32(values, ROWS, DIM, 'f16'),
};
/** The f16 matrix's values as float32: what the naive reference searches for f16 storage. */
const f16AsF32 = EmbeddingMatrix.fromFloat32(roundToFloat16(values), ROWS, DIM, 'f32');

// Small blocks, so a 2003-row matrix spans many ORT runs whose candidates must be merged.
const defaults = configureKnnKernels({});
configureKnnKernels({ blockBytes: 8 * 1024 });
after(() => configureKnnKernels(defaults));

describe('EmbeddingMatrix', () => {
  test('keeps f32 rows exactly and their L2 norms, in shared memory', () => {
    const m = matrices.f32;
    assert.ok(m.data.buffer instanceof SharedArrayBuffer);
    assert.ok(m.norms.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(Array.from(m.getRow(17)), Array.from(values.subarray(17 * DIM, 18 * DIM)));
    const row = values.subarray(5 * DIM, 6 * DIM);
    assert.ok(Math.abs(m.rowNorm(5) - Math.hypot(...row)) < 1e-5);
  });

  test('f16 storage halves the memory and stores the values rounded to half precision', () => {
    const m = matrices.f16;
    assert.equal(m.data.byteLength * 2, matrices.f32.data.byteLength);
    assert.deepEqual(Array.from(m.getRow(42)), Array.from(f16AsF32.getRow(42)));
    assert.equal(m.rowNorm(42), f16AsF32.rowNorm(42));
    const out = new Float32Array(DIM);
    assert.equal(m.getRow(3, out), out, 'getRow fills the given output');
  });

  test('takes F16 checkpoint bits as they are (f16) or decoded (f32)', () => {
    const bits = new Uint16Array(matrices.f16.data.subarray(0, 10 * DIM));
    const asHalf = EmbeddingMatrix.allocate(10, DIM, 'f16');
    asHalf.setRowsFloat16Bits(0, bits);
    const asSingle = EmbeddingMatrix.allocate(10, DIM, 'f32');
    asSingle.setRowsFloat16Bits(0, bits);
    for (let r = 0; r < 10; r++) {
      assert.deepEqual(Array.from(asHalf.getRow(r)), Array.from(matrices.f16.getRow(r)));
      assert.deepEqual(Array.from(asSingle.getRow(r)), Array.from(f16AsF32.getRow(r)));
      assert.equal(asHalf.rowNorm(r), matrices.f16.rowNorm(r));
    }
  });

  test('builds query vectors: gathered rows, mean of rows, analogy a − b + c', () => {
    const m = matrices.f32;
    const [a, b, c] = [10, 20, 30].map((i) => m.getRow(i));
    const analogy = m.weightedSumOfRows([10, 20, 30], [1, -1, 1]);
    const mean = m.meanOfRows([10, 20, 30]);
    for (let j = 0; j < DIM; j++) {
      assert.ok(Math.abs(analogy[j] - (a[j] - b[j] + c[j])) < 1e-5);
      assert.ok(Math.abs(mean[j] - (a[j] + b[j] + c[j]) / 3) < 1e-5);
    }
    assert.deepEqual(Array.from(m.gatherRows([20, 10]).subarray(DIM)), Array.from(a));
    assert.deepEqual(Array.from(m.meanOfRows([])), new Array(DIM).fill(0));
  });

  test('refuses rows outside the matrix and mismatched shapes with errors a user can act on', () => {
    assert.throws(() => matrices.f32.getRow(ROWS), (e: unknown) => e instanceof ModelLensError && e.code === 'usage');
    assert.throws(() => matrices.f32.setRows(ROWS - 1, new Float32Array(2 * DIM)), ModelLensError);
    assert.throws(() => EmbeddingMatrix.fromFloat32(new Float32Array(10), 3, 4), (e: unknown) => e instanceof ModelLensError && e.code === 'mismatch');
    assert.throws(() => EmbeddingMatrix.fromShared({ ...matrices.f32.toShared(), rows: ROWS + 1 }), ModelLensError);
  });
});

describe('searchNearestNaive matches a brute-force reference', () => {
  for (const metric of KNN_METRICS) {
    test(metric, () => {
      const results = searchNearestNaive(matrices.f32, queries, { k: 10, metric });
      results.forEach((result, q) => {
        assert.deepEqual(ids(result), bruteForce(values, ROWS, DIM, queries.subarray(q * DIM, (q + 1) * DIM), 10, metric));
        assertOrdered(result, metric);
      });
    });
  }
});

describe('searchNearest (ONNX Runtime) is exact', () => {
  for (const storage of ['f32', 'f16'] as const) {
    for (const metric of KNN_METRICS) {
      test(`${metric}, ${storage}: same ids and scores as the naive search${storage === 'f16' ? ' over the f16-rounded values' : ''}`, async () => {
        const options: KnnOptions = { k: 10, metric };
        const actual = await searchNearest(matrices[storage], queries, options);
        const expected = searchNearestNaive(storage === 'f16' ? f16AsF32 : matrices.f32, queries, options);
        assertSameResults(actual, expected, `${metric} ${storage}`);
        actual.forEach((result) => assertOrdered(result, metric));
      });
    }
  }

  test('searches that share a claim counter score every row once between them and merge to the exact answer', async () => {
    for (const storage of ['f32', 'f16'] as const) {
      // Two passes (3 queries per pass), so the claims cross a pass boundary.
      const settings = configureKnnKernels({});
      configureKnnKernels({ maxQueriesPerPass: 3 });
      try {
        const options: KnnOptions = { k: 8, metric: 'cosine', exclude: [[3], undefined, [4, 5]] };
        const claimCounter = new Int32Array(new SharedArrayBuffer(4));
        const rowsDone = [0, 0, 0];
        const parts = await Promise.all(
          [0, 1, 2].map((part) => searchNearestRanked(matrices[storage], queries, options, { claimCounter, onProgress: (p) => (rowsDone[part] = p.rowsDone) })),
        );
        assert.equal(claimCounter[0], 2 * ROWS, 'every row of both passes was claimed');
        assert.equal(rowsDone[0] + rowsDone[1] + rowsDone[2], 2 * ROWS, 'and scored once');
        assert.ok(rowsDone.every((rows) => rows > 0), `each search scored some rows: ${rowsDone.join(', ')}`);
        assertSameResults(mergeRanked(parts, options.k, options.metric), await searchNearest(matrices[storage], queries, options), `claimed ${storage}`);
      } finally {
        configureKnnKernels(settings);
      }
    }
  });

  test('a row used as the query finds itself first (cosine 1, distance 0) unless excluded', async () => {
    const rowIds = [0, 777, ROWS - 1];
    const asQueries = matrices.f32.gatherRows(rowIds);
    const cosine = await searchNearest(matrices.f32, asQueries, { k: 3, metric: 'cosine' });
    const euclidean = await searchNearest(matrices.f32, asQueries, { k: 3, metric: 'euclidean' });
    rowIds.forEach((id, q) => {
      assert.equal(cosine[q].ids[0], id);
      assert.ok(Math.abs(cosine[q].scores[0] - 1) < 1e-6);
      assert.equal(euclidean[q].ids[0], id);
      assert.equal(euclidean[q].scores[0], 0);
    });
    const excluded = await searchNearest(matrices.f32, asQueries, { k: 3, metric: 'cosine', exclude: rowIds.map((id) => [id]) });
    excluded.forEach((result, q) => {
      assert.ok(!ids(result).includes(rowIds[q]));
      assert.deepEqual(ids(result), ids(cosine[q]).slice(1).concat(ids(result)[2]));
    });
  });

  test('exclusions (arrays or sets, per query) leave those rows out and nothing else', async () => {
    const plain = searchNearestNaive(matrices.f32, queries, { k: 5, metric: 'dot' });
    // Exclude each query's own top 3 (analogy inputs are typically among the nearest rows).
    const exclude = plain.map((result, q) => (q % 2 === 0 ? ids(result).slice(0, 3) : new Set(ids(result).slice(0, 3))));
    const options: KnnOptions = { k: 5, metric: 'dot', exclude };
    const actual = await searchNearest(matrices.f32, queries, options);
    assertSameResults(actual, searchNearestNaive(matrices.f32, queries, options), 'excluded');
    actual.forEach((result, q) => {
      assert.deepEqual(ids(result).slice(0, 2), ids(plain[q]).slice(3, 5));
      for (const id of ids(plain[q]).slice(0, 3)) assert.ok(!ids(result).includes(id));
    });
  });

  test('k larger than the matrix returns every row that is not excluded, ranked', async () => {
    const small = EmbeddingMatrix.fromFloat32(randomMatrix(20, 8, 3), 20, 8, 'f16');
    const query = randomMatrix(1, 8, 4);
    for (const metric of KNN_METRICS) {
      const options: KnnOptions = { k: 50, metric, exclude: [[0, 19]] };
      const [result] = await searchNearest(small, query, options);
      assert.equal(result.ids.length, 18);
      assert.deepEqual([...ids(result)].sort((a, b) => a - b), Array.from({ length: 18 }, (_, i) => i + 1));
      assertSameResults([result], searchNearestNaive(small, query, options), `k > rows, ${metric}`);
    }
    const [none] = await searchNearest(small, query, { k: 0, metric: 'dot' });
    assert.equal(none.ids.length, 0);
  });

  test('a batch answers exactly what single queries do, also across several passes', async () => {
    const options: KnnOptions = { k: 7, metric: 'euclidean' };
    const batch = await searchNearest(matrices.f16, queries, options);
    const singles: KnnResult[] = [];
    for (let q = 0; q < queries.length / DIM; q++) singles.push(...(await searchNearest(matrices.f16, queries.subarray(q * DIM, (q + 1) * DIM), options)));
    assertSameResults(batch, singles, 'batch vs single');
    configureKnnKernels({ maxQueriesPerPass: 4 });
    try {
      assertSameResults(await searchNearest(matrices.f16, queries, options), batch, 'two passes');
    } finally {
      configureKnnKernels({ maxQueriesPerPass: defaults.maxQueriesPerPass });
    }
  });

  test('zero rows and zero queries score cosine 0 instead of NaN', async () => {
    const withZero = new Float32Array(values.subarray(0, 50 * DIM));
    withZero.fill(0, 7 * DIM, 8 * DIM);
    const m = EmbeddingMatrix.fromFloat32(withZero, 50, DIM);
    const [result] = await searchNearest(m, new Float32Array(DIM), { k: 50, metric: 'cosine' });
    assert.ok(Array.from(result.scores).every((s) => s === 0));
    const [fromRow] = await searchNearest(m, m.getRow(3), { k: 50, metric: 'cosine' });
    assert.equal(fromRow.scores[ids(fromRow).indexOf(7)], 0);
  });

  test('reports progress per block and stops at the next block when cancelled', async () => {
    const seen: KnnProgress[] = [];
    await searchNearest(matrices.f32, queries, { k: 3, metric: 'dot' }, { onProgress: (p) => seen.push({ ...p }) });
    assert.ok(seen.length > 5, `${seen.length} progress reports`);
    assert.deepEqual(seen.at(-1), { rowsDone: ROWS, rows: ROWS, blocksDone: seen.length, blocks: seen.length });

    const controller = new AbortController();
    let blocksAfterAbort = 0;
    const cancelled = searchNearest(matrices.f32, queries, { k: 3, metric: 'dot' }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (controller.signal.aborted) blocksAfterAbort++;
        if (p.blocksDone === 2) controller.abort();
      },
    });
    await assert.rejects(cancelled, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    assert.equal(blocksAfterAbort, 0);
  });

  test('refuses queries that do not fit the matrix', async () => {
    await assert.rejects(searchNearest(matrices.f32, new Float32Array(DIM + 1), { k: 1, metric: 'dot' }), (e: unknown) => e instanceof ModelLensError && e.code === 'mismatch');
    await assert.rejects(searchNearest(matrices.f32, queries, { k: -1, metric: 'dot' }), ModelLensError);
    assert.throws(() => searchNearestNaive(matrices.f32, queries, { k: 1, metric: 'manhattan' as KnnMetric }), ModelLensError);
  });
});

describe('KnnPool (worker threads)', () => {
  // Two workers and a tiny shard threshold: every search is split by rows and merged.
  const pool = new KnnPool({ workers: 2, minShardBytes: 16 * 1024, kernels: { blockBytes: 8 * 1024 } });
  after(() => pool.close());

  test('returns exactly the in-process results, f32 and f16, with exclusions', async () => {
    for (const storage of ['f32', 'f16'] as const) {
      for (const metric of KNN_METRICS) {
        const options: KnnOptions = { k: 9, metric, exclude: [[1, 2, 3], undefined, new Set([4])] };
        const inProcess = await searchNearest(matrices[storage], queries, options);
        assertSameResults(await pool.search(matrices[storage], queries, options), inProcess, `pool ${metric} ${storage}`);
      }
    }
  });

  test('shares the matrix memory with the workers: a row written afterwards is what they search', async () => {
    const m = EmbeddingMatrix.fromFloat32(randomMatrix(3_000, 16, 10), 3_000, 16, 'f16');
    const query = randomMatrix(1, 16, 11);
    const [before] = await pool.search(m, query, { k: 1, metric: 'dot' }); // posts the matrix to the workers
    assert.notEqual(before.ids[0], 2_500);
    m.setRows(2_500, query.map((v) => v * 100)); // no new post: the workers read the same SharedArrayBuffers
    for (const metric of ['dot', 'cosine'] as const) {
      const [afterWrite] = await pool.search(m, query, { k: 1, metric });
      assert.equal(afterWrite.ids[0], 2_500, metric);
    }
    m.setRows(2_500, query);
    const [nearest] = await pool.search(m, query, { k: 1, metric: 'euclidean' });
    assert.equal(nearest.ids[0], 2_500);
    assert.ok(nearest.scores[0] < 0.01, 'only the f16 rounding separates the row from the query');
    pool.release(m);
  });

  test('reports progress up to every row and keeps the event loop free while it searches', async () => {
    const big = EmbeddingMatrix.fromFloat32(randomMatrix(20_000, 64, 5), 20_000, 64, 'f32');
    const batch = randomMatrix(64, 64, 6);
    let ticks = 0;
    let done = false;
    const tick = () => {
      ticks++;
      if (!done) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const progress: KnnProgress[] = [];
    const results = await pool.search(big, batch, { k: 5, metric: 'cosine' }, { onProgress: (p) => progress.push(p) });
    done = true;
    assert.equal(results.length, 64);
    assert.ok(ticks > 2, `the main thread ran ${ticks} timers while the workers searched`);
    assert.equal(progress.at(-1)?.rowsDone, 20_000);
    assert.equal(progress.at(-1)?.rows, 20_000);
    assertSameResults(results.slice(0, 2), searchNearestNaive(big, batch.subarray(0, 2 * 64), { k: 5, metric: 'cosine' }), 'big');
    pool.release(big);
  });

  test('a cancelled search rejects with AbortError at once and the pool keeps working', async () => {
    const big = EmbeddingMatrix.fromFloat32(randomMatrix(20_000, 64, 7), 20_000, 64, 'f16');
    const controller = new AbortController();
    const search = pool.search(big, randomMatrix(64, 64, 8), { k: 5, metric: 'dot' }, { signal: controller.signal, onProgress: () => controller.abort() });
    await assert.rejects(search, (e: unknown) => e instanceof Error && e.name === 'AbortError');
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(pool.search(big, randomMatrix(1, 64, 9), { k: 1, metric: 'dot' }, { signal: aborted.signal }), { name: 'AbortError' });
    const [after] = await pool.search(big, big.getRow(123), { k: 1, metric: 'euclidean' });
    assert.equal(after.ids[0], 123);
    pool.release(big);
  });

  test('passes usage errors back from the workers as ModelLensErrors', async () => {
    await assert.rejects(pool.search(matrices.f32, new Float32Array(DIM - 1), { k: 1, metric: 'dot' }), ModelLensError);
  });

  test('splits a single query across the latency workers and a batch across the batch workers, exactly', async () => {
    // One batch worker and two latency workers, as the server runs on a two-core machine.
    const split = new KnnPool({ workers: 1, latencyWorkers: 2, minShardBytes: 16 * 1024, kernels: { blockBytes: 8 * 1024 } });
    try {
      assert.equal(split.workerCount, 1);
      assert.equal(split.latencyWorkerCount, 2);
      for (const storage of ['f32', 'f16'] as const) {
        for (const metric of KNN_METRICS) {
          const options: KnnOptions = { k: 7, metric, exclude: [[5, 6]] };
          const single = queries.subarray(0, DIM);
          assertSameResults(await split.search(matrices[storage], single, options), await searchNearest(matrices[storage], single, options), `single ${metric} ${storage}`);
          const batch = { k: 7, metric };
          assertSameResults(await split.search(matrices[storage], queries, batch), await searchNearest(matrices[storage], queries, batch), `batch ${metric} ${storage}`);
        }
      }
    } finally {
      await split.close();
    }
  });
});
