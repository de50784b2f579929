/**
 * The "tokenizer" of a word-vector model (GloVe, word2vec, fastText): its word list.
 *
 * Text is split into words, runs of Unicode letters, marks and digits, and symbols: a run of other non-space
 * characters is one token when the vocabulary has it ("...", "--"), else one token per character. Each piece maps to
 * its row. When every word of the vocabulary is lowercase (GloVe 6B), pieces are looked up lowercased; otherwise
 * the exact form is tried first, then the lowercased one.
 *
 * Unknown words: a piece that is not in the vocabulary gets the vocabulary's own unknown word ("<unk>", "<UNK>" or
 * "[UNK]") when it has one, and otherwise id -1 (`UNKNOWN_WORD_ID`), with the text as written. Offsets are UTF-16
 * positions in the input, exact for every piece.
 */
import type { TokenizeOptions, TokenizerFacts, TokenizerHandle, TokenSpan } from './tokenizer';

/** The id of a word that is not in the vocabulary (when the vocabulary has no unknown word of its own). */
export const UNKNOWN_WORD_ID = -1;

const UNKNOWN_WORDS = ['<unk>', '<UNK>', '[UNK]', 'UNK', '<unknown>'];

/** Words (letters, marks, digits) or runs of symbols. */
const PIECES = /[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}]+/gu;
const WORD = /^[\p{L}\p{M}\p{N}]/u;

export interface WordListTokenizerOptions {
  /** Look words up lowercased; default: true when no word of the vocabulary has an uppercase letter. */
  lowercase?: boolean;
}

/** True when no word has a character that lowercasing changes. */
export function isLowercaseVocabulary(words: readonly string[]): boolean {
  for (const word of words) if (word !== word.toLowerCase()) return false;
  return true;
}

export class WordListTokenizer implements TokenizerHandle {
  readonly facts: TokenizerFacts;
  readonly lowercase: boolean;
  /** The id given to pieces that are not in the vocabulary. */
  readonly unknownId: number;
  private readonly ids = new Map<string, number>();
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly words: readonly string[],
    options: WordListTokenizerOptions = {},
  ) {
    for (let id = 0; id < words.length; id++) if (!this.ids.has(words[id])) this.ids.set(words[id], id);
    this.lowercase = options.lowercase ?? isLowercaseVocabulary(words);
    const unknownWord = UNKNOWN_WORDS.find((word) => this.ids.has(word));
    this.unknownId = unknownWord !== undefined ? this.ids.get(unknownWord)! : UNKNOWN_WORD_ID;
    this.facts = {
      type: 'WordLevel',
      vocabSize: words.length,
      style: 'other',
      specialTokens: unknownWord !== undefined ? [{ id: this.unknownId, text: unknownWord, role: 'unk', roles: ['unk'] }] : [],
      maxTokenId: words.length - 1,
      addedTokenCount: 0,
      pipeline: { normalizer: this.lowercase ? 'Lowercase' : null, preTokenizer: 'Words (letter and digit runs, symbols)', postProcessor: null, decoder: null },
      addsSpecialTokens: false,
    };
  }

  /** The row of a piece of text, or undefined when the vocabulary does not have it. */
  lookup(piece: string): number | undefined {
    if (this.lowercase) return this.ids.get(piece.toLowerCase());
    return this.ids.get(piece) ?? this.ids.get(piece.toLowerCase());
  }

  tokenize(text: string, _options: TokenizeOptions = {}): TokenSpan[] {
    const input = typeof text === 'string' ? text : String(text ?? '');
    const spans: TokenSpan[] = [];
    const push = (piece: string, start: number) => {
      const id = this.lookup(piece);
      spans.push({ id: id ?? this.unknownId, text: id !== undefined ? this.words[id] : piece, start, end: start + piece.length, special: false, origin: 'text' });
    };
    for (const match of input.matchAll(PIECES)) {
      const piece = match[0];
      const start = match.index ?? 0;
      if (WORD.test(piece) || this.lookup(piece) !== undefined) {
        push(piece, start);
        continue;
      }
      // A run of symbols the vocabulary does not have: one token per character (code point).
      let at = start;
      for (const char of piece) {
        push(char, at);
        at += char.length;
      }
    }
    return spans;
  }

  decode(ids: number[]): string {
    return ids.map((id) => this.idToToken(id) ?? '<unk>').join(' ');
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.words.length ? this.words[id] : undefined;
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  isSpecial(id: number): boolean {
    return id >= 0 && id === this.unknownId;
  }

  tokenBytes(id: number): Uint8Array {
    const word = this.idToToken(id);
    return word === undefined ? new Uint8Array(0) : this.encoder.encode(word);
  }
}
