// The WebAssembly half-precision kNN kernel: exact widening of every finite half, single-query searches that scan an
// f16 matrix in place and still equal the naive search, the fallbacks to ONNX Runtime, and the shared memory crossing
// to a worker as one buffer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { EmbeddingMatrix, float16ToFloat32Table, roundToFloat16 } from '../../server/kernels/embeddingMatrix';
import { KNN_METRICS, searchNearest, searchNearestNaive, type KnnProgress } from '../../server/kernels/knn';
import { HALF_KERNEL_BLOCK_ROWS, HALF_KERNEL_RESERVED_BYTES, HalfKernelScan } from '../../server/kernels/knnHalfKernel';
import { SeededRandom } from '../../server/kernels/seededRandom';

function randomValues(count: number, seed: number, scale = 1): Float32Array {
  const random = new SeededRandom(seed);
  return Float32Array.from({ length: count }, () => random.normal() * scale);
}

/** The slot-claim flags at the start of a kernel memory (1 = a search holds that slot). */
function claimedSlots(matrix: EmbeddingMatrix): number {
  return new Int32Array(matrix.halfKernelMemory!.buffer, 0, 16).reduce((sum, flag) => sum + flag, 0);
}

describe('half-precision kNN kernel', () => {
  for (const dim of [8, 12, 4]) {
    test(`widens every finite half exactly, in both lanes of a word, with its sign (width ${dim})`, () => {
      // Every half bit pattern whose exponent is not 31 (63,488 values), then zeros to fill the last row.
      const finite = Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00);
      const rows = Math.ceil(finite.length / dim);
      const patterns = new Uint16Array(rows * dim);
      patterns.set(finite);
      const matrix = EmbeddingMatrix.allocate(rows, dim, 'f16');
      assert.ok(matrix.halfKernelMemory, 'an f16 matrix whose width is a multiple of 4 lives in a kernel memory');
      matrix.setRowsFloat16Bits(0, patterns);
      const table = float16ToFloat32Table();
      const scan = HalfKernelScan.claim(matrix.halfKernelMemory, matrix.data.byteOffset, dim)!;
      try {
        for (let j = 0; j < dim; j++) {
          const oneHot = new Float32Array(dim);
          oneHot[j] = 1;
          assert.ok(scan.setQuery(oneHot));
          for (let start = 0; start < rows; start += HALF_KERNEL_BLOCK_ROWS) {
            const count = Math.min(HALF_KERNEL_BLOCK_ROWS, rows - start);
            scan.scoreRows(start, count);
            for (let i = 0; i < count; i++) {
              const half = patterns[(start + i) * dim + j];
              const expected = table[half];
              assert.ok(Object.is(scan.scores[i], expected) || (scan.scores[i] === 0 && expected === 0), `half 0x${half.toString(16)} at column ${j}: ${scan.scores[i]} ≠ ${expected}`);
            }
          }
        }
      } finally {
        scan.release();
      }
    });
  }

  const ROWS = 3_001; // three kernel blocks, the last one short
  const DIM = 64;
  const values = randomValues(ROWS * DIM, 11);
  // Subnormal halves in some rows, so the widening's subnormal path is ranked too.
  for (let j = 0; j < DIM; j++) values[7 * DIM + j] = (j % 2 ? 1 : -1) * 3e-6 * (j + 1);
  const matrix = EmbeddingMatrix.fromFloat32(values, ROWS, DIM, 'f16');
  const asF32 = EmbeddingMatrix.fromFloat32(roundToFloat16(values), ROWS, DIM, 'f32');

  for (const metric of KNN_METRICS) {
    test(`${metric}: a single query scans the f16 matrix in place and equals the naive search, with exclusions`, async () => {
      const query = randomValues(DIM, 12 + metric.length);
      const options = { k: 15, metric, exclude: [[3, 9, 100]] };
      const slotsDuringSearch: number[] = [];
      const progress: KnnProgress[] = [];
      const [result] = await searchNearest(matrix, query, options, {
        onProgress: (p) => {
          progress.push(p);
          slotsDuringSearch.push(claimedSlots(matrix));
        },
      });
      const [expected] = searchNearestNaive(asF32, query, options);
      assert.deepEqual(Array.from(result.ids), Array.from(expected.ids));
      assert.deepEqual(Array.from(result.scores), Array.from(expected.scores));
      assert.ok(!Array.from(result.ids).some((id) => [3, 9, 100].includes(id)));
      assert.equal(progress.at(-1)!.blocks, Math.ceil(ROWS / HALF_KERNEL_BLOCK_ROWS), 'the kernel scores the rows in its own blocks');
      assert.deepEqual([...new Set(slotsDuringSearch)], [1], 'the search held one kernel slot throughout');
      assert.equal(claimedSlots(matrix), 0, 'and gave it back');
    });
  }

  test('finds the row itself first, subnormal values and all', async () => {
    const [result] = await searchNearest(matrix, matrix.getRow(7), { k: 3, metric: 'cosine' });
    assert.equal(result.ids[0], 7);
    assert.ok(Math.abs(result.scores[0] - 1) < 1e-6);
  });

  test('falls back to ONNX Runtime, exactly, when the query is too large for the kernel or no slot is free', async () => {
    const huge = randomValues(DIM, 20, 1e5); // |value| × 2^112 overflows float32
    const options = { k: 10, metric: 'dot' as const };
    const progress: KnnProgress[] = [];
    const [result] = await searchNearest(matrix, huge, options, { onProgress: (p) => progress.push(p) });
    assert.deepEqual(Array.from(result.ids), Array.from(searchNearestNaive(asF32, huge, options)[0].ids));
    assert.notEqual(progress.at(-1)!.blocks, Math.ceil(ROWS / HALF_KERNEL_BLOCK_ROWS), 'ONNX Runtime blocks, not the kernel');

    const held = Array.from({ length: 16 }, () => HalfKernelScan.claim(matrix.halfKernelMemory!, matrix.data.byteOffset, DIM));
    assert.ok(held.every(Boolean));
    assert.equal(HalfKernelScan.claim(matrix.halfKernelMemory!, matrix.data.byteOffset, DIM), undefined, 'all 16 slots are taken');
    try {
      const query = randomValues(DIM, 21);
      const [busy] = await searchNearest(matrix, query, options);
      assert.deepEqual(Array.from(busy.ids), Array.from(searchNearestNaive(asF32, query, options)[0].ids));
    } finally {
      for (const scan of held) scan?.release();
    }
    assert.equal(claimedSlots(matrix), 0);
  });

  test('a width that is not a multiple of 4 stays in an ordinary shared buffer and is searched by ONNX Runtime', async () => {
    const narrow = EmbeddingMatrix.fromFloat32(randomValues(500 * 102, 30), 500, 102, 'f16');
    assert.equal(narrow.halfKernelMemory, undefined);
    assert.ok(narrow.data.buffer instanceof SharedArrayBuffer);
    const query = randomValues(102, 31);
    const [result] = await searchNearest(narrow, query, { k: 5, metric: 'euclidean' });
    const reference = EmbeddingMatrix.fromFloat32(roundToFloat16(randomValues(500 * 102, 30)), 500, 102, 'f32');
    assert.deepEqual(Array.from(result.ids), Array.from(searchNearestNaive(reference, query, { k: 5, metric: 'euclidean' })[0].ids));
  });

  test('a GloVe-like width of 100 (four past a multiple of 8) is scanned by the kernel and equals the naive search', async () => {
    const glove = EmbeddingMatrix.fromFloat32(randomValues(2_100 * 100, 32), 2_100, 100, 'f16');
    assert.ok(glove.halfKernelMemory);
    const reference = EmbeddingMatrix.fromFloat32(roundToFloat16(randomValues(2_100 * 100, 32)), 2_100, 100, 'f32');
    for (const metric of KNN_METRICS) {
      const query = randomValues(100, 33);
      const progress: KnnProgress[] = [];
      const [result] = await searchNearest(glove, query, { k: 12, metric }, { onProgress: (p) => progress.push(p) });
      const [expected] = searchNearestNaive(reference, query, { k: 12, metric });
      assert.deepEqual(Array.from(result.ids), Array.from(expected.ids), metric);
      assert.deepEqual(Array.from(result.scores), Array.from(expected.scores), metric);
      assert.equal(progress.at(-1)!.blocks, Math.ceil(2_100 / HALF_KERNEL_BLOCK_ROWS), `${metric}: kernel blocks`);
    }
  });

  test('crosses to another thread as the same memory, not a copy', () => {
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(matrix.toShared());
    const received = EmbeddingMatrix.fromShared(receiveMessageOnPort(port2)!.message);
    port1.close();
    assert.ok(received.halfKernelMemory instanceof WebAssembly.Memory);
    assert.equal(received.data.byteOffset, HALF_KERNEL_RESERVED_BYTES);
    const before = matrix.data[5];
    received.data[5] = before ^ 1;
    assert.equal(matrix.data[5], before ^ 1, 'a write on one side is seen on the other');
    received.data[5] = before;
  });
});
