// Projections of a vocabulary to 2-D, as the server runs them (a worker thread; UMAP fed the exact neighbour graph by
// the kNN engine): planted clusters stay apart, PCA's explained variance is ordered, and a seed repeats a layout.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddingIndex } from '../../server/features/neighbours/embeddingIndex';
import { projectEmbeddings, type ProjectionResult } from '../../server/features/neighbours/projection';
import { SeededRandom } from '../../server/kernels/seededRandom';
import { setWordVectorCacheDir } from '../../server/loaders/wordVectors';
import { ModelRegistry } from '../../server/registry/registry';
import type { OpenedModel } from '../../server/registry/types';

const CLUSTERS = 4;
const PER_CLUSTER = 50;
const DIM = 24;
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'model-lens-projection-'));
const index = new EmbeddingIndex();
let model: OpenedModel;

/** Cluster c's words are c0_0, c0_1, …; the clusters' centres are far apart next to their spread. */
before(async () => {
  setWordVectorCacheDir(path.join(tmpRoot, 'cache'));
  const random = new SeededRandom(5);
  const centres = Array.from({ length: CLUSTERS }, () => Array.from({ length: DIM }, () => random.normal() * 4));
  const lines: string[] = [];
  for (let i = 0; i < CLUSTERS * PER_CLUSTER; i++) {
    const c = i % CLUSTERS;
    lines.push(`c${c}_${i} ${centres[c].map((x) => (x + random.normal() * 0.5).toFixed(5)).join(' ')}`);
  }
  const file = path.join(tmpRoot, 'clusters.txt');
  await fsp.writeFile(file, lines.join('\n') + '\n');
  model = await new ModelRegistry().open(file);
});

after(async () => {
  await index.close();
  setWordVectorCacheDir(undefined);
  await fsp.rm(tmpRoot, { recursive: true, force: true });
});

const clusterOf = (token: string) => token.split('_')[0];

/** The share of points whose `k` nearest points in the 2-D layout are all from their own cluster. */
function clusterPurity(result: ProjectionResult, k: number): number {
  const { points } = result;
  let pure = 0;
  for (const point of points) {
    const nearest = points
      .filter((other) => other !== point)
      .map((other) => ({ other, d: (other.x - point.x) ** 2 + (other.y - point.y) ** 2 }))
      .sort((a, b) => a.d - b.d)
      .slice(0, k);
    if (nearest.every(({ other }) => clusterOf(other.token) === clusterOf(point.token))) pure++;
  }
  return pure / points.length;
}

describe('projections', () => {
  const ids = Array.from({ length: CLUSTERS * PER_CLUSTER }, (_, i) => i);

  test('UMAP keeps planted clusters apart, and the same seed gives the same layout', async () => {
    const progress: number[] = [];
    const umap = await projectEmbeddings(index, model, { method: 'umap', source: 'selection', ids, seed: 7 }, { onProgress: (_, fraction) => progress.push(fraction ?? 0) });
    assert.equal(umap.points.length, ids.length);
    assert.ok(umap.points.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y)));
    const purity = clusterPurity(umap, 5);
    assert.ok(purity >= 0.95, `only ${(purity * 100).toFixed(1)}% of points have their 5 nearest in their own cluster`);
    assert.ok(progress.length > 2 && progress.at(-1)! > 0.5, 'progress is reported while the layout is optimised');
    const again = await projectEmbeddings(index, model, { method: 'umap', source: 'selection', ids, seed: 7 });
    assert.deepEqual(again.points.map((p) => [p.x, p.y]), umap.points.map((p) => [p.x, p.y]));
  });

  test('PCA separates the clusters and orders the explained variance', async () => {
    const result = await projectEmbeddings(index, model, { method: 'pca', source: 'selection', ids });
    const [first, second] = result.explainedVariance!;
    assert.ok(first >= second && second > 0 && first + second <= 1);
    assert.ok(clusterPurity(result, 5) >= 0.9);
  });
});
