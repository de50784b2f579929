/**
 * The `model-lens` CLI as a user runs it: the built bundle in a child process, its JSON, and its exit codes.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDemoCheckpoints, DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { REPO_ROOT } from '../support/serverProcess';

const CLI = path.join(REPO_ROOT, 'dist/cli.js');

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

before(async () => {
  await buildDemoCheckpoints();
  assert.ok(fs.existsSync(CLI), 'run the build first (npm test does)');
});

test('inspect --json reports format, tokenizer facts and embedding tensors', () => {
  const { code, stdout } = cli('inspect', path.join(DEFAULT_DEMO_DIR, 'tiny-gpt4o-sharded'), '--json');
  assert.equal(code, 0);
  const report = JSON.parse(stdout);
  assert.equal(report.format, 'huggingface');
  assert.equal(report.vocabSize, 200000);
  assert.equal(report.tokenizer.type, 'BPE');
  assert.deepEqual(report.embeddings.input, { name: 'transformer.wte.weight', dtype: 'F32', shape: [200019, 8] });
  assert.equal(report.embeddings.output.name, 'lm_head.weight');
  assert.equal(report.embeddings.tied, false);
  assert.equal(report.files.filter((file: string) => file.endsWith('.safetensors')).length, 3);
});

test('inspect reports a tied head', () => {
  const report = JSON.parse(cli('inspect', path.join(DEFAULT_DEMO_DIR, 'tiny-qwen3-bf16-tied'), '--json').stdout);
  assert.equal(report.embeddings.tied, true);
  assert.equal(report.embeddings.output, undefined);
});

test('tokenize --json gives ids and UTF-16 offsets into the input, end exclusive', () => {
  const text = 'Hi 🤗 there';
  const { code, stdout } = cli('tokenize', path.join(DEFAULT_DEMO_DIR, 'tokenizer-only-llama3'), '--text', text, '--json');
  assert.equal(code, 0);
  const result = JSON.parse(stdout);
  assert.equal(result.count, result.tokens.length);
  for (const token of result.tokens) {
    assert.deepEqual(Object.keys(token).filter((key) => ['id', 'text', 'start', 'end', 'special'].includes(key)).sort(), ['end', 'id', 'special', 'start', 'text']);
    assert.ok(token.start >= 0 && token.end <= text.length && token.start <= token.end);
  }
  // The emoji is split into byte tokens; each reports the emoji's whole UTF-16 span [3, 5).
  const emojiTokens = result.tokens.filter((token: { start: number; end: number }) => token.start <= 3 && token.end >= 5);
  assert.ok(emojiTokens.length >= 1);
  assert.equal(result.tokens.at(-1).end, text.length);
});

test('special tokens written in the text are recognised, and --add-special adds the post-processor tokens', () => {
  const gemma = path.join(DEFAULT_DEMO_DIR, 'tiny-gemma3-f16');
  const typed = JSON.parse(cli('tokenize', gemma, '--text', '<start_of_turn>user', '--json').stdout);
  assert.deepEqual([typed.tokens[0].text, typed.tokens[0].special, typed.tokens[0].start, typed.tokens[0].end], ['<start_of_turn>', true, 0, 15]);
  const withBos = JSON.parse(cli('tokenize', gemma, '--text', 'user', '--add-special', '--json').stdout);
  assert.equal(withBos.tokens[0].text, '<bos>');
  assert.equal(withBos.count, typed.count);
});

test('--file reads the text from a file', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ml-cli-')), 'in.txt');
  fs.writeFileSync(file, 'Hello world');
  const result = JSON.parse(cli('tokenize', path.join(DEFAULT_DEMO_DIR, 'tokenizer-only-llama3'), '--file', file, '--json').stdout);
  assert.deepEqual(result.tokens.map((token: { id: number }) => token.id), [9906, 1917]);
});

test('bad input and usage exit 2 with one "error:" line; help exits 0', () => {
  for (const args of [
    ['inspect', '/no/such/model'],
    ['tokenize', path.join(DEFAULT_DEMO_DIR, 'tokenizer-only-llama3')],
    ['tokenize', path.join(DEFAULT_DEMO_DIR, 'tokenizer-only-llama3'), '--text', 'a', '--bogus'],
    ['frobnicate'],
  ]) {
    const { code, stderr, stdout } = cli(...args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, /^error: .+\n$/, `${args.join(' ')}: one line`);
    assert.equal(stdout, '');
  }
  assert.equal(cli('--help').code, 0);
  assert.match(cli('--help').stdout, /model-lens tokenize <path>/);
});
