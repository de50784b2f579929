/**
 * The permutation-learning probes through the server: theory at once, an ensemble run in the worker with progress
 * and cancellation, and a clear refusal where no language-model runner exists.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { CancellationTokenSource, ResponseError } from 'vscode-languageserver-protocol/node';
import * as protocol from '../../server/protocol';
import { buildDemoCheckpoints, DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { startServer, type ServerHandle } from '../support/serverProcess';

let server: ServerHandle;

before(async () => {
  await buildDemoCheckpoints();
  server = await startServer({});
});

after(async () => {
  await server?.stop();
});

test('theory for k = 10 covers every support size and rounds each correctly', async () => {
  const theory = await server.connection.sendRequest(protocol.permutationTheory, { k: 10 });
  assert.equal(theory.supportSizes.length, 10);
  for (const size of theory.supportSizes) {
    assert.ok(size.meanOn > 0, `n = ${size.n}: on-support mean is positive`);
    assert.ok(size.meanOff <= 0, `n = ${size.n}: off-support mean is not positive`);
  }
});

test('an ensemble at k = 5 reaches the target through the worker and reports where it stopped', async () => {
  const result = await server.connection.sendRequest(protocol.permutationProbe, { k: 5, width: 128, target: 0.9, maxModels: 200, seed: 3 });
  assert.ok(result.stoppedAt !== null && result.stoppedAt !== undefined, 'a stopping size is reported');
  assert.ok(result.curve.accuracy.at(-1)! >= 0.9, JSON.stringify(result.curve.accuracy.slice(-3)));
});

test('a cancelled run answers with a user-facing cancellation, and the server goes on', async () => {
  const source = new CancellationTokenSource();
  const pending = server.connection.sendRequest(protocol.permutationProbe, { k: 12, width: 2048, target: 0.999, maxModels: 5000, seed: 1 }, source.token);
  setTimeout(() => source.cancel(), 500);
  await assert.rejects(pending, (error: unknown) => error instanceof ResponseError && /cancel/i.test(error.message));
  const theory = await server.connection.sendRequest(protocol.permutationTheory, { k: 3 });
  assert.equal(theory.supportSizes.length, 3);
});

test('the copy probe refuses a model it cannot run, saying what is supported', async () => {
  const llama = path.join(DEFAULT_DEMO_DIR, 'tiny-llama3-f32');
  await server.connection.sendRequest(protocol.openModel, { path: llama });
  await assert.rejects(server.connection.sendRequest(protocol.copyProbe, { modelId: llama }), (error: unknown) => {
    assert.ok(error instanceof ResponseError);
    assert.equal((error.data as protocol.UserErrorData).modelLensError, true);
    assert.match(error.message, /cannot run next-token logits/);
    return true;
  });
});
