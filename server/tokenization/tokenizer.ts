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
  /**
   * Where the token came from: the model's pieces of ordinary text, an added token written in the text (such as
   * "<|im_start|>", special or not), or the post-processor (BOS/EOS with addSpecialTokens, empty span at 0 or at the
   * end). Absent on spans built elsewhere.
   */
  origin?: 'text' | 'added' | 'post-processor';
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
  /** Special added tokens and the tokens the config names (bos, eos, unk, pad, sep, cls, mask), by id. */
  specialTokens: { id: number; text: string; role?: string; roles?: string[] }[];
  /** The largest id (ids can have gaps: GPT-4o's 200,000 entries reach 200,018). */
  maxTokenId?: number;
  /** Number of added tokens (special or not) in tokenizer.json. */
  addedTokenCount?: number;
  /** The types of the pipeline's parts, e.g. normalizer "NFC", preTokenizer "Sequence(Split, ByteLevel)". */
  pipeline?: { normalizer: string | null; preTokenizer: string | null; postProcessor: string | null; decoder: string | null };
  /** Whether tokenize adds tokens (BOS …) when addSpecialTokens is set. */
  addsSpecialTokens?: boolean;
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
