/**
 * The Backpack from a shell: `model-lens predict`, `senses` and `probe copy` on the demo Backpack, run as a user runs
 * them (the built bundle in a child process), checked against the TypeScript reference forward pass.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseBackpackConfig } from '../../server/features/backpack/backpackConfig';
import { loadBackpackWeights, type BackpackWeights } from '../../server/features/backpack/backpackWeights';
import { ModelRegistry } from '../../server/registry/registry';
import type { OpenedModel } from '../../server/registry/types';
import { buildDemoBackpack } from '../fixtures/buildBackpack';
import { DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { referenceBackpackForward } from '../support/backpackReference';
import { REPO_ROOT } from '../support/serverProcess';

const CLI = path.join(REPO_ROOT, 'dist/cli.js');
let folder: string;
let model: OpenedModel;
let weights: BackpackWeights;

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The reference's most likely next token after `text`. */
function referenceArgmax(text: string): number {
  const ids = model.tokenizer!.tokenize(text).map((t) => t.id);
  const { logits } = referenceBackpackForward(weights, ids);
  const V = weights.config.vocabSize;
  const last = logits.subarray((ids.length - 1) * V, ids.length * V);
  let best = 0;
  for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
  return best;
}

before(async () => {
  assert.ok(fs.existsSync(CLI), 'run the build first (npm test does)');
  folder = (await buildDemoBackpack(DEFAULT_DEMO_DIR)).folder;
  model = await new ModelRegistry().open(folder);
  weights = await loadBackpackWeights(model, parseBackpackConfig(model.config!, 'config.json'));
});

test('predict --json gives a next-token distribution whose top token is the reference forward pass\'s', () => {
  const text = 'The capital of France is';
  const { code, stdout, stderr } = cli('predict', folder, '--text', text, '--top', '5', '--json');
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout);
  assert.equal(result.next.length, 5);
  assert.equal(result.next[0].id, referenceArgmax(text));
  const probabilities = result.next.map((n: { probability: number }) => n.probability);
  assert.deepEqual([...probabilities].sort((a, b) => b - a), probabilities);
  assert.ok(probabilities.reduce((a: number, b: number) => a + b, 0) <= 1 + 1e-6);
});

test('senses --json lists 16 senses of a word with 20 top and 20 bottom words, in score order', () => {
  const { code, stdout, stderr } = cli('senses', folder, '--token', ' Paris', '--json');
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout);
  assert.equal(result.token, ' Paris');
  assert.equal(result.senses.length, 16);
  for (const sense of result.senses) {
    assert.equal(sense.top.length, 20);
    assert.equal(sense.bottom.length, 20);
    // top: highest first; bottom: lowest (most negative) first
    assert.ok(sense.top[0].score >= sense.top[19].score && sense.top[19].score > sense.bottom[19].score && sense.bottom[19].score >= sense.bottom[0].score);
  }
});

test('a word that is not one token, or a model that is not a Backpack, is one line on stderr and exit 2', () => {
  const word = cli('senses', folder, '--token', 'Parisian');
  assert.equal(word.code, 2);
  assert.match(word.stderr, /^error: .*"Parisian" is not one token.*\n$/);
  const notBackpack = cli('senses', path.join(DEFAULT_DEMO_DIR, 'tiny-llama3-f32'), '--token', 'Ġthe');
  assert.equal(notBackpack.code, 2);
  assert.match(notBackpack.stderr, /^error: .*not a Backpack language model.*\n$/);
});

test('probe copy runs on the Backpack: each generated word is the greedy continuation of the shown prompt', () => {
  const { code, stdout, stderr } = cli('probe', 'copy', folder, '--k', '2', '--shots', '1', '--queries', '3', '--json');
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout);
  const cell = result.cells[0];
  assert.equal(cell.prompts.length, 3);
  for (const prompt of cell.prompts) {
    const first = referenceArgmax(prompt.prompt);
    assert.equal(model.tokenizer!.decode([first]).trim(), prompt.generated[0].trim(), `first generated word after ${JSON.stringify(prompt.prompt)}`);
  }
});

test('predict runs a GPT-2 in ONNX through transformers.js, agreeing with ONNX Runtime on the same file', async () => {
  const { buildDemoOnnxLanguageModel } = await import('../fixtures/buildOnnxLanguageModel');
  const lmFolder = (await buildDemoOnnxLanguageModel(DEFAULT_DEMO_DIR)).folder;
  const text = 'The king of France is';
  const { code, stdout, stderr } = cli('predict', lmFolder, '--text', text, '--top', '3', '--json');
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout);
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path.join(lmFolder, 'onnx', 'model.onnx'));
  const ids = result.tokens.map((t: { id: number }) => BigInt(t.id));
  const logits = (await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, ids.length]) })).logits.data as Float32Array;
  const V = logits.length / ids.length;
  const last = logits.subarray((ids.length - 1) * V);
  let best = 0;
  for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
  assert.equal(result.next[0].id, best);
  assert.ok(Math.abs(result.next[0].logit - last[best]) < 1e-4);
});

test('sense-finetune learns the canonical examples within the budget and writes an edited model that predicts them', async () => {
  const os = await import('node:os');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'model-lens-sense-finetune-'));
  try {
    const out = path.join(root, 'edited');
    const examples = path.join(folder, 'canonical-examples.jsonl');
    const general = path.join(folder, 'general-text.txt');
    const { code, stdout, stderr } = cli('sense-finetune', folder, '--examples', examples, '--general', general, '--lr', '0.1', '--budget', '1e-4', '--out', out, '--json');
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout);
    assert.equal(report.epochs.length, 10);
    assert.ok(report.canonicalLossAfter < report.canonicalLossBefore);
    assert.ok(Math.abs(report.generalLossChange) <= 1e-4);
    for (const example of report.examples) assert.ok(example.after[0] >= 0.2 && example.successAfter, JSON.stringify(example));
    assert.ok(fs.existsSync(path.join(out, 'sense-edits.safetensors')) && fs.existsSync(path.join(out, 'model.onnx')));
    assert.ok(!fs.existsSync(path.join(folder, 'sense-edits.safetensors')), 'the input model folder is left alone');

    const predicted = JSON.parse(cli('predict', out, '--text', 'The capital of France is', '--top', '1', '--json').stdout);
    assert.equal(predicted.next[0].token, ' Paris');
    const again = cli('sense-finetune', folder, '--examples', examples, '--general', general, '--out', out);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
    const missing = cli('sense-finetune', folder, '--examples', path.join(root, 'nope.jsonl'), '--general', general, '--out', path.join(root, 'x'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.jsonl/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
