/**
 * The tokenizer interface every feature uses. Implemented on top of transformers.js (`@huggingface/transformers`)
 * with remote loading switched off; offsets are computed here because transformers.js has none.
 */

export interface TokenSpan {
  id: number;
  /** The vocabulary string of the token, e.g. "Ġhello", "▁the", "<0xF0>". */
  text: string;
  /** UTF-16 start offset into the input (inclusive). */
  start: number;
  /** UTF-16 end offset into the input (exclusive). */
  end: number;
  special: boolean;
}

export interface TokenizeOptions {
  /** Add what the tokenizer's post-processor adds (BOS, …). Default false: the text's own tokens only. */
  addSpecialTokens?: boolean;
}

export interface TokenizerFacts {
  /** The model type of tokenizer.json ("BPE", "Unigram", "WordPiece", "WordLevel"). */
  type: string;
  /** Number of entries including added tokens. */
  vocabSize: number;
  /** Byte-level BPE (GPT-2 style Ġ) or SentencePiece style (▁ and <0xNN>), for display. */
  style: 'byte-level' | 'metaspace' | 'other';
  specialTokens: { id: number; text: string; role?: string }[];
}

export interface TokenizerHandle {
  facts: TokenizerFacts;
  tokenize(text: string, options?: TokenizeOptions): TokenSpan[];
  decode(ids: number[]): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  isSpecial(id: number): boolean;
  /** The raw bytes a token stands for (Ġ→0x20, <0xF0>→0xF0, ▁→0x20). */
  tokenBytes(id: number): Uint8Array;
}
