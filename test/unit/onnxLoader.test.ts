import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelLensError, type ModelLensErrorCode } from '../../server/errors';
import { MODEL_LOADERS } from '../../server/loaders';
import { findOnnxModelInFolder, onnxLoader, readOnnxGraph, readOnnxWeights, type OnnxEmbeddings } from '../../server/loaders/onnx';
import {
  buildFormatFixtures,
  externalOnnxEmbedding,
  externalOnnxHead,
  gatherMatmulOnnxBytes,
  tiedOnnxEmbedding,
  tinyOnnxEmbedding,
  tinyOnnxHead,
  type FormatFixtures,
} from '../fixtures/buildFormatFixtures';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'model-lens-onnx-'));
let fx: FormatFixtures;
before(async () => {
  fx = await buildFormatFixtures(path.join(tmpRoot, 'fixtures'));
});
after(() => fsp.rm(tmpRoot, { recursive: true, force: true }));

async function rejectsWith(promise: Promise<unknown>, code: ModelLensErrorCode, message: RegExp, file?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ModelLensError, `expected a ModelLensError, got ${String(error)}`);
    assert.equal(error.code, code, error.toUserMessage());
    assert.match(error.message, message);
    if (file) assert.equal(error.file, file);
    assert.ok(error.hint, 'a hostile file gets a hint saying what to do');
    return true;
  });
}

test('tiny.onnx: the embedding is the Gather on input_ids (through Cast), the head the MatMul weight feeding logits', async () => {
  const model = await onnxLoader.open(fx.onnx.tiny);
  assert.equal(model.format, 'onnx');
  const embeddings = model.embeddings as OnnxEmbeddings;
  assert.equal(embeddings.input?.name, 'embed_tokens.weight');
  assert.deepEqual(embeddings.input?.shape, [6, 4]);
  assert.equal(embeddings.output?.name, 'onnx::MatMul_7', 'found from the wiring, whatever its name');
  assert.deepEqual(embeddings.output?.shape, [4, 6]);
  assert.equal(embeddings.outputTransposed, true, 'a MatMul weight is stored [hidden, vocab]');
  assert.equal(embeddings.tied, false);
  assert.equal(embeddings.idsInput, 'input_ids');
  assert.equal(embeddings.logitsOutput, 'logits');
  assert.deepEqual(embeddings.notes, []);
  assert.equal(model.config?.vocab_size, 6);
  assert.equal(model.config?.hidden_size, 4);
});

test('tiny.onnx: raw_data and packed float_data initializers read back exactly', async () => {
  const model = await onnxLoader.open(fx.onnx.tiny);
  assert.deepEqual(await model.readTensor('embed_tokens.weight'), tinyOnnxEmbedding());
  assert.deepEqual(await model.readTensor('onnx::MatMul_7'), tinyOnnxHead());
  await rejectsWith(model.readTensor('nope'), 'not-found', /has no initializer "nope"/);
});

test('the graph structure: nodes, graph inputs and outputs, opset, producer', async () => {
  const graph = await readOnnxGraph(fx.onnx.tiny);
  assert.deepEqual(graph.nodes.map((n) => n.opType), ['Cast', 'Gather', 'MatMul']);
  assert.deepEqual(graph.nodes[1].inputs, ['embed_tokens.weight', 'ids64']);
  assert.deepEqual(graph.nodes[0].ints, { to: 7 });
  assert.deepEqual(graph.inputs, [{ name: 'input_ids', elemType: 7, shape: ['batch', 'sequence'] }]);
  assert.deepEqual(graph.outputs, [{ name: 'logits', elemType: 1, shape: ['batch', 'sequence', 6] }]);
  assert.deepEqual(graph.opsets, [{ domain: '', version: 17 }]);
  assert.equal(graph.producer, 'model-lens-fixtures');
  assert.equal(graph.irVersion, 8);
  assert.deepEqual(graph.initializers.map((i) => [i.name, i.storage, i.dtype]), [
    ['embed_tokens.weight', 'raw_data', 'F32'],
    ['onnx::MatMul_7', 'float_data', 'F32'],
  ]);
});

test('ONNX Runtime agrees: its logits equal embedding rows times the head that the loader read', async () => {
  const ort = await import('onnxruntime-node');
  const ids = [1, 4, 0, 3];
  for (const file of [fx.onnx.tiny, fx.onnx.external]) {
    const model = await onnxLoader.open(file);
    const embeddings = model.embeddings as OnnxEmbeddings;
    const embedding = await model.readTensor(embeddings.input!.name);
    const head = await model.readTensor(embeddings.output!.name);
    const [vocab, hidden] = embeddings.input!.shape;
    const session = await ort.InferenceSession.create(file);
    const shape = file === fx.onnx.tiny ? [1, ids.length] : [ids.length];
    const result = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), shape) });
    const logits = result.logits.data as Float32Array;
    for (let t = 0; t < ids.length; t++) {
      for (let v = 0; v < vocab; v++) {
        let sum = 0;
        for (let h = 0; h < hidden; h++) {
          const w = embeddings.outputTransposed ? head[h * vocab + v] : head[v * hidden + h];
          sum += embedding[ids[t] * hidden + h] * w;
        }
        assert.ok(Math.abs(logits[t * vocab + v] - sum) < 1e-5, `${path.basename(file)} logit [${t}, ${v}]: ${logits[t * vocab + v]} vs ${sum}`);
      }
    }
    await session.release();
  }
});

test('external data: F32 and F16 initializers in a .data file beside the model, Gemm with transB = 1', async () => {
  const model = await onnxLoader.open(fx.onnx.external);
  const embeddings = model.embeddings as OnnxEmbeddings;
  assert.equal(embeddings.input?.name, 'wte');
  assert.equal(embeddings.input?.file, fx.onnx.externalData);
  assert.equal(embeddings.output?.name, 'head16', 'found through the Cast between the initializer and the Gemm');
  assert.equal(embeddings.output?.dtype, 'F16');
  assert.equal(embeddings.output?.offset, 64);
  assert.equal(embeddings.outputTransposed, false, 'Gemm with transB = 1 holds [vocab, hidden]');
  assert.deepEqual(await model.readTensor('wte'), externalOnnxEmbedding());
  assert.deepEqual(await model.readTensor('head16'), externalOnnxHead());
  assert.ok(model.files.includes(fx.onnx.externalData));
});

test('a head that is a Transpose of the embedding is tied; BF16 reads back', async () => {
  const model = await onnxLoader.open(fx.onnx.tied);
  assert.equal(model.embeddings.tied, true);
  assert.equal(model.embeddings.output, undefined);
  assert.equal(model.embeddings.input?.dtype, 'BF16');
  assert.deepEqual(await model.readTensor('embed'), tiedOnnxEmbedding());
});

test('opening parses the structure only: the weights of a 4 MB model are stepped over, not read', async () => {
  const file = path.join(tmpRoot, 'big.onnx');
  await fsp.writeFile(file, gatherMatmulOnnxBytes(8192, 96));
  const size = (await fsp.stat(file)).size;
  const graph = await readOnnxGraph(file);
  assert.ok(size > 4_000_000);
  assert.ok(graph.bytesRead < 300_000, `read ${graph.bytesRead} of ${size} bytes`);
  const weights = await readOnnxWeights(file);
  assert.deepEqual(weights.embeddings.input?.shape, [8192, 96]);
  const head = await weights.readTensor('head');
  assert.equal(head.length, 8192 * 96);
  assert.equal(head[5], ((0 * 3 + 5) % 13) - 6);
});

test('onnx/model.onnx in a Hugging Face folder: found by findOnnxModelInFolder, tokenizer from the parent folder', async () => {
  assert.equal(await findOnnxModelInFolder(fx.onnx.hfFolder), fx.onnx.hfModel);
  assert.equal(await findOnnxModelInFolder(path.dirname(fx.onnx.tiny)), undefined);
  const model = await onnxLoader.open(fx.onnx.hfModel);
  assert.ok(model.tokenizer, 'tokenizer.json one folder up is used');
  assert.deepEqual(model.tokenizer!.tokenize('hello world').map((t) => [t.text, t.id, t.start, t.end]), [
    ['hello', 1, 0, 5],
    ['world', 2, 6, 11],
  ]);
  assert.ok(model.files.includes(path.join(fx.onnx.hfFolder, 'tokenizer.json')));
  const weights = await readOnnxWeights(fx.onnx.hfModel);
  assert.equal(weights.embeddings.input?.name, 'embed_tokens.weight');
});

test('when the graph does not show the embedding (a merged decoder), the exporter\'s names are used, and said so', async () => {
  const model = await onnxLoader.open(fx.onnx.byName);
  const embeddings = model.embeddings as OnnxEmbeddings;
  assert.equal(embeddings.input?.name, 'model.embed_tokens.weight');
  assert.equal(embeddings.output?.name, 'lm_head.weight');
  assert.equal(embeddings.outputTransposed, false);
  assert.ok(embeddings.notes.some((note) => /found by name/.test(note)), embeddings.notes.join('; '));
  assert.deepEqual(await model.readTensor('lm_head.weight'), tinyOnnxEmbedding());
});

test('only float initializers are read as float32; others are refused by ONNX type name', async () => {
  const model = await onnxLoader.open(fx.onnx.intEmbedding);
  assert.equal(model.embeddings.input?.name, 'table');
  await rejectsWith(model.readTensor('table'), 'unsupported', /initializer "table" is INT64; Model Lens reads FLOAT, FLOAT16 and BFLOAT16/);
});

test('the registry picks the ONNX loader for .onnx files only', async () => {
  const first = async (target: string) => {
    for (const loader of MODEL_LOADERS) if (await loader.canOpen(target)) return loader;
    return undefined;
  };
  assert.equal(await first(fx.onnx.tiny), onnxLoader);
  assert.equal(await onnxLoader.canOpen(path.dirname(fx.onnx.tiny)), false);
  assert.equal(await onnxLoader.canOpen(fx.gguf.llama), false);
});

test('hostile and broken ONNX files give a ModelLensError saying what is wrong', async () => {
  const h = fx.onnxHostile;
  await rejectsWith(onnxLoader.open(h.truncated), 'bad-input', /declares \d+ bytes but only \d+ remain/, h.truncated);
  await rejectsWith(onnxLoader.open(h.lyingLength), 'bad-input', /field 9 of a TensorProto at byte \d+ declares 1000 bytes but only 16 remain/);
  await rejectsWith(onnxLoader.open(h.badVarint), 'bad-input', /longer than 10 bytes/);
  await rejectsWith(onnxLoader.open(h.rawLengthMismatch), 'bad-input', /initializer "embed": raw_data holds 20 bytes but dims \[6, 4\] of FLOAT need 96/);
  await rejectsWith(onnxLoader.open(h.traversal), 'bad-input', /external data location "\.\.\/outside\.bin" leads out of the model's folder \(path traversal refused\)/);
  await rejectsWith(onnxLoader.open(h.absoluteLocation), 'bad-input', /is an absolute path \(refused/);
  await rejectsWith(onnxLoader.open(h.externalPastEnd), 'bad-input', /external data "short\.data" bytes 0\.\.96 run past the end of that file \(16 bytes\)/);
  await rejectsWith(onnxLoader.open(h.externalMissing), 'not-found', /its external data file "missing\.data" does not exist beside the model/);
  await rejectsWith(onnxLoader.open(h.noGraph), 'bad-input', /holds no ONNX graph/);
  await rejectsWith(onnxLoader.open(h.negativeDim), 'bad-input', /initializer "embed" has a dimension below zero/);
  await rejectsWith(onnxLoader.open(h.notOnnx), 'bad-input', /wire type 7/);
  await rejectsWith(onnxLoader.open(path.join(tmpRoot, 'absent.onnx')), 'not-found', /does not exist/);
});

test('a symlink that leads external data out of the model folder is refused', async () => {
  const folder = path.join(tmpRoot, 'symlinked');
  await fsp.mkdir(folder, { recursive: true });
  const model = path.join(folder, 'model.onnx');
  await fsp.copyFile(fx.onnxHostile.externalPastEnd, model);
  // past-end.onnx names "short.data"; here that is a link to a file outside the folder.
  await fsp.symlink(path.join(path.dirname(fx.onnxHostile.traversal), '..', 'outside.bin'), path.join(folder, 'short.data'));
  await rejectsWith(onnxLoader.open(model), 'bad-input', /is a link that leads out of the model's folder/);
});
