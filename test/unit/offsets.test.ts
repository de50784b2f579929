/**
 * Offsets, normalization alignment, piece bytes and display, on small inputs and on small tokenizers of every
 * family (WordPiece, SentencePiece-style BPE with byte fallback, GPT-2 byte-level BPE, Unigram, CLIP), built here
 * and compared with the Rust tokenizers (@anush008/tokenizers) loaded from the same JSON.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import { placePieces } from '../../server/tokenization/offsets';
import { normalizeAligned, originalRange, type NormalizeStep } from '../../server/tokenization/normalizeAligned';
import { codePointEnd, codePointToUtf16, encodeUtf8WithUnits, utf8, wellFormed } from '../../server/tokenization/utf8';
import { BYTE_TO_UNICODE, byteLevelPieceBytes, pieceBytes, pieceSchemeOf } from '../../server/tokenization/pieceBytes';
import { describeTokenBytes, guessPieceStyle, showBytes, showPiece, visibleText } from '../../server/tokenization/display';
import { LruCache } from '../../server/tokenization/lruCache';
import { tokenizerFromJson } from '../../server/tokenization/loadTokenizer';
import type { TokenSpan } from '../../server/tokenization/tokenizer';

const bytes = (s: string) => utf8(s);
const spansOf = (flat: Int32Array) => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);

/** A seeded generator, so failures reproduce. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

// ---- utf8 ----------------------------------------------------------------------------------------------------------

describe('utf8', () => {
  test('lone surrogates become U+FFFD, the length stays', () => {
    assert.equal(wellFormed('a\uD800b\uDC00c\uD83D\uDE00'), 'a\uFFFDb\uFFFDc😀');
    assert.equal(wellFormed('\uDBFF').length, 1);
  });

  test('every byte knows where its character starts', () => {
    const { bytes: b, unitOfByte } = encodeUtf8WithUnits('aé😀中');
    assert.deepEqual([...b], [...utf8('aé😀中')]);
    assert.deepEqual([...unitOfByte], [0, 1, 1, 2, 2, 2, 2, 4, 4, 4]);
    assert.equal(codePointEnd('a😀', 1), 3);
    assert.equal(codePointEnd('a\uD83D', 1), 2);
  });

  test('a space marker is written as one 0x20 byte', () => {
    const { bytes: b, unitOfByte } = encodeUtf8WithUnits('a▁b', '▁'.codePointAt(0));
    assert.deepEqual([...b], [0x61, 0x20, 0x62]);
    assert.deepEqual([...unitOfByte], [0, 1, 2]);
  });

  test('code point offsets (what the Rust tokenizers report) convert to UTF-16', () => {
    const toUtf16 = codePointToUtf16('a😀b👍🏽');
    assert.deepEqual([0, 1, 2, 3, 4, 5, 99].map(toUtf16), [0, 1, 3, 4, 6, 8, 8]);
  });
});

// ---- placing pieces ------------------------------------------------------------------------------------------------

describe('placePieces', () => {
  test('pieces that tile the text get consecutive spans', () => {
    assert.deepEqual(spansOf(placePieces('Hello world', [bytes('Hello'), bytes(' world')])), [[0, 5], [5, 11]]);
  });

  test('a piece with part of a character reports the whole character; tokens then share it', () => {
    const text = 'a😀b';
    const emoji = utf8('😀');
    const pieces = [bytes('a'), emoji.slice(0, 2), emoji.slice(2, 3), emoji.slice(3), bytes('b')];
    assert.deepEqual(spansOf(placePieces(text, pieces)), [[0, 1], [1, 3], [1, 3], [1, 3], [3, 4]]);
    // A piece that ends in the middle of one character and starts the next covers both.
    const mixed = utf8('é中');
    assert.deepEqual(spansOf(placePieces('é中', [mixed.slice(0, 3), mixed.slice(3)])), [[0, 2], [1, 2]]);
  });

  test('a space that is not in the text covers what follows (add_prefix_space, Metaspace prepend)', () => {
    assert.deepEqual(spansOf(placePieces('Hello', [bytes(' Hello')])), [[0, 5]]);
    assert.deepEqual(spansOf(placePieces('中', [bytes(' '), bytes('中')])), [[0, 0], [0, 1]]);
  });

  test('whitespace that no piece stands for is skipped (WordPiece, Whitespace pre-tokenizers)', () => {
    assert.deepEqual(spansOf(placePieces('  hello \t world ', [bytes('hello'), bytes('world')])), [[2, 7], [10, 15]]);
  });

  test('unknown pieces cover what lies between their neighbours, one word or character each', () => {
    assert.deepEqual(spansOf(placePieces('hi xyz qq yo', [bytes('hi'), null, null, bytes(' yo')])), [[0, 2], [3, 6], [7, 9], [9, 12]]);
    assert.deepEqual(spansOf(placePieces('a<mask>', [bytes('a'), null, null, null])), [[0, 1], [1, 2], [2, 6], [6, 7]]);
    assert.deepEqual(spansOf(placePieces('xyz', [null, null, null])), [[0, 1], [1, 2], [2, 3]]);
    assert.deepEqual(spansOf(placePieces('x', [null, null])), [[0, 1], [1, 1]]);
  });

  test('▁ in the text matches ▁ in a piece', () => {
    assert.deepEqual(spansOf(placePieces('a▁b', [bytes('a'), bytes(' b')], '▁')), [[0, 1], [1, 3]]);
  });

  test('a piece that cannot be placed gets an empty span and the walk goes on', () => {
    assert.deepEqual(spansOf(placePieces('abc', [bytes('a'), bytes('Z'), bytes('bc')])), [[0, 1], [1, 1], [1, 3]]);
  });

  test('never throws, and spans stay inside the text, on random pieces and texts', () => {
    const rnd = random(7);
    const alphabet = ['a', 'b', ' ', '\n', 'é', '😀', '中', '\u0301', '\uD800', '▁'];
    for (let round = 0; round < 500; round++) {
      let text = '';
      for (let i = 0, n = Math.floor(rnd() * 20); i < n; i++) text += alphabet[Math.floor(rnd() * alphabet.length)];
      const all = utf8(text);
      const pieces: (Uint8Array | null)[] = [];
      for (let at = 0; at < all.length; ) {
        const len = 1 + Math.floor(rnd() * 4);
        const r = rnd();
        pieces.push(r < 0.1 ? null : r < 0.15 ? bytes(' ') : r < 0.2 ? bytes('zz') : all.slice(at, at + len));
        at += len;
      }
      const spans = placePieces(text, pieces, rnd() < 0.5 ? '▁' : null);
      for (let i = 0; i < pieces.length; i++) {
        assert.ok(spans[2 * i]! >= 0 && spans[2 * i]! <= spans[2 * i + 1]! && spans[2 * i + 1]! <= text.length, `round ${round}`);
      }
    }
  });
});

// ---- normalization with alignment ----------------------------------------------------------------------------------

const step = (type: string, apply: (s: string) => string, extra: Partial<NormalizeStep> = {}): NormalizeStep => ({
  type,
  config: {},
  apply,
  ...extra,
});

/** For each normalized unit, the original text it came from. */
const sources = (original: string, steps: NormalizeStep[]) => {
  const aligned = normalizeAligned(original, steps);
  return { text: aligned.text, from: [...aligned.text].map((_, i) => original.slice(...originalRange(aligned, i, i + 1))) };
};

describe('normalizeAligned', () => {
  test('unchanged text needs no alignment', () => {
    const aligned = normalizeAligned('abc', [step('NFC', (s) => s.normalize('NFC'))]);
    assert.equal(aligned.starts, null);
    assert.deepEqual(originalRange(aligned, 1, 3), [1, 3]);
  });

  test('Replace maps the replacement to what it replaced', () => {
    const replace = step('Replace', (s) => s.replaceAll(/ +/gu, '▁'), { pattern: / +/gu, config: { content: '▁' } });
    const { text, from } = sources('a  b c', [replace]);
    assert.equal(text, 'a▁b▁c');
    assert.deepEqual(from, ['a', '  ', 'b', ' ', 'c']);
  });

  test('Prepend inserts text that stands for nothing, at the start', () => {
    const aligned = normalizeAligned('hi', [step('Prepend', (s) => `▁${s}`)]);
    assert.equal(aligned.text, '▁hi');
    assert.deepEqual(originalRange(aligned, 0, 1), [0, 0]);
    assert.deepEqual(originalRange(aligned, 0, 2), [0, 1]);
  });

  test('Strip keeps the middle where it was', () => {
    const aligned = normalizeAligned('  hi ', [step('Strip', (s) => s.trim())]);
    assert.equal(aligned.text, 'hi');
    assert.deepEqual(originalRange(aligned, 0, 2), [2, 4]);
  });

  test('NFC composes a letter with its mark; untouched marks keep their own place', () => {
    const { text, from } = sources('e\u0301 a\u0301\u0302', [step('NFC', (s) => s.normalize('NFC'))]);
    assert.equal(text, 'é á\u0302');
    assert.deepEqual(from, ['e\u0301', ' ', 'a\u0301', '\u0302']);
  });

  test('Lowercase that changes length (İ → i̇) and depends on context (final sigma) still aligns', () => {
    const lower = step('Lowercase', (s) => s.toLowerCase());
    const dotted = sources('İx', [lower]);
    assert.equal(dotted.text, 'i̇x');
    assert.deepEqual(dotted.from, ['İ', 'İ', 'x']);
    const greek = sources('ΟΔΟΣ ΟΔΟΣ', [lower]);
    assert.equal(greek.text, 'οδος οδος');
    assert.deepEqual(greek.from, [...'ΟΔΟΣ ΟΔΟΣ']);
  });

  test('steps compose: NFKC then lowercase then whitespace collapsing', () => {
    const steps = [
      step('NFKC', (s) => s.normalize('NFKC')),
      step('Lowercase', (s) => s.toLowerCase()),
      step('RemoveSpace', (s) => s.trim().split(/\s+/).join(' ')),
    ];
    const { text, from } = sources(' ＨＩ   ﬁ ', steps);
    assert.equal(text, 'hi fi');
    assert.deepEqual(from, ['Ｈ', 'Ｉ', '   ', 'ﬁ', 'ﬁ']);
  });

  test('never throws and stays in bounds on random text', () => {
    const rnd = random(11);
    const alphabet = ['A', 'ß', ' ', '\t', 'e\u0301', 'İ', 'Σ', 'ﬁ', '😀', '\uD800', 'ᄀ', 'ᅡ', '가'];
    const steps = [
      step('NFKD', (s) => s.normalize('NFKD')),
      step('StripAccents', (s) => s.replace(/\p{M}/gu, '')),
      step('Lowercase', (s) => s.toLowerCase()),
      step('NFC', (s) => s.normalize('NFC')),
    ];
    for (let round = 0; round < 300; round++) {
      let original = '';
      for (let i = 0, n = Math.floor(rnd() * 12); i < n; i++) original += alphabet[Math.floor(rnd() * alphabet.length)];
      const aligned = normalizeAligned(original, steps);
      for (let i = 0; i < aligned.text.length; i++) {
        const [s, e] = originalRange(aligned, i, i + 1);
        assert.ok(s >= 0 && s <= e && e <= original.length);
      }
    }
  });
});

// ---- piece bytes and display ---------------------------------------------------------------------------------------

describe('piece bytes', () => {
  test('byte-level pieces map through the GPT-2 table', () => {
    assert.equal(BYTE_TO_UNICODE[0x20], 'Ġ');
    assert.equal(BYTE_TO_UNICODE[0x0a], 'Ċ');
    assert.deepEqual([...byteLevelPieceBytes('Ġhello')], [...utf8(' hello')]);
    assert.deepEqual([...byteLevelPieceBytes('ðŁĺĢ')], [...utf8('😀')]);
  });

  test('SentencePiece pieces: ▁ is a space, <0xNN> a byte; WordPiece ## and CLIP </w> stand for nothing', () => {
    const sp = pieceSchemeOf({ model: { type: 'BPE', byte_fallback: true }, pre_tokenizer: { type: 'Metaspace', replacement: '▁' } });
    assert.equal(sp.style, 'metaspace');
    assert.deepEqual([...pieceBytes('▁the', sp)], [...utf8(' the')]);
    assert.deepEqual([...pieceBytes('<0xF0>', sp)], [0xf0]);
    const wp = pieceSchemeOf({ model: { type: 'WordPiece', continuing_subword_prefix: '##' } });
    assert.deepEqual([...pieceBytes('##ing', wp)], [...utf8('ing')]);
    assert.deepEqual([...pieceBytes('##', wp)], [...utf8('##')]);
    const clip = pieceSchemeOf({ model: { type: 'BPE', end_of_word_suffix: '</w>' }, pre_tokenizer: { type: 'ByteLevel' } });
    assert.deepEqual([...pieceBytes('hello</w>', clip)], [...utf8('hello')]);
  });
});

describe('display', () => {
  test('pieces show what they stand for, with visible whitespace', () => {
    assert.equal(showPiece('Ġhello', 'byte-level'), '·hello');
    assert.equal(showPiece('▁the', 'metaspace'), '·the');
    assert.equal(showPiece('Ċ', 'byte-level'), '↵');
    assert.equal(showPiece('ĉ', 'byte-level'), '⇥');
    assert.equal(showPiece('č', 'byte-level'), '␍');
    assert.equal(showPiece('ĊĊĠĠ', 'byte-level'), '↵↵··');
    assert.equal(showPiece('<0x0A>', 'metaspace'), '<0x0A>');
    assert.equal(showPiece('ĠðŁĺĢ', 'byte-level'), '·😀');
    assert.equal(showPiece('Ã©t', 'byte-level'), 'ét');
    assert.equal(showPiece('<|im_start|>', 'byte-level'), '<|im_start|>');
    assert.equal(showPiece('##ing', 'other'), '##ing');
    assert.equal(showPiece('', 'other'), '∅');
  });

  test('byte-level pieces holding part of a character show those bytes as hex', () => {
    assert.equal(showPiece('ðŁ', 'byte-level'), '<0xF0><0x9F>');
    assert.equal(showPiece('ĠðŁ', 'byte-level'), '·<0xF0><0x9F>');
    assert.equal(showPiece('âĢį', 'byte-level'), '<U+200D>'); // a whole zero-width joiner, made visible
    assert.equal(showBytes(Uint8Array.of(0x61, 0xe4, 0xb8)), 'a<0xE4><0xB8>');
  });

  test('without the style, the family is guessed from the piece', () => {
    assert.equal(guessPieceStyle('Ġhello'), 'byte-level');
    assert.equal(guessPieceStyle('▁hello'), 'metaspace');
    assert.equal(guessPieceStyle('<0xF0>'), 'metaspace');
    assert.equal(guessPieceStyle('Ã©'), 'byte-level');
    assert.equal(guessPieceStyle('é'), 'other');
    assert.equal(showPiece('Ġworld'), '·world');
    assert.equal(showPiece('▁world'), '·world');
    assert.equal(showPiece('café'), 'café');
  });

  test('control and invisible characters are made visible', () => {
    assert.equal(visibleText('a\u0000b\u007f\u200b\u00a0'), 'a␀b␡<U+200B>⍽');
  });

  test('decoded bytes for a token card: quoted text and hex', () => {
    assert.deepEqual(describeTokenBytes(utf8(' hello')), { text: '" hello"', hex: '20 68 65 6C 6C 6F', complete: true });
    assert.deepEqual(describeTokenBytes(utf8('\n\t"\\')), { text: '"\\n\\t\\"\\\\"', hex: '0A 09 22 5C', complete: true });
    assert.deepEqual(describeTokenBytes(Uint8Array.of(0xf0, 0x9f)), { text: '"\\xF0\\x9F"', hex: 'F0 9F', complete: false });
    assert.deepEqual(describeTokenBytes(utf8('😀')), { text: '"😀"', hex: 'F0 9F 98 80', complete: true });
    assert.deepEqual(describeTokenBytes(new Uint8Array(0)), { text: '""', hex: '', complete: true });
  });
});

describe('LruCache', () => {
  test('keeps the most recently used entries', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    assert.equal(cache.get('a'), 1);
    cache.set('c', 3);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 1);
    assert.equal(cache.size, 2);
  });
});

// ---- small tokenizers of every family, against the Rust tokenizers ------------------------------------------------

const addedToken = (id: number, content: string, special = true, extra: Record<string, unknown> = {}) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: !special,
  special,
  ...extra,
});

function template(first: string, firstId: number, last?: string, lastId?: number) {
  const single: unknown[] = [{ SpecialToken: { id: first, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }];
  const pair: unknown[] = [...single, { Sequence: { id: 'B', type_id: 1 } }];
  const specials: Record<string, unknown> = { [first]: { id: first, ids: [firstId], tokens: [first] } };
  if (last !== undefined) {
    single.push({ SpecialToken: { id: last, type_id: 0 } });
    pair.push({ SpecialToken: { id: last, type_id: 1 } });
    specials[last] = { id: last, ids: [lastId], tokens: [last] };
  }
  return { type: 'TemplateProcessing', single, pair, special_tokens: specials };
}

/** BPE vocab and merges that build each word left to right from its symbols. */
function bpeFrom(base: string[], words: string[][]) {
  const vocab: Record<string, number> = {};
  const add = (t: string) => {
    if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  };
  base.forEach(add);
  const merges: [string, string][] = [];
  const seen = new Set<string>();
  for (const symbols of words) {
    symbols.forEach(add);
    let acc = symbols[0]!;
    for (const next of symbols.slice(1)) {
      const key = `${acc} ${next}`;
      if (!seen.has(key)) {
        seen.add(key);
        merges.push([acc, next]);
      }
      acc += next;
      add(acc);
    }
  }
  return { vocab, merges };
}

const chars = (word: string) => [...word];
const base = { version: '1.0', truncation: null, padding: null };

const FIXTURES: Record<string, () => Record<string, unknown>> = {
  /** BERT: lower-casing, accent stripping, CJK spacing, [UNK] for whole words, [CLS]/[SEP]. */
  wordpiece: () => {
    const pieces = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', ',', '!', '.', 'un', '##believ', '##able', 'token', '##ize', '##d', 'cafe', 'naive', '中', '文', 'the', 'a', 'e', '##s'];
    return {
      ...base,
      added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t, i) => addedToken(i, t)),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: template('[CLS]', 2, '[SEP]', 3),
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(pieces.map((p, i) => [p, i])) },
    };
  },
  /** Llama 2 (new style): Prepend ▁ and Replace " " → ▁ normalizers, byte fallback, <s>. */
  llama2: () => {
    const bytePieces = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    const { vocab, merges } = bpeFrom(['<unk>', '<s>', '</s>', ...bytePieces], [chars('▁hello'), chars('▁world'), chars('▁the'), chars('hello'), ['▁', '▁'], chars('▁é'), chars('ab')]);
    return {
      ...base,
      added_tokens: [addedToken(0, '<unk>'), addedToken(1, '<s>'), addedToken(2, '</s>')],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
      pre_tokenizer: null,
      post_processor: template('<s>', 1),
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
    };
  },
  /** GPT-2 / RoBERTa: byte-level with add_prefix_space, lower-casing, <mask> with lstrip, a normalized added token. */
  gpt2: () => {
    const { vocab, merges } = bpeFrom(BYTE_TO_UNICODE.slice(), [chars('Ġhello'), chars('Ġworld'), chars('hello'), chars('ĠĠ'), chars('ĠThe'), chars('Ċ')]);
    const n = Object.keys(vocab).length;
    const byteLevel = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
    return {
      ...base,
      added_tokens: [addedToken(n, '<|endoftext|>'), addedToken(n + 1, '<mask>', true, { lstrip: true }), addedToken(n + 2, 'Hello World', false, { normalized: true })],
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
    };
  },
  /** T5-like Unigram: NFKC, runs of spaces collapsed, Metaspace with a prepended ▁, </s> at the end. */
  unigram: () => {
    const pieces: [string, number][] = [['<unk>', 0], ['▁', -2], ['▁hello', -3], ['▁world', -3], ['hel', -5], ['lo', -5], ['▁the', -3], ['s', -4], ['e', -6], ['h', -6], ['l', -6], ['o', -6], ['w', -6], ['r', -6], ['d', -6], ['t', -6], ['é', -7], ['a', -6], ['b', -6]];
    const eos = pieces.length;
    return {
      ...base,
      added_tokens: [addedToken(0, '<unk>'), addedToken(eos, '</s>')],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        special_tokens: { '</s>': { id: '</s>', ids: [eos], tokens: ['</s>'] } },
      },
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 0, vocab: pieces, byte_fallback: false },
    };
  },
  /** CLIP: byte-level BPE with an end-of-word suffix, words split with whitespace removed, RoBERTa post-processor. */
  clip: () => {
    const bytePieces = BYTE_TO_UNICODE.slice();
    const words = ['hello', 'world', 'the', 'a', 'photo', 'of'].map((w) => {
      const symbols = chars(w);
      symbols[symbols.length - 1] += '</w>';
      return symbols;
    });
    const { vocab, merges } = bpeFrom([...bytePieces, ...bytePieces.map((c) => `${c}</w>`)], words);
    const n = Object.keys(vocab).length;
    return {
      ...base,
      added_tokens: [addedToken(n, '<|startoftext|>'), addedToken(n + 1, '<|endoftext|>')],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
        ],
      },
      post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', n + 1], cls: ['<|startoftext|>', n], trim_offsets: false, add_prefix_space: false },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab, merges },
    };
  },
};

const FIXTURE_TEXTS = [
  'Hello, world!', 'hello world', 'Héllo   wörld', 'unbelievable tokenized.', '中文 the', 'xyz qq', '[CLS] hello [MASK]', '  ', '', 'café NAÏVE',
  'the hellos', ' hello  world ', 'ab😀ab é', 'Hello World and hello world <mask> x', 'hello <mask>', 'a\tb\nc', 'ＨＥＬＬＯ ﬁ', 'hello</s>world', '<s>hello',
  'e\u0301 combining', 'lone \uD800 surrogate',
];

/**
 * Compares our spans with the Rust tokenizers' (code point offsets, converted). Where the two conventions differ on
 * purpose, the difference is checked to be exactly that:
 *  - tokens the post-processor adds: Rust says (0, 0) for all; here, the ones after the text sit at its end;
 *  - a space that is not in the text (Metaspace/Prepend ▁, add_prefix_space Ġ) on its own: Rust lends it the first
 *    character; here it has an empty span where it was inserted;
 *  - normalization that merges characters (NFC composition, collapsed spaces): Rust aligns the result to one of the
 *    merged characters and leaves the others to no token; here it covers all of them.
 */
function checkAgainstRust(text: string, ours: TokenSpan[], rust: number[][], label: string): void {
  assert.equal(ours.length, rust.length, label);
  ours.forEach((token, i) => {
    const [rs, re] = rust[i]!;
    const where = `${label}: token ${i} ${JSON.stringify(token.text)} ours [${token.start}, ${token.end}) rust [${rs}, ${re})`;
    if (token.origin === 'post-processor') {
      assert.equal(token.start, token.end, where);
      assert.ok(token.start === 0 || token.start === text.length, where);
      return;
    }
    if (token.start === rs && token.end === re) return;
    const virtualSpace = token.start === token.end && /^[▁Ġ]+$/.test(token.text) && rs === 0 && re === codePointEnd(text, 0);
    const merged =
      token.start <= rs! &&
      token.end >= re! &&
      /^[\p{M}\s]*$/u.test(text.slice(token.start, rs) + text.slice(re, token.end));
    assert.ok(virtualSpace || merged, where);
  });
}

describe('small tokenizers of every family agree with the Rust tokenizers', () => {
  for (const [name, build] of Object.entries(FIXTURES)) {
    test(`${name}: same ids, and the same offsets up to the documented conventions`, async () => {
      const json = JSON.stringify(build());
      const rust = RustTokenizer.fromString(json);
      const ours = tokenizerFromJson(JSON.parse(json), {}, `${name}.json`);
      for (const text of FIXTURE_TEXTS) {
        for (const addSpecialTokens of [false, true]) {
          const label = `${name} ${JSON.stringify(text)} add=${addSpecialTokens}`;
          const expected = await rust.encode(text, null, { addSpecialTokens });
          const tokens = ours.tokenize(text, { addSpecialTokens });
          assert.deepEqual(tokens.map((t) => t.id), expected.getIds(), label);
          const toUtf16 = codePointToUtf16(wellFormed(text));
          checkAgainstRust(text, tokens, expected.getOffsets().map(([s, e]) => [toUtf16(s!), toUtf16(e!)]), label);
        }
      }
    });
  }

  test('WordPiece [UNK] covers the whole unknown word; BERT drops the whitespace between words', () => {
    const tokenizer = tokenizerFromJson(FIXTURES.wordpiece!(), {});
    const text = 'hello xyz   world';
    const tokens = tokenizer.tokenize(text);
    assert.deepEqual(tokens.map((t) => [t.text, text.slice(t.start, t.end)]), [['hello', 'hello'], ['[UNK]', 'xyz'], ['world', 'world']]);
    assert.equal(tokenizer.facts.type, 'WordPiece');
    assert.equal(tokenizer.facts.style, 'other');
    assert.deepEqual(
      tokenizer.facts.specialTokens.map((t) => [t.text, t.role]),
      [['[PAD]', undefined], ['[UNK]', 'unk'], ['[CLS]', undefined], ['[SEP]', undefined], ['[MASK]', undefined]],
    );
  });

  test('an added token with lstrip takes the space before it (RoBERTa <mask>)', () => {
    const tokenizer = tokenizerFromJson(FIXTURES.gpt2!(), {});
    const text = 'hello   <mask>!';
    const mask = tokenizer.tokenize(text).find((t) => t.text === '<mask>')!;
    assert.equal(text.slice(mask.start, mask.end), '   <mask>');
    assert.equal(mask.origin, 'added');
  });

  test('Llama 2 style: the prepended ▁ belongs to the first word, or stands alone with an empty span', () => {
    const tokenizer = tokenizerFromJson(FIXTURES.llama2!(), {});
    const hello = tokenizer.tokenize('hello world');
    assert.deepEqual(hello.map((t) => [t.text, t.start, t.end]), [['▁hello', 0, 5], ['▁world', 5, 11]]);
    const cjk = tokenizer.tokenize('中');
    assert.deepEqual(cjk.map((t) => [t.text, t.start, t.end]), [['▁', 0, 0], ['<0xE4>', 0, 1], ['<0xB8>', 0, 1], ['<0xAD>', 0, 1]]);
    assert.equal(tokenizer.facts.style, 'metaspace');
  });
});
