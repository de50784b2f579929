/**
 * What bytes a vocabulary piece stands for. Byte-level BPE (GPT-2, Llama 3, Qwen, GPT-4o) writes every byte as one
 * printable character (space → Ġ, newline → Ċ); SentencePiece-style vocabularies (Gemma, Llama 2, T5) write a
 * space as ▁ and unknown bytes as <0xNN>; WordPiece marks word continuations with ##.
 */
import { utf8 } from './utf8';

/** GPT-2's byte → printable character table (`bytes_to_unicode`). */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + next++);
  }
  return table;
})();

/** The inverse table, indexed by UTF-16 code unit (all of them are below U+0144); -1 where a unit is no byte. */
const UNICODE_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_UNICODE.forEach((char, byte) => {
    table[char.charCodeAt(0)] = byte;
  });
  return table;
})();

/** The byte a byte-level character stands for, or -1. */
export function byteOfByteLevelChar(unit: number): number {
  return unit < UNICODE_TO_BYTE.length ? UNICODE_TO_BYTE[unit]! : -1;
}

/** True when every character of the piece is in the byte-level alphabet. */
export function isByteLevelPiece(piece: string): boolean {
  for (let i = 0; i < piece.length; i++) if (byteOfByteLevelChar(piece.charCodeAt(i)) < 0) return false;
  return piece.length > 0;
}

/** Bytes of a byte-level piece; characters outside the alphabet (added tokens) count as their own UTF-8. */
export function byteLevelPieceBytes(piece: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < piece.length; i++) {
    const byte = byteOfByteLevelChar(piece.charCodeAt(i));
    if (byte >= 0) out.push(byte);
    else {
      const unit = piece.charCodeAt(i);
      const end = unit >= 0xd800 && unit <= 0xdbff && i + 1 < piece.length ? i + 2 : i + 1;
      out.push(...utf8(piece.slice(i, end)));
      i = end - 1;
    }
  }
  return Uint8Array.from(out);
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte of a SentencePiece byte-fallback piece such as `<0xE2>`, or -1. */
export function byteOfFallbackPiece(piece: string): number {
  const match = piece.length === 6 ? BYTE_PIECE.exec(piece) : null;
  return match ? parseInt(match[1]!, 16) : -1;
}

/** How one tokenizer writes its pieces; derived from tokenizer.json by `pieceSchemeOf`. */
export interface PieceScheme {
  style: 'byte-level' | 'metaspace' | 'other';
  /** Pieces are byte-level strings (Ġ = space). */
  byteLevel: boolean;
  /** The character that stands for a space (SentencePiece ▁), or null. */
  spaceMarker: string | null;
  /** <0xNN> pieces are single bytes. */
  byteFallback: boolean;
  /** A prefix marking a word continuation that is not in the text ("##" in WordPiece), or null. */
  continuingPrefix: string | null;
  /** A suffix marking a word's end that is not in the text ("</w>" in CLIP), or null. */
  endOfWordSuffix: string | null;
}

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json | null =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : null;

/** Every component of a (possibly nested Sequence) tokenizer.json section, flattened. */
export function flattenComponents(section: unknown): Json[] {
  const node = asObject(section);
  if (!node) return [];
  const children = [node.normalizers, node.pretokenizers, node.decoders, node.processors].find(Array.isArray) as
    | unknown[]
    | undefined;
  if (node.type === 'Sequence' && children) return children.flatMap(flattenComponents);
  return [node];
}

function stringPattern(component: Json): string | undefined {
  const pattern = asObject(component.pattern);
  return pattern && typeof pattern.String === 'string' ? pattern.String : undefined;
}

/** Reads how pieces are written from tokenizer.json's model, normalizer, pre-tokenizer and decoder. */
export function pieceSchemeOf(tokenizerJson: Json): PieceScheme {
  const model = asObject(tokenizerJson.model) ?? {};
  const normalizers = flattenComponents(tokenizerJson.normalizer);
  const preTokenizers = flattenComponents(tokenizerJson.pre_tokenizer);
  const decoders = flattenComponents(tokenizerJson.decoder);

  const byteLevel =
    preTokenizers.some((c) => c.type === 'ByteLevel') ||
    (decoders.some((c) => c.type === 'ByteLevel') && !decoders.some((c) => c.type === 'Metaspace'));

  let spaceMarker: string | null = null;
  for (const c of [...preTokenizers, ...decoders]) {
    if (c.type === 'Metaspace') {
      spaceMarker = typeof c.replacement === 'string' && c.replacement ? c.replacement : '▁';
      break;
    }
  }
  if (spaceMarker === null) {
    // Gemma, Llama 2 (new style): a Replace " " → "▁" normalizer, and a Replace "▁" → " " decoder.
    const normal = normalizers.find((c) => c.type === 'Replace' && stringPattern(c) === ' ' && typeof c.content === 'string');
    const decoder = decoders.find((c) => c.type === 'Replace' && typeof stringPattern(c) === 'string' && c.content === ' ');
    const marker = (normal?.content as string | undefined) ?? (decoder ? stringPattern(decoder) : undefined);
    if (marker) spaceMarker = marker;
  }

  const modelType = typeof model.type === 'string' ? model.type : '';
  const byteFallback = model.byte_fallback === true || decoders.some((c) => c.type === 'ByteFallback');
  const wordPiece = modelType === 'WordPiece' || (!modelType && !('merges' in model) && 'continuing_subword_prefix' in model);
  const prefix = typeof model.continuing_subword_prefix === 'string' && model.continuing_subword_prefix
    ? model.continuing_subword_prefix
    : wordPiece
      ? '##'
      : null;
  const suffix = typeof model.end_of_word_suffix === 'string' && model.end_of_word_suffix ? model.end_of_word_suffix : null;

  return {
    style: byteLevel ? 'byte-level' : spaceMarker !== null || byteFallback ? 'metaspace' : 'other',
    byteLevel,
    spaceMarker: byteLevel ? null : (spaceMarker ?? (byteFallback ? '▁' : null)),
    byteFallback,
    continuingPrefix: prefix,
    endOfWordSuffix: suffix,
  };
}

/** Removes the WordPiece "##" / CLIP "</w>" markers, which stand for no text. */
function stripMarkers(piece: string, scheme: PieceScheme): string {
  let core = piece;
  if (scheme.continuingPrefix && core.length > scheme.continuingPrefix.length && core.startsWith(scheme.continuingPrefix)) {
    core = core.slice(scheme.continuingPrefix.length);
  }
  if (scheme.endOfWordSuffix && core.endsWith(scheme.endOfWordSuffix)) core = core.slice(0, -scheme.endOfWordSuffix.length);
  return core;
}

/**
 * The bytes a model piece stands for in the (normalized) text: Ġ → 0x20, ▁ → 0x20, <0xF0> → 0xF0, ##ing → "ing".
 * Added tokens are not model pieces: their bytes are their content (see `addedTokenBytes`).
 */
export function pieceBytes(piece: string, scheme: PieceScheme): Uint8Array {
  const core = stripMarkers(piece, scheme);
  if (scheme.byteLevel) return byteLevelPieceBytes(core);
  if (scheme.byteFallback) {
    const byte = byteOfFallbackPiece(core);
    if (byte >= 0) return Uint8Array.of(byte);
  }
  return utf8(scheme.spaceMarker ? core.replaceAll(scheme.spaceMarker, ' ') : core);
}

/**
 * The bytes an added token stands for. Special tokens are their content. Non-special added tokens that are also
 * ordinary pieces (Gemma's "▁▁" runs) read like pieces in a SentencePiece vocabulary, where the decoder turns ▁
 * into a space for every token.
 */
export function addedTokenBytes(content: string, special: boolean, scheme: PieceScheme): Uint8Array {
  if (!special && !scheme.byteLevel && scheme.spaceMarker) return utf8(content.replaceAll(scheme.spaceMarker, ' '));
  return utf8(content);
}
