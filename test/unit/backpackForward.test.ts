// The Backpack forward pass: the ONNX graph built in code agrees with the plain TypeScript reference on the fixture
// (logits, senses, α), α rows are distributions, edits change exactly what they should, and broken checkpoints
// (missing tensors, wrong shapes, num_senses not dividing d, pickle-only folders) are refused with clear errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseBackpackConfig } from '../../server/features/backpack/backpackConfig';
import { openBackpack, type BackpackModel } from '../../server/features/backpack/backpackModel';
import { loadBackpackWeights, type BackpackWeights } from '../../server/features/backpack/backpackWeights';
import { ModelRegistry } from '../../server/registry/registry';
import { backpackFixtureTensors, backpackTokenizerJson, TINY_BACKPACK_CONFIG, writeBackpackFolder } from '../fixtures/buildBackpack';
import { referenceBackpackForward } from '../support/backpackReference';

let root: string;
let folder: string;
let backpack: BackpackModel;
let weights: BackpackWeights;
const registry = new ModelRegistry();

before(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-lens-backpack-'));
  folder = path.join(root, 'tiny-backpack');
  await fsp.mkdir(folder);
  await writeBackpackFolder(folder, TINY_BACKPACK_CONFIG, backpackFixtureTensors(), await backpackTokenizerJson());
  const model = await registry.open(folder);
  backpack = await openBackpack(model);
  weights = await loadBackpackWeights(model, backpack.config);
});
after(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('Backpack forward: ONNX graph vs TypeScript reference', () => {
  const texts = ['The capital of France is Paris', 'The king and the queen of science went to London and Berlin, then Tokyo.'];
  for (const text of texts) {
    test(`agrees to 1e-4 on "${text.slice(0, 30)}…"`, async () => {
      const ids = backpack.tokenizer.tokenize(text).map((t) => t.id);
      assert.ok(ids.length >= 6);
      const onnx = await backpack.forward([ids]);
      const reference = referenceBackpackForward(weights, ids);
      assert.ok(maxAbsDifference(onnx.logits, reference.logits) < 1e-4, 'logits');
      assert.ok(maxAbsDifference(onnx.senses, reference.senses) < 1e-4, 'senses');
      assert.ok(maxAbsDifference(onnx.contextualization, reference.contextualization) < 1e-4, 'contextualization');
    });
  }

  test('α is causal and each row sums to 1 over source positions', async () => {
    const ids = backpack.tokenizer.tokenize('one two three four five').map((t) => t.id);
    const s = ids.length;
    const { contextualization } = await backpack.forward([ids]);
    for (let l = 0; l < TINY_BACKPACK_CONFIG.senses; l++) {
      for (let i = 0; i < s; i++) {
        let sum = 0;
        for (let j = 0; j < s; j++) {
          const a = contextualization[(l * s + i) * s + j];
          if (j > i) assert.ok(a < 1e-6, `future position ${j} from ${i} has weight ${a}`);
          sum += a;
        }
        assert.ok(Math.abs(sum - 1) < 1e-5);
      }
    }
  });

  test('a batch gives the same rows as one sequence at a time', async () => {
    const a = backpack.tokenizer.tokenize('The capital of France').map((t) => t.id);
    const b = backpack.tokenizer.tokenize('The queen of science').map((t) => t.id);
    assert.equal(a.length, b.length);
    const both = await backpack.forward([a, b]);
    const second = await backpack.forward([b]);
    const V = TINY_BACKPACK_CONFIG.vocabSize;
    assert.ok(maxAbsDifference(both.logits.subarray(b.length * V), second.logits) < 1e-5);
  });

  test('sense edits (additive delta and α scale) match the reference with the same edits, and can be switched off', async () => {
    const ids = backpack.tokenizer.tokenize('The capital of France is Paris').map((t) => t.id);
    const france = backpack.tokenizer.tokenToId('ĠFrance')!;
    const { senses, hidden } = TINY_BACKPACK_CONFIG;
    const delta = new Float32Array(senses * hidden);
    for (let k = 0; k < hidden; k++) delta[3 * hidden + k] = Math.sin(k) * 0.5;
    const scale = new Float32Array(senses).fill(1);
    scale[7] = 2.5;
    const edits = backpack.edits!;
    edits.addDelta(france, 3, delta.subarray(3 * hidden, 4 * hidden));
    edits.scaleContribution(france, 7, 2.5);
    backpack.editsChanged();
    try {
      const edited = await backpack.forward([ids]);
      const reference = referenceBackpackForward(weights, ids, { delta: new Map([[france, delta]]), scale: new Map([[france, scale]]) });
      assert.ok(maxAbsDifference(edited.logits, reference.logits) < 1e-4);
      assert.ok(maxAbsDifference(edited.senses, reference.senses) < 1e-4);
      edits.enabled = false;
      backpack.editsChanged();
      const plain = await backpack.forward([ids]);
      assert.ok(maxAbsDifference(plain.logits, referenceBackpackForward(weights, ids).logits) < 1e-4);
      assert.ok(maxAbsDifference(plain.logits, edited.logits) > 1e-2, 'the edit changed the logits');
    } finally {
      edits.enabled = true;
      edits.clear();
      backpack.editsChanged();
    }
  });
});

describe('Backpack checkpoints that do not fit', () => {
  async function brokenFolder(name: string, change: (tensors: Map<string, Float32Array>, config: typeof TINY_BACKPACK_CONFIG) => typeof TINY_BACKPACK_CONFIG | void) {
    const dir = path.join(root, name);
    await fsp.mkdir(dir);
    const tensors = backpackFixtureTensors();
    const config = change(tensors, { ...TINY_BACKPACK_CONFIG }) ?? TINY_BACKPACK_CONFIG;
    await writeBackpackFolder(dir, config, tensors, await backpackTokenizerJson());
    return dir;
  }

  test('a missing tensor is named', async () => {
    const dir = await brokenFolder('missing', (tensors) => void tensors.delete('backpack.sense_weight_net.c_attn.bias'));
    const model = await new ModelRegistry().open(dir);
    await assert.rejects(openBackpack(model), /missing 1 tensor\(s\): backpack\.sense_weight_net\.c_attn\.bias/);
  });

  test('a config that disagrees with the weights names the tensor and both shapes', async () => {
    const dir = await brokenFolder('wrong-shape', () => undefined);
    const configFile = path.join(dir, 'config.json');
    const config = JSON.parse(await fsp.readFile(configFile, 'utf8'));
    config.sense_intermediate_scale = 2;
    await fsp.writeFile(configFile, JSON.stringify(config));
    const model = await new ModelRegistry().open(dir);
    await assert.rejects(openBackpack(model), /final_mlp\.c_fc\.weight is \[64, 256\], expected \[64, 128\]/);
  });

  test('num_senses that does not divide the hidden size is refused', () => {
    assert.throws(() => parseBackpackConfig({ model_type: 'backpack-gpt2', n_embd: 64, n_head: 4, num_senses: 12, vocab_size: 10, n_layer: 1, n_positions: 8 }, 'config.json'), /num_senses \(12\) does not divide n_embd \(64\)/);
  });

  test('a pickle-only Backpack folder is refused with how to convert it', async () => {
    const dir = path.join(root, 'pickle');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'backpack-gpt2' }));
    await fsp.writeFile(path.join(dir, 'pytorch_model.bin'), 'not really');
    await assert.rejects(new ModelRegistry().open(dir), (error: Error) => /pickle/.test(error.message) && /safetensors/.test((error as { hint?: string }).hint ?? error.message));
  });
});
