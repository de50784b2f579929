/**
 * The Backpack through the server, as the extension uses it: senses, an explained prediction, sense search with
 * progress, manual edits saved as a sidecar (and discarded), the export, the hover's sense line, and the copy probe.
 * The model is a copy of the demo Backpack in a temporary folder, so the demo's own folder is never written to.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as protocol from '../../server/protocol';
import { copyOfDemoBackpack } from '../fixtures/buildBackpack';
import { DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { fileUri, startServer, type ServerHandle } from '../support/serverProcess';

let server: ServerHandle;
let root: string;
let folder: string;

before(async () => {
  ({ root, folder } = await copyOfDemoBackpack(DEFAULT_DEMO_DIR, 'model-lens-backpack-server-'));
  server = await startServer({});
  await server.connection.sendRequest(protocol.openModel, { path: folder });
});

after(async () => {
  await server?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

test('the model summary marks the Backpack, and senses come back for a word', async () => {
  const models = await server.connection.sendRequest(protocol.listModels);
  assert.equal(models.find((m) => m.id === folder)?.backpack, true);
  const senses = await server.connection.sendRequest(protocol.senses, { modelId: folder, word: ' king', top: 5 });
  assert.equal(senses.token, ' king');
  assert.equal(senses.senses.length, 16);
  assert.equal(senses.senses[3].top.length, 5);
});

test('explainPrediction decomposes the predicted logit over positions and senses', async () => {
  const result = await server.connection.sendRequest(protocol.explainPrediction, { modelId: folder, text: 'The capital of France is', top: 5 });
  assert.equal(result.alpha.length, 16);
  assert.equal(result.alpha[0].length, result.tokens.length);
  assert.ok(Math.abs(result.total - result.target.logit) < 1e-3);
  assert.equal(result.contributions.length, 5);
});

test('sense search returns hits that contain the query among their top words', async () => {
  const result = await server.connection.sendRequest(protocol.searchSenses, { modelId: folder, query: ' science', top: 20, limit: 10 });
  assert.equal(result.query.token, ' science');
  assert.equal(result.wordsScanned, 2048);
  for (const hit of result.hits) assert.ok(hit.rank >= 1 && hit.rank <= 20);
});

test('manual edits change predictions; save writes the sidecar, discard goes back to it, disable switches them off', async () => {
  const before = await server.connection.sendRequest(protocol.predict, { modelId: folder, text: 'The king of France is', top: 1 });
  let state = await server.connection.sendRequest(protocol.editSenses, { modelId: folder, edit: { kind: 'scale-sense', word: ' France', sense: 4, factor: 6 } });
  assert.equal(state.unsaved, true);
  assert.deepEqual(state.editedWords.map((w) => w.token), [' France']);
  const edited = await server.connection.sendRequest(protocol.predict, { modelId: folder, text: 'The king of France is', top: 1 });
  assert.notEqual(edited.next[0].logit, before.next[0].logit);

  state = await server.connection.sendRequest(protocol.changeSenseEdits, { modelId: folder, action: 'save' });
  assert.equal(state.unsaved, false);
  assert.ok((await fsp.readdir(folder)).includes('sense-edits.safetensors'));

  await server.connection.sendRequest(protocol.editSenses, { modelId: folder, edit: { kind: 'scale-alpha', word: ' king', sense: 1, factor: 0 } });
  state = await server.connection.sendRequest(protocol.changeSenseEdits, { modelId: folder, action: 'discard' });
  assert.deepEqual(state.editedWords.map((w) => w.token), [' France'], 'back to the saved sidecar');
  const again = await server.connection.sendRequest(protocol.predict, { modelId: folder, text: 'The king of France is', top: 1 });
  assert.ok(Math.abs(again.next[0].logit - edited.next[0].logit) < 1e-4);

  await server.connection.sendRequest(protocol.changeSenseEdits, { modelId: folder, action: 'disable' });
  const off = await server.connection.sendRequest(protocol.predict, { modelId: folder, text: 'The king of France is', top: 1 });
  assert.ok(Math.abs(off.next[0].logit - before.next[0].logit) < 1e-4);
  await server.connection.sendRequest(protocol.changeSenseEdits, { modelId: folder, action: 'enable' });
});

test('export writes a new folder once and refuses to overwrite it', async () => {
  const out = path.join(root, 'exported');
  const result = await server.connection.sendRequest(protocol.exportBackpack, { modelId: folder, outDir: out });
  assert.ok(result.files.includes('model.onnx'));
  await assert.rejects(server.connection.sendRequest(protocol.exportBackpack, { modelId: folder, outDir: out }), /already exists/);
});

test("hovering a word with the Backpack active adds its senses line and a Show senses link", async () => {
  await server.connection.sendNotification(protocol.updateSettings, { activeTokenizers: [folder], hoverDisabledLanguages: [], hoverMaxTokens: 48, embeddingStorage: 'f32' });
  const uri = fileUri(path.join(root, 'notes.md'));
  server.openDocument(uri, 'markdown', 'The capital of France is Paris.\n');
  let markdown = '';
  for (let attempt = 0; attempt < 20 && !/\*\*Senses\*\*/.test(markdown); attempt++) {
    markdown = ((await server.hover(uri, 0, 27)) as { contents: { value: string } } | null)?.contents.value ?? '';
    if (!/\*\*Senses\*\*/.test(markdown)) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(markdown, /\*\*Senses\*\* of `·Paris`/);
  assert.match(markdown, /command:modelLens\.showSenses\?/);
});

test('the copy probe runs on the Backpack through the server', async () => {
  const result = await server.connection.sendRequest(protocol.copyProbe, { modelId: folder, options: { ks: [2], shots: [1], queries: 2 } });
  assert.equal(result.cells.length, 1);
  assert.equal(result.cells[0].prompts.length, 2);
});

test('unsaved edits survive a crashed server: the next server restores them as unsaved and says so', async () => {
  const storagePath = path.join(root, 'storage');
  const dir = path.join(root, 'journaled');
  await fsp.cp(folder, dir, { recursive: true });
  await fsp.rm(path.join(dir, 'sense-edits.safetensors'), { force: true });
  await fsp.rm(path.join(dir, 'sense-edits.json'), { force: true });
  const first = await startServer({ storagePath });
  let crashed = false;
  try {
    await first.connection.sendRequest(protocol.openModel, { path: dir });
    await first.connection.sendRequest(protocol.editSenses, { modelId: dir, edit: { kind: 'scale-alpha', word: ' queen', sense: 3, factor: 0.5 } });
    const expected = await first.connection.sendRequest(protocol.predict, { modelId: dir, text: 'The queen of France is', top: 1 });
    // Give the journal its write, then crash.
    await new Promise((resolve) => setTimeout(resolve, 500));
    first.child.kill('SIGKILL');
    crashed = true;
    first.connection.dispose();

    const second = await startServer({ storagePath });
    try {
      await second.connection.sendRequest(protocol.openModel, { path: dir });
      let state = await second.connection.sendRequest(protocol.senseEditState, { modelId: dir });
      assert.equal(state.unsaved, true);
      assert.equal(state.restored, true);
      assert.deepEqual(state.editedWords.map((w) => w.token), [' queen']);
      const restored = await second.connection.sendRequest(protocol.predict, { modelId: dir, text: 'The queen of France is', top: 1 });
      assert.ok(Math.abs(restored.next[0].logit - expected.next[0].logit) < 1e-4);
      for (let attempt = 0; attempt < 50 && !second.logs.some((line) => /restored unsaved sense edits/.test(line)); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(second.logs.some((line) => /\[shown\] .*restored unsaved sense edits of 1 word/.test(line)), second.logs.join('\n'));
      assert.deepEqual((await fsp.readdir(dir)).filter((name) => name.startsWith('sense-edits')), [], 'nothing was written beside the model');

      state = await second.connection.sendRequest(protocol.changeSenseEdits, { modelId: dir, action: 'discard' });
      assert.equal(state.unsaved, false);
      assert.deepEqual(state.editedWords, []);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await fsp.readdir(path.join(storagePath, 'sense-edits')), [], 'the journal is gone once discarded');
    } finally {
      await second.stop();
    }
  } finally {
    if (!crashed) await first.stop();
  }
});

test('predict and the copy probe reach a transformers.js ONNX model through the worker too', async () => {
  const { buildDemoOnnxLanguageModel } = await import('../fixtures/buildOnnxLanguageModel');
  const lm = (await buildDemoOnnxLanguageModel(DEFAULT_DEMO_DIR)).folder;
  await server.connection.sendRequest(protocol.openModel, { path: lm });
  const predicted = await server.connection.sendRequest(protocol.predict, { modelId: lm, text: 'The capital of France is', top: 3 });
  assert.equal(predicted.next.length, 3);
  const probe = await server.connection.sendRequest(protocol.copyProbe, { modelId: lm, options: { ks: [2], shots: [0, 1], queries: 2 } });
  assert.equal(probe.cells.length, 2);
});
