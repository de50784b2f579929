// Backpack features on the fixture: a word's senses (top/bottom words equal a brute-force ranking), the prediction
// explanation (contributions sum to the logit), sense search (every hit is real, and it finds a planted sense),
// manual edits (the MacBook projection moves a sense's score from one word to another), the sidecar round trip,
// and the export (its ONNX outputs equal the in-memory edited model's).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { BackpackModel, openBackpack } from '../../server/features/backpack/backpackModel';
import { explainPrediction } from '../../server/features/backpack/explain';
import { exportEditedBackpack } from '../../server/features/backpack/exportBackpack';
import { applyManualEdit } from '../../server/features/backpack/manualEdits';
import { SIDECAR_JSON, SIDECAR_TENSORS } from '../../server/features/backpack/senseEdits';
import { searchSenses } from '../../server/features/backpack/senseSearch';
import { senseTopWords } from '../../server/features/backpack/senses';
import { ModelRegistry } from '../../server/registry/registry';
import { backpackFixtureTensors, backpackTokenizerJson, TINY_BACKPACK_CONFIG, writeBackpackFolder } from '../fixtures/buildBackpack';

let root: string;
let folder: string;
let backpack: BackpackModel;
const { hidden: d, senses: S, vocabSize: V } = TINY_BACKPACK_CONFIG;

async function freshBackpack(dir: string): Promise<BackpackModel> {
  return openBackpack(await new ModelRegistry().open(dir));
}

before(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-lens-backpack-features-'));
  folder = path.join(root, 'tiny-backpack');
  await fsp.mkdir(folder);
  await writeBackpackFolder(folder, TINY_BACKPACK_CONFIG, backpackFixtureTensors(), await backpackTokenizerJson());
  backpack = await freshBackpack(folder);
});
after(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function bruteForceScores(vector: Float32Array): Float64Array {
  const scores = new Float64Array(V);
  for (let v = 0; v < V; v++) for (let k = 0; k < d; k++) scores[v] += backpack.embedding[v * d + k] * vector[k];
  return scores;
}

describe('Backpack senses', () => {
  test("a word's 16 senses list the same top and bottom words as scoring the whole vocabulary", async () => {
    const paris = backpack.tokenizer.tokenToId('ĠParis')!;
    const result = await senseTopWords(backpack, paris, 20);
    assert.equal(result.token, ' Paris');
    assert.equal(result.senses.length, S);
    const vectors = await backpack.senseVectors([paris]);
    for (const sense of [0, 7, 15]) {
      const scores = bruteForceScores(vectors.subarray(sense * d, (sense + 1) * d));
      const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]);
      assert.deepEqual(result.senses[sense].top.map((w) => w.id), order.slice(0, 20));
      assert.deepEqual(result.senses[sense].bottom.map((w) => w.id), order.slice(-20).reverse());
      assert.ok(Math.abs(result.senses[sense].top[0].score - scores[order[0]]) < 1e-3);
    }
  });

  test('the explanation of a prediction decomposes the logit exactly into α·(E·C) terms', async () => {
    const explanation = await explainPrediction(backpack, { text: 'The capital of France is', top: 400 });
    const s = explanation.tokens.length;
    assert.equal(explanation.position, s - 1);
    assert.equal(explanation.alpha.length, S);
    assert.equal(explanation.alpha[0].length, s);
    for (const row of explanation.alpha) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.ok(Math.abs(explanation.total - explanation.target.logit) < 1e-3, `${explanation.total} vs ${explanation.target.logit}`);
    assert.equal(explanation.contributions.length, S * s);
    assert.equal(explanation.target.id, explanation.predictions[0].id);
    const chosen = await explainPrediction(backpack, { text: 'The capital of France is', target: ' Paris' });
    assert.equal(chosen.target.token, ' Paris');
  });
});

describe('Sense search', () => {
  test('finds a sense planted to point at the query word, and every hit really has the query in its top words', async () => {
    const queen = backpack.tokenizer.tokenToId('Ġqueen')!;
    const king = backpack.tokenizer.tokenToId('Ġking')!;
    const edits = backpack.edits!;
    // Plant: sense 5 of " king" becomes (mostly) the embedding of " queen".
    const current = (await backpack.senseVectors([king])).subarray(5 * d, 6 * d);
    edits.addDelta(king, 5, Array.from({ length: d }, (_, k) => 3 * backpack.embedding[queen * d + k] - current[k]));
    backpack.editsChanged();
    try {
      const result = await searchSenses(backpack, { query: ' queen', top: 20, limit: 30 });
      assert.equal(result.query.id, queen);
      assert.ok(result.hits.some((h) => h.tokenId === king && h.sense === 5 && h.rank <= 3), 'the planted sense is found');
      for (const hit of result.hits.slice(0, 10)) {
        const vector = (await backpack.senseVectors([hit.tokenId])).subarray(hit.sense * d, (hit.sense + 1) * d);
        const scores = bruteForceScores(vector);
        const better = Array.from(scores).filter((v) => v > scores[queen]).length;
        assert.equal(better + 1, hit.rank, `rank of the query in ${hit.token}/${hit.sense}`);
      }
    } finally {
      edits.clear();
      backpack.editsChanged();
    }
  });
});

describe('Manual edits, the sidecar and the export', () => {
  test('the MacBook projection moves each sense\'s score for " Apple" onto " HP"', async () => {
    const dir = path.join(root, 'macbook');
    await fsp.mkdir(dir);
    await writeBackpackFolder(dir, TINY_BACKPACK_CONFIG, backpackFixtureTensors(), await backpackTokenizerJson());
    const model = await freshBackpack(dir);
    const macbook = model.tokenizer.tokenToId('ĠMacBook')!;
    const apple = model.tokenizer.tokenToId('ĠApple')!;
    const hp = model.tokenizer.tokenToId('ĠHP')!;
    const dot = (v: Float32Array, id: number) => v.reduce((sum, x, k) => sum + x * model.embedding[id * d + k], 0);
    const norm2 = (id: number) => dot(model.embedding.subarray(id * d, (id + 1) * d), id);
    const before = await model.senseVectors([macbook]);
    await applyManualEdit(model, { kind: 'project', word: ' MacBook', from: ' Apple', to: ' HP' });
    const after = await model.senseVectors([macbook]);
    for (let l = 0; l < S; l++) {
      const b = before.subarray(l * d, (l + 1) * d);
      const a = after.subarray(l * d, (l + 1) * d);
      // s·a/|a|² is carried over to the HP direction: the new sense scores HP by (s·a)·|h|²/|h|²·… = s·a (relative)
      const expectedOnHp = dot(b, hp) + (dot(b, apple) / norm2(apple)) * (norm2(apple) / norm2(hp)) * dot(model.embedding.subarray(hp * d, (hp + 1) * d), hp) - (dot(b, apple) / norm2(apple)) * dot(model.embedding.subarray(apple * d, (apple + 1) * d), hp);
      assert.ok(Math.abs(dot(a, hp) - expectedOnHp) < 1e-3 * (1 + Math.abs(expectedOnHp)));
    }
    assert.equal(model.edits!.history.at(-1)?.method, 'project');
  });

  test('saving the sidecar and reopening the model reproduces the edited logits; the toggle switches them off', async () => {
    const dir = path.join(root, 'sidecar');
    await fsp.mkdir(dir);
    await writeBackpackFolder(dir, TINY_BACKPACK_CONFIG, backpackFixtureTensors(), await backpackTokenizerJson());
    const model = await freshBackpack(dir);
    const ids = model.tokenizer.tokenize('The king of France is').map((t) => t.id);
    const original = await model.forward([ids]);
    await applyManualEdit(model, { kind: 'scale-sense', word: ' king', sense: 2, factor: 4 });
    await applyManualEdit(model, { kind: 'scale-alpha', word: ' France', sense: 9, factor: 0 });
    const edited = await model.forward([ids]);
    assert.ok(edited.logits.some((v, i) => Math.abs(v - original.logits[i]) > 1e-2));
    await model.edits!.save(dir);
    assert.ok((await fsp.readdir(dir)).includes(SIDECAR_TENSORS) && (await fsp.readdir(dir)).includes(SIDECAR_JSON));
    const reopened = await freshBackpack(dir);
    assert.equal(reopened.edits!.size, 2);
    assert.deepEqual(reopened.edits!.history.map((h) => h.method), ['scale-sense', 'scale-alpha']);
    const again = await reopened.forward([ids]);
    assert.ok(again.logits.every((v, i) => Math.abs(v - edited.logits[i]) < 1e-5));
    reopened.edits!.enabled = false;
    reopened.editsChanged();
    const off = await reopened.forward([ids]);
    assert.ok(off.logits.every((v, i) => Math.abs(v - original.logits[i]) < 1e-5));
  });

  test("the exported model's ONNX outputs equal the in-memory edited model's, and the export never overwrites", async () => {
    const dir = path.join(root, 'to-export');
    await fsp.mkdir(dir);
    await writeBackpackFolder(dir, TINY_BACKPACK_CONFIG, backpackFixtureTensors(), await backpackTokenizerJson());
    const model = await freshBackpack(dir);
    await applyManualEdit(model, { kind: 'project', word: ' MacBook', from: ' Apple', to: ' HP' });
    await applyManualEdit(model, { kind: 'scale-alpha', word: ' nurse', sense: 10, factor: 0.25 });
    const ids = model.tokenizer.tokenize('My nurse bought a MacBook from').map((t) => t.id);
    const edited = await model.forward([ids]);
    const out = path.join(root, 'exported');
    const result = await exportEditedBackpack(model, out);
    assert.ok(result.files.includes('model.onnx') && result.files.includes('model.safetensors') && result.files.includes(SIDECAR_TENSORS));
    assert.ok((await fsp.readFile(path.join(out, 'model.safetensors'))).equals(await fsp.readFile(path.join(dir, 'model.safetensors'))), 'weights byte-identical');

    const session = await ort.InferenceSession.create(path.join(out, 'model.onnx'));
    assert.deepEqual(session.inputNames, ['input_ids']);
    const run = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) });
    const logits = run.logits.data as Float32Array;
    assert.ok(logits.every((v, i) => Math.abs(v - edited.logits[i]) < 1e-4));
    const reopened = await freshBackpack(out);
    const viaSidecar = await reopened.forward([ids]);
    assert.ok(viaSidecar.logits.every((v, i) => Math.abs(v - edited.logits[i]) < 1e-5));
    const viaOnnxFile = await openBackpack(await new ModelRegistry().open(path.join(out, 'model.onnx')));
    assert.equal(viaOnnxFile.editable, false);
    assert.ok((await viaOnnxFile.forward([ids])).logits.every((v, i) => Math.abs(v - edited.logits[i]) < 1e-4));

    await assert.rejects(exportEditedBackpack(model, out), /already exists/);
    await assert.rejects(exportEditedBackpack(model, path.join(dir, 'inside')), /outside the model folder/);
    assert.deepEqual((await fsp.readdir(root)).filter((name) => name.includes('exporting')), []);
  });
});
