/**
 * Tokenizer transplantation through the server: the request writes a checkpoint and its report, the new model opens
 * and its hovers say how a transplanted token was made, and a cancelled run leaves nothing behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CancellationTokenSource, ResponseError } from 'vscode-languageserver-protocol/node';
import * as protocol from '../../server/protocol';
import { buildDemoCheckpoints, DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { fileUri, startServer, type ServerHandle } from '../support/serverProcess';

const BASE = path.join(DEFAULT_DEMO_DIR, 'tiny-qwen3-bf16-tied');
const DONOR = path.join(DEFAULT_DEMO_DIR, 'tiny-llama3-f32');
let server: ServerHandle;
let scratch: string;

before(async () => {
  await buildDemoCheckpoints();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-transplant-it-'));
  server = await startServer({});
});

after(async () => {
  await server?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

test('a transplant writes the checkpoint and report, and hovers in the new model show the recipe', async () => {
  const out = path.join(scratch, 'qwen-with-llama-tokenizer');
  const progress: number[] = [];
  server.connection.onNotification(protocol.transplantProgress, (update) => progress.push(update.fraction));
  const report = await server.connection.sendRequest(protocol.transplant, { base: BASE, donor: DONOR, out, method: 'mean', selfCheck: 0.02 });
  assert.equal(report.output?.path, out);
  assert.equal(report.matching.rows, 128256);
  assert.ok(report.matching.approximated > 0 && report.provenance.length === report.matching.approximated);
  assert.ok(progress.length > 0 && progress.at(-1)! <= 1, 'progress was reported');
  for (const file of ['config.json', 'tokenizer.json', 'transplant-report.json']) assert.ok(fs.existsSync(path.join(out, file)), file);

  const opened = await server.connection.sendRequest(protocol.openModel, { path: out });
  assert.equal(opened.tokenizer?.vocabSize, 128256);
  assert.equal(opened.embeddings.tied, true, 'a tied base stays tied');
  await server.connection.sendNotification(protocol.updateSettings, { activeTokenizers: [out], hoverDisabledLanguages: [], hoverMaxTokens: 48, embeddingStorage: 'f32' });
  const made = report.provenance[0];
  const uri = fileUri(path.join(scratch, 'probe.json'));
  server.openDocument(uri, 'json', JSON.stringify({ piece: made.token }));
  const hover = (await server.hover(uri, 0, 12)) as { contents: { value: string } } | null;
  assert.ok(hover, 'a hover');
  assert.match(hover.contents.value, new RegExp(`\\*\\*Transplanted\\*\\* .* \\(id ${made.id}\\)`));
  assert.match(hover.contents.value, /input row made by \*\*mean\*\*/);
});

test('a cancelled transplant leaves no output and the server answers the next request', async () => {
  const out = path.join(scratch, 'cancelled');
  const source = new CancellationTokenSource();
  const pending = server.connection.sendRequest(protocol.transplant, { base: BASE, donor: DONOR, out, method: 'omp', k: 8 }, source.token);
  setTimeout(() => source.cancel(), 1500);
  await assert.rejects(pending, (error: unknown) => error instanceof ResponseError && /cancel/i.test(error.message));
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(!fs.existsSync(out), 'nothing at the output path');
  assert.deepEqual(fs.readdirSync(scratch).filter((name) => name.includes('cancelled')), [], 'no temporary folder left either');
  const models = await server.connection.sendRequest(protocol.listModels);
  assert.ok(Array.isArray(models));
});
