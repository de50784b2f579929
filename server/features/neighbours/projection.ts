/**
 * Projections of a model's vocabulary to 2-D: PCA (exact) or UMAP, of a neighbourhood, a selection of ids, or a
 * sample of the vocabulary. The arithmetic runs in a worker thread, one job at a time, cancellable.
 */
import { ModelLensError } from '../../errors';
import { EmbeddingMatrix } from '../../kernels/embeddingMatrix';
import { resolveWorkerEntry, startWorker } from '../../kernels/workerThreads';
import type { OpenedModel } from '../../registry/types';
import type { EmbeddingIndex, EmbeddingSpace } from './embeddingIndex';
import { tokenLabel, type Control } from './neighbours';
import { umapNeighbourCount, type ProjectionJob, type ProjectionReply } from './projectionMessages';

export type ProjectionMethod = 'pca' | 'umap';
export type ProjectionSource = 'neighbourhood' | 'selection' | 'sample';

/** The Embedding Projector's caps: UMAP is slow above a few thousand points, PCA is cheap. */
export const MAX_POINTS: Record<ProjectionMethod, number> = { pca: 50_000, umap: 10_000 };

export interface ProjectionRequest {
  method: ProjectionMethod;
  source: ProjectionSource;
  /** The ids to project (neighbourhood or selection). */
  ids?: number[];
  /** How many vocabulary rows to sample when source is 'sample'. */
  sample?: number;
  space?: EmbeddingSpace;
  seed?: number;
}

export interface ProjectionResult {
  model: { id: string; name: string };
  method: ProjectionMethod;
  source: ProjectionSource;
  points: { id: number; token: string; x: number; y: number }[];
  explainedVariance?: number[];
}

/** Every `stride`-th non-special row: a deterministic, evenly spread sample of the vocabulary. */
export function sampleVocabulary(model: OpenedModel, rows: number, count: number): number[] {
  const tokenizer = model.tokenizer;
  const stride = Math.max(1, rows / count);
  const ids: number[] = [];
  for (let position = 0; ids.length < count && position < rows; position += stride) {
    const id = Math.floor(position);
    if (!tokenizer?.isSpecial(id)) ids.push(id);
  }
  return ids;
}

function runWorker(job: ProjectionJob, control: Control): Promise<{ coordinates: Float32Array; explainedVariance?: number[] }> {
  const worker = startWorker(resolveWorkerEntry('projectionWorker', __dirname), 'model-lens-projection');
  return new Promise((resolve, reject) => {
    const finish = () => {
      control.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
    };
    const onAbort = () => {
      finish();
      reject(new ModelLensError('cancelled', 'the projection was cancelled.'));
    };
    control.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (reply: ProjectionReply) => {
      if ('progress' in reply) return control.onProgress?.(`${job.method.toUpperCase()} of ${job.n} points`, reply.progress);
      finish();
      if (reply.ok) resolve({ coordinates: new Float32Array(reply.coordinates), explainedVariance: reply.explainedVariance });
      else reject(new ModelLensError('bad-input', `the projection failed: ${reply.message}`));
    });
    worker.on('error', (error) => {
      finish();
      reject(error);
    });
    worker.postMessage(job, [job.points, ...(job.neighbours ? [job.neighbours.ids, job.neighbours.distances] : [])]);
  });
}

/**
 * Each point's exact nearest points by euclidean distance (itself first), by the kNN engine's workers: UMAP's
 * neighbour graph, which umap-js would otherwise approximate by nearest-neighbour descent on one thread (a few
 * seconds at 5,000 points, where this takes a fraction of a second).
 */
async function nearestPoints(index: EmbeddingIndex, points: Float32Array, n: number, dim: number, control: Control): Promise<NonNullable<ProjectionJob['neighbours']>> {
  const k = umapNeighbourCount(n);
  const cloud = EmbeddingMatrix.fromFloat32(points, n, dim, 'f32');
  try {
    const results = await index.pool.search(cloud, points, { k, metric: 'euclidean' }, { signal: control.signal });
    const ids = new Int32Array(n * k);
    const distances = new Float32Array(n * k);
    results.forEach((result, i) => {
      ids.set(result.ids, i * k);
      distances.set(result.scores, i * k);
    });
    return { k, ids: ids.buffer, distances: distances.buffer };
  } finally {
    index.pool.release(cloud);
  }
}

export async function projectEmbeddings(index: EmbeddingIndex, model: OpenedModel, request: ProjectionRequest, control: Control = {}): Promise<ProjectionResult> {
  if (!['pca', 'umap'].includes(request.method)) throw new ModelLensError('usage', `unknown projection "${request.method}"; use pca or umap.`);
  const matrix = await index.matrix(model, request.space ?? 'input', undefined, control.signal);
  const cap = MAX_POINTS[request.method];
  const ids = request.source === 'sample' ? sampleVocabulary(model, matrix.rows, Math.min(request.sample ?? 2000, cap, matrix.rows)) : [...new Set(request.ids ?? [])];
  if (ids.length < 3) throw new ModelLensError('usage', `a projection needs at least 3 points, got ${ids.length}.`);
  if (ids.length > cap) throw new ModelLensError('usage', `${request.method.toUpperCase()} takes at most ${cap} points; got ${ids.length}.`, undefined, 'Project a sample instead.');
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= matrix.rows) throw new ModelLensError('usage', `id ${id} is outside the embedding (${matrix.rows} rows).`);
  }
  const points = matrix.gatherRows(ids);
  control.onProgress?.(`${request.method.toUpperCase()} of ${ids.length} points`, 0);
  const neighbours = request.method === 'umap' ? await nearestPoints(index, points, ids.length, matrix.dim, control) : undefined;
  const { coordinates, explainedVariance } = await runWorker(
    { method: request.method, points: points.buffer as ArrayBuffer, n: ids.length, dim: matrix.dim, seed: request.seed ?? 42, ...(neighbours ? { neighbours } : {}) },
    control,
  );
  return {
    model: { id: model.id, name: model.name },
    method: request.method,
    source: request.source,
    points: ids.map((id, i) => ({ id, token: model.tokenizer ? tokenLabel(model.tokenizer, id) : `#${id}`, x: coordinates[i * 2], y: coordinates[i * 2 + 1] })),
    explainedVariance,
  };
}
