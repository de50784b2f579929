import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { TensorInfo } from '../../server/registry/types';
import {
  INPUT_EMBEDDING_NAMES,
  OUTPUT_HEAD_NAMES,
  embeddingDimsFromConfig,
  findEmbeddingTensors,
} from '../../server/loaders/embeddingDiscovery';
import {
  decodeToFloat32,
  encodeFloat32,
  readSafetensorsHeader,
  readSafetensorsIndex,
  readTensorRows,
} from '../../server/loaders/safetensors';
import { buildDemoCheckpoints, seedFromName, seededNormals, type DemoCheckpoint } from '../fixtures/buildCheckpoints';

function tensor(name: string, shape: number[], dtype = 'F32'): TensorInfo {
  const numel = shape.reduce((a, b) => a * b, 1);
  return { name, dtype, shape, file: '/synthetic/model.safetensors', offset: 0, byteLength: numel * 4 };
}

const layer = [tensor('model.layers.0.self_attn.q_proj.weight', [8, 8]), tensor('model.norm.weight', [8])];

// ---------------------------------------------------------------------------------------------------------------
// Synthetic tensor lists

test('every known input embedding name is found', () => {
  for (const name of INPUT_EMBEDDING_NAMES) {
    const found = findEmbeddingTensors([...layer, tensor(name, [100, 8])]);
    assert.equal(found.input?.name, name);
    assert.equal(found.tied, true, `${name}: no head means tied`);
    assert.equal(found.output, undefined);
  }
});

test('every known output head name is found and makes the model untied', () => {
  for (const name of OUTPUT_HEAD_NAMES) {
    const found = findEmbeddingTensors([tensor('model.embed_tokens.weight', [100, 8]), ...layer, tensor(name, [100, 8])]);
    assert.equal(found.input?.name, 'model.embed_tokens.weight');
    assert.equal(found.output?.name, name);
    assert.equal(found.tied, false);
  }
});

test('architecture layouts: Llama, GPT-2, GPT-NeoX, Meta original, Backpack', () => {
  const cases: [string[], string, string | undefined][] = [
    [['model.embed_tokens.weight', 'lm_head.weight'], 'model.embed_tokens.weight', 'lm_head.weight'],
    [['transformer.wte.weight', 'transformer.wpe.weight'], 'transformer.wte.weight', undefined],
    [['gpt_neox.embed_in.weight', 'embed_out.weight'], 'gpt_neox.embed_in.weight', 'embed_out.weight'],
    [['tok_embeddings.weight', 'output.weight'], 'tok_embeddings.weight', 'output.weight'],
    [['backpack.gpt2_model.wte.weight', 'backpack.gpt2_model.wpe.weight'], 'backpack.gpt2_model.wte.weight', undefined],
  ];
  for (const [names, input, output] of cases) {
    const found = findEmbeddingTensors(names.map((n) => tensor(n, n.includes('wpe') ? [1024, 8] : [100, 8])));
    assert.equal(found.input?.name, input);
    assert.equal(found.output?.name, output);
    assert.equal(found.tied, output === undefined);
  }
});

test('the most specific known name wins when several are present', () => {
  const found = findEmbeddingTensors([tensor('wte.weight', [50, 8]), tensor('model.embed_tokens.weight', [100, 8])]);
  assert.equal(found.input?.name, 'model.embed_tokens.weight');
});

test('a known tail under an unknown prefix is found; vision towers and position tables are not', () => {
  const found = findEmbeddingTensors([
    tensor('vision_tower.embeddings.word_embeddings.weight', [100, 8]),
    tensor('my_model.decoder.wpe.weight', [100, 8]),
    tensor('my_model.decoder.embed_tokens.weight', [100, 8]),
  ]);
  assert.equal(found.input?.name, 'my_model.decoder.embed_tokens.weight');
  assert.equal(findEmbeddingTensors([tensor('vision_model.embed_tokens.weight', [100, 8])]).input, undefined);
});

test('a tail match prefers the tensor that fits the config dims, then the shortest name', () => {
  const tensors = [tensor('a.long.prefix.embed_tokens.weight', [100, 8]), tensor('b.embed_tokens.weight', [50, 8])];
  assert.equal(findEmbeddingTensors(tensors, { vocab_size: 100, hidden_size: 8 }).input?.name, 'a.long.prefix.embed_tokens.weight');
  assert.equal(findEmbeddingTensors(tensors).input?.name, 'b.embed_tokens.weight');
});

test('by shape: [vocab_size, hidden_size] from config when no name matches', () => {
  const tensors = [tensor('blocks.0.mix.weight', [8, 8]), tensor('mystery.table', [100, 8]), tensor('mystery.proj', [8, 100])];
  assert.equal(findEmbeddingTensors(tensors, { vocab_size: 100, hidden_size: 8 }).input?.name, 'mystery.table');
  assert.equal(findEmbeddingTensors(tensors, { vocab_size: 100, n_embd: 8 }).input?.name, 'mystery.table');
  assert.equal(findEmbeddingTensors(tensors, { vocab_size: 100, d_model: 8 }).input?.name, 'mystery.table');
  assert.equal(findEmbeddingTensors(tensors, { text_config: { vocab_size: 100, hidden_size: 8 } }).input?.name, 'mystery.table');
  assert.equal(findEmbeddingTensors(tensors).input, undefined, 'no config, no guess');
  assert.equal(findEmbeddingTensors(tensors, { vocab_size: 99, hidden_size: 8 }).input, undefined);
});

test('by shape prefers a name that says embedding, and never takes the head', () => {
  const tensors = [tensor('decoder.proj', [100, 8]), tensor('tok_emb_table', [100, 8]), tensor('lm_head.weight', [100, 8])];
  const found = findEmbeddingTensors(tensors, { vocab_size: 100, hidden_size: 8 });
  assert.equal(found.input?.name, 'tok_emb_table');
  assert.equal(found.output?.name, 'lm_head.weight');
  assert.equal(found.tied, false);
});

test('only 2-D tensors qualify', () => {
  const found = findEmbeddingTensors(
    [tensor('model.embed_tokens.weight', [800]), tensor('lm_head.weight', [2, 100, 8]), tensor('table', [100, 8])],
    { vocab_size: 100, hidden_size: 8 },
  );
  assert.equal(found.input?.name, 'table');
  assert.equal(found.output, undefined);
  assert.equal(found.tied, true);
});

test('tying: head present, head absent, and config.tie_word_embeddings', () => {
  const embed = tensor('model.embed_tokens.weight', [100, 8]);
  const head = tensor('lm_head.weight', [100, 8]);
  assert.deepEqual(findEmbeddingTensors([embed]), { input: embed, tied: true });
  assert.deepEqual(findEmbeddingTensors([embed], { tie_word_embeddings: true }), { input: embed, tied: true });
  assert.deepEqual(findEmbeddingTensors([embed], { text_config: { tie_word_embeddings: true } }), { input: embed, tied: true });
  assert.deepEqual(findEmbeddingTensors([embed, head]), { input: embed, output: head, tied: false });
  // A head tensor in the file wins over the flag: that is what will be read.
  assert.deepEqual(findEmbeddingTensors([embed, head], { tie_word_embeddings: true }), { input: embed, output: head, tied: false });
  // Explicitly untied but no head: the head is missing, not shared.
  assert.deepEqual(findEmbeddingTensors([embed], { tie_word_embeddings: false }), { input: embed, tied: false });
  assert.deepEqual(findEmbeddingTensors([]), { input: undefined, tied: false });
});

test('config dims: top level first, then text_config; garbage values are ignored', () => {
  assert.deepEqual(embeddingDimsFromConfig({ vocab_size: 10, hidden_size: 4 }), { vocabSize: 10, hiddenSize: 4 });
  assert.deepEqual(embeddingDimsFromConfig({ n_embd: 4, text_config: { vocab_size: 10, hidden_size: 99 } }), { vocabSize: 10, hiddenSize: 4 });
  assert.deepEqual(embeddingDimsFromConfig({ vocab_size: '10', hidden_size: -4, text_config: [1] }), { vocabSize: undefined, hiddenSize: undefined });
  assert.deepEqual(embeddingDimsFromConfig({ vocab_size: 1.5, d_model: 2 ** 60 }), { vocabSize: undefined, hiddenSize: undefined });
  assert.deepEqual(embeddingDimsFromConfig(undefined), {});
});

// ---------------------------------------------------------------------------------------------------------------
// The built demo checkpoints

let checkpoints: DemoCheckpoint[];
before(async () => {
  checkpoints = await buildDemoCheckpoints();
});

async function tensorsOf(checkpoint: DemoCheckpoint): Promise<TensorInfo[]> {
  const index = path.join(checkpoint.folder, 'model.safetensors.index.json');
  if (checkpoint.shards > 1) return (await readSafetensorsIndex(index)).tensors;
  return (await readSafetensorsHeader(path.join(checkpoint.folder, 'model.safetensors'))).tensors;
}

test('the demo folders are the expected five, with real tokenizers', async () => {
  assert.deepEqual(
    checkpoints.map((c) => c.name),
    ['tiny-llama3-f32', 'tiny-qwen3-bf16-tied', 'tiny-gemma3-f16', 'tiny-gpt4o-sharded', 'tokenizer-only-llama3'],
  );
  const vocab = Object.fromEntries(checkpoints.map((c) => [c.name, c.vocabSize]));
  assert.deepEqual(vocab, {
    'tiny-llama3-f32': 128256,
    'tiny-qwen3-bf16-tied': 151669,
    'tiny-gemma3-f16': 262145,
    'tiny-gpt4o-sharded': 200019,
    'tokenizer-only-llama3': 128256,
  });
  const only = checkpoints.find((c) => c.name === 'tokenizer-only-llama3')!;
  assert.deepEqual((await fsp.readdir(only.folder)).filter((f) => !f.startsWith('.')).sort(), ['tokenizer.json', 'tokenizer_config.json']);
});

test('on every demo checkpoint, discovery finds the embedding, the head and the tying', async () => {
  for (const checkpoint of checkpoints.filter((c) => c.dtype)) {
    const config = JSON.parse(await fsp.readFile(path.join(checkpoint.folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    const tensors = await tensorsOf(checkpoint);
    const found = findEmbeddingTensors(tensors, config);
    assert.equal(found.input?.name, checkpoint.inputEmbedding, checkpoint.name);
    assert.deepEqual(found.input?.shape, [checkpoint.vocabSize, checkpoint.hiddenSize], checkpoint.name);
    assert.equal(found.input?.dtype, checkpoint.dtype, checkpoint.name);
    assert.equal(found.output?.name, checkpoint.outputHead, checkpoint.name);
    assert.equal(found.tied, checkpoint.tied, checkpoint.name);
    assert.deepEqual(embeddingDimsFromConfig(config), { vocabSize: checkpoint.vocabSize, hiddenSize: checkpoint.hiddenSize });
    if (checkpoint.shards > 1) {
      assert.notEqual(found.input?.file, found.output?.file, 'embedding and head live in different shards');
    }
  }
});

test('demo embeddings hold the seeded values (deterministic), readable by row', async () => {
  for (const checkpoint of checkpoints.filter((c) => c.dtype)) {
    const found = findEmbeddingTensors(await tensorsOf(checkpoint));
    const input = found.input!;
    const hidden = checkpoint.hiddenSize!;
    const lastRow = checkpoint.vocabSize - 1;
    const rows = await readTensorRows(input, lastRow, 1);
    const all = seededNormals(seedFromName(`${checkpoint.name}/${input.name}`), checkpoint.vocabSize * hidden, 0.5);
    const expected = decodeToFloat32(encodeFloat32(all.subarray(lastRow * hidden), checkpoint.dtype!), checkpoint.dtype!);
    assert.deepEqual(Array.from(rows), Array.from(expected), checkpoint.name);
    assert.ok(rows.some((v) => v !== 0), `${checkpoint.name}: the last row is not empty`);
  }
});
