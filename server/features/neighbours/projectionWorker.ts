/**
 * Runs one projection (PCA or UMAP) off the server's main thread. Receives the points as a transferred buffer and
 * posts back the 2-D coordinates.
 */
import { parentPort } from 'node:worker_threads';
import { UMAP } from 'umap-js';
import { pca } from '../../kernels/pca';
import { umapNeighbourCount } from './projectionMessages';
import type { ProjectionJob, ProjectionReply } from './projectionMessages';

function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function run(job: ProjectionJob): { ok: true; coordinates: ArrayBuffer; explainedVariance?: number[] } {
  const points = new Float32Array(job.points);
  if (job.method === 'pca') {
    const result = pca(points, job.n, job.dim, 2);
    return { ok: true, coordinates: result.coordinates.buffer as ArrayBuffer, explainedVariance: result.explainedVariance };
  }
  const rows: number[][] = [];
  for (let i = 0; i < job.n; i++) rows.push(Array.from(points.subarray(i * job.dim, (i + 1) * job.dim)));
  const umap = new UMAP({ nComponents: 2, nNeighbors: job.neighbours?.k ?? umapNeighbourCount(job.n), minDist: 0.1, random: seededRandom(job.seed) });
  if (job.neighbours) {
    const { k } = job.neighbours;
    const ids = new Int32Array(job.neighbours.ids);
    const distances = new Float32Array(job.neighbours.distances);
    const rowsOf = (values: Int32Array | Float32Array) => Array.from({ length: job.n }, (_, i) => Array.from(values.subarray(i * k, (i + 1) * k)));
    umap.setPrecomputedKNN(rowsOf(ids), rowsOf(distances));
  }
  const epochs = umap.initializeFit(rows);
  for (let epoch = 0; epoch < epochs; epoch++) {
    umap.step();
    if (epoch % 20 === 0) parentPort!.postMessage({ progress: epoch / epochs });
  }
  const embedding = umap.getEmbedding();
  const coordinates = new Float32Array(job.n * 2);
  embedding.forEach((point, i) => {
    coordinates[i * 2] = point[0];
    coordinates[i * 2 + 1] = point[1];
  });
  return { ok: true, coordinates: coordinates.buffer as ArrayBuffer };
}

parentPort!.on('message', (job: ProjectionJob) => {
  try {
    const reply = run(job);
    parentPort!.postMessage(reply satisfies ProjectionReply, [reply.coordinates]);
  } catch (error) {
    parentPort!.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) } satisfies ProjectionReply);
  }
});
