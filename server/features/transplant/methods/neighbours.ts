/**
 * Exact nearest neighbours for the knn and aux methods, through the kNN engine (kernels/knn.ts): ONNX Runtime kernels
 * in worker threads, with cancellation and progress.
 */
import { ModelLensError } from '../../../errors';
import { EmbeddingMatrix } from '../../../kernels/embeddingMatrix';
import type { KnnMetric, KnnResult } from '../../../kernels/knn';
import { KnnPool } from '../../../kernels/knnPool';
import type { MethodControl } from './types';

export async function nearestRows(
  rows: Float32Array,
  count: number,
  dim: number,
  queries: Float32Array,
  k: number,
  metric: KnnMetric,
  workers: number | undefined,
  control: MethodControl = {},
): Promise<KnnResult[]> {
  if (queries.length === 0) return [];
  const matrix = EmbeddingMatrix.fromFloat32(rows.subarray(0, count * dim), count, dim, 'f32');
  const pool = new KnnPool(workers !== undefined && workers > 0 ? { workers } : {});
  try {
    return await pool.search(matrix, queries, { k: Math.min(k, count), metric }, {
      signal: control.signal,
      onProgress: (p) => control.onProgress?.(p.rows > 0 ? p.rowsDone / p.rows : 0),
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'AbortError') throw new ModelLensError('cancelled', 'the nearest-neighbour search was cancelled');
    throw error;
  } finally {
    await pool.close();
  }
}
