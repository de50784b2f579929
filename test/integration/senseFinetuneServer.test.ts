/**
 * What the Backpack Senses panel asks of the server beyond the manual edits: a word's senses by token id (words that do
 * not decode back to one token), and sense finetuning from the demo's canonical examples and general text, with the
 * report per epoch, the edits applied unsaved, a readable error for a bad examples file, and cancellation.
 * The model is a copy of the demo Backpack in a temporary folder, so the demo's own folder is never written to.
 *
 * Run (after npm run build): node --import tsx --test test/integration/senseFinetuneServer.test.ts
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import * as protocol from '../../server/protocol';
import { copyOfDemoBackpack } from '../fixtures/buildBackpack';
import { DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { startServer, type ServerHandle } from '../support/serverProcess';

let server: ServerHandle;
let root: string;
let folder: string;

before(async () => {
  ({ root, folder } = await copyOfDemoBackpack(DEFAULT_DEMO_DIR, 'model-lens-sense-finetune-server-'));
  server = await startServer({});
  await server.connection.sendRequest(protocol.openModel, { path: folder });
});

after(async () => {
  await server?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

test('senses by token id name the token exactly; an id outside the vocabulary is a usage error', async () => {
  const byWord = await server.connection.sendRequest(protocol.senses, { modelId: folder, word: ' Paris', top: 5 });
  const byId = await server.connection.sendRequest(protocol.senses, { modelId: folder, word: 'ignored', tokenId: byWord.tokenId, top: 5 });
  assert.deepEqual(byId, byWord);
  // A byte token whose text is not valid UTF-8 on its own still opens by id.
  const byte = await server.connection.sendRequest(protocol.senses, { modelId: folder, word: '\ufffd', tokenId: 200, top: 3 });
  assert.equal(byte.tokenId, 200);
  await assert.rejects(server.connection.sendRequest(protocol.senses, { modelId: folder, word: 'x', tokenId: 1e9 }), /outside this Backpack's vocabulary/);
});

test('finetuneSenses trains on the demo examples, reports every epoch and leaves the edits applied but unsaved', async () => {
  const files = { examples: path.join(folder, 'canonical-examples.jsonl'), generalText: path.join(folder, 'general-text.txt') };
  const report = await server.connection.sendRequest(protocol.finetuneSenses, { modelId: folder, files, options: { epochs: 3, degradationBudget: 1e-3 } });
  assert.equal(report.modelId, folder);
  assert.equal(report.epochs.length, 3);
  assert.deepEqual(report.epochs.map((e) => e.epoch), [1, 2, 3]);
  assert.equal(report.settings.degradationBudget, 1e-3);
  assert.ok(report.pairs.length > 0, 'some senses were selected');
  assert.equal(report.examples.length, 2);
  const state = await server.connection.sendRequest(protocol.senseEditState, { modelId: folder });
  if (report.applied) {
    assert.ok(report.chosenEpoch >= 1);
    assert.equal(state.unsaved, true);
    assert.ok(state.editedWords.length > 0);
  } else assert.equal(report.chosenEpoch, 0);
  // Nothing was written beside the model until Save.
  assert.ok(!(await fsp.readdir(folder)).some((name) => name.startsWith('sense-edits')));
  await server.connection.sendRequest(protocol.changeSenseEdits, { modelId: folder, action: 'discard' });
});

test('a bad examples file is one readable error naming the file', async () => {
  const bad = path.join(root, 'bad.jsonl');
  await fsp.writeFile(bad, '{"prefix": "The capital of France is"}\n');
  await assert.rejects(
    server.connection.sendRequest(protocol.finetuneSenses, { modelId: folder, files: { examples: bad, generalText: path.join(folder, 'general-text.txt') } }),
    (error: Error & { data?: protocol.UserErrorData }) => error.data?.modelLensError === true && /bad\.jsonl/.test(`${error.message} ${error.data.file ?? ''}`),
  );
});

test('finetuneSenses honours cancellation', async () => {
  const source = new CancellationTokenSource();
  const files = { examples: path.join(folder, 'canonical-examples.jsonl'), generalText: path.join(folder, 'general-text.txt') };
  const pending = server.connection.sendRequest(protocol.finetuneSenses, { modelId: folder, files, options: { epochs: 500 } }, source.token);
  setTimeout(() => source.cancel(), 300);
  await assert.rejects(pending, /cancel/i);
  const state = await server.connection.sendRequest(protocol.senseEditState, { modelId: folder });
  assert.equal(state.unsaved, false, 'a cancelled run applies nothing');
});
