// Tokenizer transplantation on small seeded checkpoints built here: planted structure (the donor's rows are a linear
// map of the base's plus noise, at another hidden size) that OMP must recover, the output checkpoint as Model Lens
// opens it (untouched tensors byte-identical, dtype, ties, config, tokenizer, shards, report), and the failure
// paths (cancel, a failed write, missing embeddings, vocabulary mismatch, k above the anchors, unwritable output).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, truncateSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelLensError } from '../../server/errors';
import { provenanceOf, runTransplant, type TransplantProgress, type TransplantReport } from '../../server/features/transplant';
import { main as cli } from '../../server/cli/main';
import { cosine64 } from '../../server/kernels/linalg';
import { readSafetensorsHeader } from '../../server/loaders/safetensors';
import { setWordVectorCacheDir } from '../../server/loaders/wordVectors';
import { ModelRegistry } from '../../server/registry/registry';
import type { OpenedModel } from '../../server/registry/types';
import { seededNormals } from '../fixtures/buildCheckpoints';
import { wordLevelTokenizer, writeModelFolder, writePlantedPair, type PlantedPair } from '../fixtures/transplantFixtures';

let root: string;
let planted: PlantedPair;
let untied: PlantedPair;
/** Inputs are opened once and shared by the runs. */
const registry = new ModelRegistry();

before(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-lens-transplant-'));
  planted = await writePlantedPair(path.join(root, 'planted'));
  untied = await writePlantedPair(path.join(root, 'untied'), { baseDtype: 'F16', baseUntied: true, donorUntied: false, words: 600, baseWords: 500, sharedFrom: 100, seed: 11 });
});
after(async () => {
  await fsp.chmod(path.join(root, 'read-only'), 0o755).catch(() => undefined);
  await fsp.rm(root, { recursive: true, force: true });
});

const isError = (code: string, pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof ModelLensError, `expected a ModelLensError, got ${String(error)}`);
  assert.equal(error.code, code, error.toUserMessage());
  assert.match(error.toUserMessage(), pattern);
  return true;
};

/** Everything in `folder`, to show that a failed run left nothing behind. */
async function listing(folder: string): Promise<string[]> {
  return (await fsp.readdir(folder)).sort();
}

async function tensorBytes(model: OpenedModel, name: string): Promise<Buffer> {
  const info = model.tensors.find((t) => t.name === name);
  assert.ok(info, `tensor ${name}`);
  const handle = await fsp.open(info.file, 'r');
  try {
    const buffer = Buffer.alloc(info.byteLength);
    await handle.read(buffer, 0, info.byteLength, info.offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

describe('planted structure', () => {
  let report: TransplantReport;
  let output: OpenedModel;

  before(async () => {
    report = await runTransplant(
      { base: planted.base, donor: planted.donor, out: path.join(root, 'planted-out'), k: 64, compare: ['omp', 'knn', 'mean', 'zero'], workers: 2 },
      { registry },
    );
    output = await new ModelRegistry().open(path.join(root, 'planted-out'));
  });

  test('OMP at k = 64 rebuilds the new tokens: cosine ≥ 0.99 to the planted truth', async () => {
    const rows = await output.readTensor('model.embed_tokens.weight');
    const cosines = planted.newDonorIds.map((id, i) => cosine64(rows, id * planted.baseDim, planted.truth, planted.newWords[i] * planted.baseDim, planted.baseDim));
    cosines.sort((a, b) => a - b);
    const mean = cosines.reduce((s, c) => s + c, 0) / cosines.length;
    assert.equal(cosines.length, 200);
    assert.ok(mean >= 0.99, `mean cosine ${mean}`);
    assert.ok(cosines[cosines.length >> 1] >= 0.995, `median cosine ${cosines[cosines.length >> 1]}`);
  });

  test('the self-check puts OMP at ≥ 0.99 and clearly above mean and zero, side by side', () => {
    const check = report.selfCheck!;
    assert.equal(check.heldOut, 40); // 5% of the 800 shared words
    const score = (method: string) => check.results.find((r) => r.method === method && r.matrix === 'input')!;
    assert.deepEqual(check.results.map((r) => r.method), ['omp', 'knn', 'mean', 'zero']);
    assert.ok(score('omp').mean >= 0.99, `omp ${score('omp').mean}`);
    assert.ok(score('omp').mean - score('mean').mean > 0.5, `omp ${score('omp').mean} vs mean ${score('mean').mean}`);
    assert.equal(score('zero').mean, 0);
    assert.ok(score('omp').mean > score('knn').mean);
    const omp = score('omp');
    assert.equal(omp.histogram.counts.reduce((s, c) => s + c, 0), 40);
    assert.equal(omp.histogram.edges.length, omp.histogram.counts.length + 1);
    assert.equal(omp.worst.length, 20);
    assert.ok(omp.worst.every((w, i) => i === 0 || w.cosine >= omp.worst[i - 1].cosine), 'worst first');
  });

  test('categories: roles matched, shared words moved, every extra special token gets its own row', () => {
    const m = report.matching;
    assert.deepEqual(m.counts, { exact: 1, moved: 799, special: 3, byte: 0, prefix: 0, approximated: 204, unused: 0 });
    assert.deepEqual(
      m.specialTokens.map((s) => [s.donorToken, s.matchedBy, s.baseToken ?? null]),
      [
        ['<bos>', 'role', '<s>'],
        ['<eos>', 'role', '</s>'],
        ['<unk>', 'role', '[UNK]'],
        ['<pad>', 'approximated', null],
        ['<extra_0>', 'approximated', null],
        ['<extra_1>', 'approximated', null],
        ['<extra_2>', 'approximated', null],
      ],
    );
    const made = new Set(report.provenance.map((p) => p.token));
    for (const extra of ['<pad>', '<extra_0>', '<extra_1>', '<extra_2>']) assert.ok(made.has(extra), `${extra} has a row`);
  });

  test('each approximated token says how it was made: OMP anchors and weights, largest first', () => {
    assert.equal(report.provenance.length, 204);
    const entry = report.provenance.find((p) => p.token === 'w1100')!;
    assert.equal(entry.input?.method, 'omp');
    assert.equal(entry.input?.partsFrom, 'anchors');
    assert.equal(entry.input?.parts?.length, 8);
    assert.ok((entry.input?.moreParts ?? 0) > 0);
    assert.ok(entry.input!.residual! < 1e-3);
    const weights = entry.input!.parts!.map((p) => Math.abs(p.weight));
    assert.deepEqual(weights, [...weights].sort((a, b) => b - a));
    for (const part of entry.input!.parts!) assert.match(part.token, /^w\d+$/);
    assert.equal(entry.output, undefined, 'a tied base has no separate head');
  });

  test('provenanceOf finds a made token by its id, and nothing for a copied one', () => {
    const made = report.provenance[17];
    assert.equal(provenanceOf(report, made.id), made);
    assert.equal(provenanceOf(report, 8), undefined); // a shared word, copied
  });

  test('stage timings and the digit comparison are in the report', () => {
    assert.deepEqual(report.timings.map((t) => t.stage), ['open', 'match', 'self-check', 'approximate', 'write']);
    assert.ok(report.timings.every((t) => t.seconds >= 0));
    assert.equal(report.digits.differs, false);
    assert.equal(report.digits.base.examples.length, report.digits.donor.examples.length);
  });
});

describe('the output checkpoint', () => {
  let report: TransplantReport;
  let base: OpenedModel;
  let donor: OpenedModel;
  let output: OpenedModel;
  const progress: TransplantProgress[] = [];
  let out: string;

  before(async () => {
    out = path.join(root, 'untied-out');
    report = await runTransplant(
      { base: untied.base, donor: untied.donor, out, method: 'omp', k: 16, selfCheck: 0.1, maxShardBytes: 40_000 },
      { registry, onProgress: (p) => progress.push(p) },
    );
    base = await registry.open(untied.base);
    donor = await registry.open(untied.donor);
    output = await new ModelRegistry().open(out);
  });

  test('an untied base keeps both matrices, both resized to the donor vocabulary, in the base dtype', () => {
    assert.equal(output.embeddings.tied, false);
    const rows = donor.embeddings.input!.shape[0];
    assert.deepEqual(output.embeddings.input?.shape, [rows, untied.baseDim]);
    assert.deepEqual(output.embeddings.output?.shape, [rows, untied.baseDim]);
    assert.equal(output.embeddings.input?.dtype, 'F16');
    assert.equal(output.embeddings.output?.dtype, 'F16');
    assert.deepEqual(report.matrices.map((m) => [m.matrix, m.method, m.donorTensor]), [
      ['input', 'omp', 'model.embed_tokens.weight'],
      ['output', 'omp', 'model.embed_tokens.weight'], // the tied donor's input matrix stands in for its head
    ]);
    assert.ok(report.provenance.every((p) => p.input?.method === 'omp' && p.output?.method === 'omp'));
  });

  test('every other tensor is byte-identical; shared rows are the base rows, byte for byte', async () => {
    assert.deepEqual(output.tensors.map((t) => t.name).sort(), base.tensors.map((t) => t.name).sort());
    for (const tensor of base.tensors) {
      if (tensor.name === 'model.embed_tokens.weight' || tensor.name === 'lm_head.weight') continue;
      assert.ok((await tensorBytes(output, tensor.name)).equals(await tensorBytes(base, tensor.name)), tensor.name);
    }
    const baseTokenizer = base.tokenizer!;
    const outTokenizer = output.tokenizer!;
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const before = await tensorBytes(base, name);
      const after = await tensorBytes(output, name);
      const rowBytes = untied.baseDim * 2;
      for (const word of ['w100', 'w250', 'w499', '</s>']) {
        const donorWord = word === '</s>' ? '<eos>' : word;
        const from = baseTokenizer.tokenToId(word)!;
        const to = outTokenizer.tokenToId(donorWord)!;
        assert.ok(after.subarray(to * rowBytes, (to + 1) * rowBytes).equals(before.subarray(from * rowBytes, (from + 1) * rowBytes)), `${name} row of ${word}`);
      }
    }
  });

  test('config.json takes the donor vocabulary size and special ids; generation_config.json too', async () => {
    const config = JSON.parse(await fsp.readFile(path.join(out, 'config.json'), 'utf8'));
    assert.equal(config.vocab_size, donor.embeddings.input!.shape[0]);
    assert.equal(config.bos_token_id, 0);
    assert.equal(config.eos_token_id, 1);
    assert.equal(config.pad_token_id, 3);
    assert.equal(config.unk_token_id, 2, "from the donor tokenizer's roles");
    assert.equal(config.tie_word_embeddings, false);
    assert.equal(config.hidden_size, untied.baseDim);
    const generation = JSON.parse(await fsp.readFile(path.join(out, 'generation_config.json'), 'utf8'));
    assert.deepEqual(generation, { bos_token_id: 0, eos_token_id: 1, max_length: 64 });
    assert.equal(await fsp.readFile(path.join(out, 'README.md'), 'utf8'), '# planted base\n');
  });

  test("the donor's tokenizer files, tokenizing like the donor", async () => {
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
      assert.ok((await fsp.readFile(path.join(out, file))).equals(await fsp.readFile(path.join(untied.donor, file))), file);
    }
    const text = 'w120 w555 w42 <eos> w599';
    assert.deepEqual(output.tokenizer!.tokenize(text).map((t) => t.id), donor.tokenizer!.tokenize(text).map((t) => t.id));
  });

  test('shards with an index above the shard size, and the report beside them', async () => {
    assert.equal(report.output?.sharded, true);
    const files = await listing(out);
    const shards = files.filter((f) => f.endsWith('.safetensors'));
    assert.ok(shards.length >= 2, files.join(', '));
    assert.ok(files.includes('model.safetensors.index.json'));
    assert.deepEqual(files, report.output!.files);
    for (const shard of shards) assert.deepEqual((await readSafetensorsHeader(path.join(out, shard))).metadata, { format: 'pt' });
    const saved = JSON.parse(await fsp.readFile(path.join(out, 'transplant-report.json'), 'utf8')) as TransplantReport;
    assert.equal(saved.provenance.length, report.provenance.length);
    assert.equal(saved.output?.path, out);
  });

  test('progress goes forward through the stages to 1, with an estimate of the time left', () => {
    assert.ok(progress.length > 5);
    assert.ok(progress.every((p, i) => i === 0 || p.fraction >= progress[i - 1].fraction - 1e-9), 'never goes back');
    assert.deepEqual([...new Set(progress.map((p) => p.stage))], ['open', 'match', 'self-check', 'approximate', 'write']);
    assert.ok(Math.abs(progress.at(-1)!.fraction - 1) < 1e-9);
    assert.ok(progress.some((p) => p.etaSeconds !== undefined));
  });
});

describe('options', () => {
  test('a tied base stays tied; --matrices input leaves new head rows to the mean only when untied', async () => {
    const out = path.join(root, 'matrices-out');
    const report = await runTransplant({ base: untied.base, donor: untied.donor, out, method: 'knn', matrices: ['input'], selfCheck: 0 }, { registry });
    assert.deepEqual(report.matrices.map((m) => [m.matrix, m.method]), [['input', 'knn'], ['output', 'mean']]);
    assert.ok(report.provenance.every((p) => p.input?.method === 'knn' && p.output === undefined));
    const tied = await runTransplant({ base: planted.base, donor: planted.donor, out: path.join(root, 'tied-out'), method: 'mean', selfCheck: 0 }, { registry });
    assert.equal(tied.output?.tied, true);
    const model = await new ModelRegistry().open(path.join(root, 'tied-out'));
    assert.equal(model.embeddings.tied, true);
    assert.equal(model.tensors.some((t) => t.name === 'lm_head.weight'), false);
  });

  test('--compare runs the self-check alone and writes nothing', async () => {
    const out = path.join(root, 'never-written');
    const report = await runTransplant({ base: planted.base, donor: planted.donor, out, compareOnly: true, compare: ['subword', 'mean'], selfCheck: 0.05 }, { registry });
    assert.equal(report.output, null);
    assert.equal(report.compareOnly, true);
    assert.deepEqual(report.selfCheck!.results.map((r) => r.method), ['subword', 'mean']);
    await assert.rejects(fsp.stat(out));
  });

  test('aux mixes anchors by similarity in a word-vector file; tokens without a vector fall back to subword', async () => {
    // Word vectors for w0…w1099 that are the planted base rows themselves: similarity there is similarity in base space.
    const vectors = path.join(root, 'vectors.txt');
    const lines = planted.words.slice(0, 1100).map((word, w) => `${word} ${Array.from(planted.truth.subarray(w * planted.baseDim, (w + 1) * planted.baseDim), (v) => v.toFixed(5)).join(' ')}`);
    await fsp.writeFile(vectors, `${lines.join('\n')}\n`);
    setWordVectorCacheDir(path.join(root, 'vector-cache'));
    try {
      const report = await runTransplant(
        { base: planted.base, donor: planted.donor, out: path.join(root, 'aux-out'), method: 'aux', auxVectors: vectors, compare: ['aux', 'mean'], selfCheck: 0.05 },
        { registry },
      );
      const aux = report.selfCheck!.results.find((r) => r.method === 'aux')!;
      const mean = report.selfCheck!.results.find((r) => r.method === 'mean')!;
      assert.ok(aux.mean > 0.4 && aux.mean > mean.mean + 0.3, `aux ${aux.mean}, mean ${mean.mean}`);
      const withVector = report.provenance.find((p) => p.token === 'w1050')!.input!;
      assert.equal(withVector.method, 'aux');
      assert.equal(withVector.partsFrom, 'anchors');
      assert.ok(withVector.parts!.length >= 1 && withVector.parts!.every((part) => part.weight > 0));
      assert.ok(Math.abs(withVector.parts!.reduce((sum, part) => sum + part.weight, 0) - 1) < 1e-6 || withVector.moreParts !== undefined, 'sparsemax weights sum to 1');
      const without = report.provenance.find((p) => p.token === 'w1150')!.input!;
      assert.equal(without.method, 'aux');
      assert.match(without.note ?? '', /no word vector; subword mean instead/);
      assert.deepEqual(report.matrices[0].details?.fallbacks, 104); // w1100…w1199 and the four special tokens
    } finally {
      setWordVectorCacheDir(undefined);
    }
  });

  test('a donor without weights works for subword and is refused for omp', async () => {
    const tokenizerOnly = path.join(root, 'tokenizer-only');
    await fsp.mkdir(tokenizerOnly, { recursive: true });
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) await fsp.copyFile(path.join(planted.donor, file), path.join(tokenizerOnly, file));
    await assert.rejects(
      runTransplant({ base: planted.base, donor: tokenizerOnly, out: path.join(root, 'no-donor-weights'), method: 'omp' }, { registry }),
      isError('bad-input', /no embedding weights, which omp needs/),
    );
    const report = await runTransplant({ base: planted.base, donor: tokenizerOnly, out: path.join(root, 'subword-out'), method: 'subword', selfCheck: 0 }, { registry });
    assert.equal(report.output?.rows, 1007);
  });
});

describe('failure paths leave nothing behind', () => {
  test('a cancelled run rejects with "cancelled" and leaves no output or temporary folder', async () => {
    const parent = path.join(root, 'cancel');
    await fsp.mkdir(parent);
    for (const stage of ['self-check', 'approximate', 'write'] as const) {
      const controller = new AbortController();
      await assert.rejects(
        runTransplant(
          { base: untied.base, donor: untied.donor, out: path.join(parent, 'out'), k: 16, maxShardBytes: 40_000 },
          { registry, signal: controller.signal, onProgress: (p) => p.stage === stage && controller.abort() },
        ),
        isError('cancelled', /cancelled/),
      );
      assert.deepEqual(await listing(parent), [], `after cancelling in ${stage}`);
    }
  });

  test('a write that fails half-way (a base file truncated under it) removes the partial output', async () => {
    const copy = path.join(root, 'truncated-base');
    await fsp.cp(planted.base, copy, { recursive: true });
    const parent = path.join(root, 'failed');
    await fsp.mkdir(parent);
    const weights = path.join(copy, 'model.safetensors');
    // Cut the file after the embedding (read by then), inside the tensors the writer still has to copy.
    const header = await readSafetensorsHeader(weights);
    const embedding = header.tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    const cut = embedding.offset + embedding.byteLength + 16;
    assert.ok(cut < header.fileSize);
    await assert.rejects(
      runTransplant(
        { base: copy, donor: planted.donor, out: path.join(parent, 'out'), method: 'mean', selfCheck: 0 },
        { registry: new ModelRegistry(), onProgress: (p) => p.stage === 'approximate' && truncateSync(weights, cut) },
      ),
      isError('bad-input', /ended early while copying tensor|truncated/),
    );
    assert.deepEqual(await listing(parent), []);
  });

  test('a base without an embedding tensor', async () => {
    const folder = path.join(root, 'no-embedding');
    await writeModelFolder(folder, {
      dtype: 'F32',
      config: { model_type: 'llama', hidden_size: 4 },
      tokenizer: wordLevelTokenizer([{ text: '[UNK]', role: 'unk' }], ['a', 'b']),
      tensors: [{ name: 'model.norm.weight', shape: [4], values: new Float32Array(4).fill(1) }],
    });
    await assert.rejects(runTransplant({ base: folder, donor: planted.donor, out: path.join(root, 'x1') }, { registry }), isError('bad-input', /no input embedding tensor/));
  });

  test('a tokenizer with more ids than embedding rows', async () => {
    const folder = path.join(root, 'short-embedding');
    await writeModelFolder(folder, {
      dtype: 'F32',
      config: { model_type: 'llama', hidden_size: 4, vocab_size: 3 },
      tokenizer: wordLevelTokenizer([{ text: '[UNK]', role: 'unk' }], ['w1', 'w2', 'w3', 'w4']),
      tensors: [{ name: 'model.embed_tokens.weight', shape: [3, 4], values: seededNormals(5, 12, 1) }],
    });
    await assert.rejects(
      runTransplant({ base: folder, donor: planted.donor, out: path.join(root, 'x2') }, { registry }),
      isError('mismatch', /base tokenizer has ids up to 4 but its tensor "model.embed_tokens.weight" has only 3 rows/),
    );
  });

  test('k above the number of anchors', async () => {
    await assert.rejects(
      runTransplant({ base: planted.base, donor: planted.donor, out: path.join(root, 'x3'), k: 5000, selfCheck: 0 }, { registry }),
      isError('usage', /k = 5000 is more than the 803 anchor tokens/),
    );
    await assert.rejects(fsp.stat(path.join(root, 'x3')));
  });

  test('an output folder that exists, or lies inside an input, is refused before any work', async () => {
    await assert.rejects(runTransplant({ base: planted.base, donor: planted.donor, out: planted.donor }, { registry }), isError('usage', /must not be the donor folder or inside it/));
    await assert.rejects(runTransplant({ base: planted.base, donor: planted.donor, out: path.join(planted.base, 'sub') }, { registry }), isError('usage', /must not be the base folder/));
    const existing = path.join(root, 'existing');
    await fsp.mkdir(existing);
    await assert.rejects(runTransplant({ base: planted.base, donor: planted.donor, out: existing }, { registry }), isError('usage', /already exists/));
    await assert.rejects(runTransplant({ base: planted.base, donor: planted.donor, out: path.dirname(planted.base) }, { registry }), isError('usage', /already exists/));
  });

  test('an output folder that cannot be written', async () => {
    const readOnly = path.join(root, 'read-only');
    await fsp.mkdir(readOnly);
    await fsp.chmod(readOnly, 0o555);
    // root ignores permissions; a folder under /sys cannot be written even by root.
    const writable = await fsp.writeFile(path.join(readOnly, 'probe'), '').then(() => true, () => false);
    const parent = writable ? '/sys' : readOnly;
    await assert.rejects(
      runTransplant({ base: planted.base, donor: planted.donor, out: path.join(parent, 'model-lens-out'), method: 'mean', selfCheck: 0 }, { registry }),
      isError('usage', /cannot create the output folder here/),
    );
  });
});

describe('model-lens transplant', () => {
  async function run(...args: string[]): Promise<{ code: number; output: string }> {
    let output = '';
    const code = await cli(['transplant', ...args], (text) => {
      output += text;
      return true;
    });
    return { code, output };
  }

  test('--json prints the report; the human summary names the counts and the self-check', async () => {
    const json = await run('--base', planted.base, '--donor', planted.donor, '--out', path.join(root, 'cli-out'), '--method', 'knn', '--k', '4', '--self-check', '0.05', '--json');
    assert.equal(json.code, 0);
    const report = JSON.parse(json.output) as TransplantReport;
    assert.equal(report.options.method, 'knn');
    assert.equal(report.output?.rows, 1007);
    const human = await run('--base', planted.base, '--donor', planted.donor, '--compare', 'omp,mean', '--k', '16');
    assert.equal(human.code, 0);
    assert.match(human.output, /self-check only/);
    assert.match(human.output, /803 shared \(exact 1, moved 799, special 3, byte 0\)/);
    assert.match(human.output, /omp +input +mean 0\.9\d\d/);
  });

  test('usage errors exit with 2', async () => {
    assert.equal((await run('--base', planted.base, '--donor', planted.donor)).code, 2, 'no --out');
    assert.equal((await run('--base', planted.base, '--donor', planted.donor, '--out', path.join(root, 'x'), '--method', 'magic')).code, 2);
    assert.equal((await run('--base', planted.base, '--donor', planted.donor, '--out', path.join(root, 'x'), '--shard-size', 'lots')).code, 2);
  });
});
