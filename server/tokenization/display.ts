/**
 * How a token is shown to a person. Vocabulary strings are written in each family's own code (Ġ for a space in
 * byte-level BPE, ▁ in SentencePiece, <0xF0> for a byte); here they become what they stand for, with whitespace made
 * visible (the same glyphs as the token strip: space ·, newline ↵, tab ⇥, carriage return ␍, no-break space ⍽) and
 * bytes that are not a whole UTF-8 character shown as hex, in SentencePiece's <0xNN> notation for every family.
 */
import { byteLevelPieceBytes, byteOfFallbackPiece, byteOfByteLevelChar, isByteLevelPiece } from './pieceBytes';
import type { TokenizerFacts } from './tokenizer';

export type PieceStyle = TokenizerFacts['style'];

export const VISIBLE_SPACE = '·';
export const VISIBLE_NEWLINE = '↵';
export const VISIBLE_TAB = '⇥';
export const VISIBLE_CARRIAGE_RETURN = '␍';
export const VISIBLE_NO_BREAK_SPACE = '⍽';

const hex2 = (byte: number) => byte.toString(16).toUpperCase().padStart(2, '0');

/** A byte shown on its own: <0xF0>. */
export const byteBadge = (byte: number) => `<0x${hex2(byte)}>`;

/** Whitespace and invisible characters made visible; everything else unchanged. Never multi-line. */
export function visibleText(text: string): string {
  let out = '';
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    if (char === ' ') out += VISIBLE_SPACE;
    else if (char === '\n') out += VISIBLE_NEWLINE;
    else if (char === '\t') out += VISIBLE_TAB;
    else if (char === '\r') out += VISIBLE_CARRIAGE_RETURN;
    else if (char === '\u00a0') out += VISIBLE_NO_BREAK_SPACE;
    else if (cp < 0x20) out += String.fromCodePoint(0x2400 + cp); // control pictures: ␀ ␁ … ␛
    else if (cp === 0x7f) out += '␡';
    else if ((cp >= 0x80 && cp < 0xa0) || /^[\p{Cf}\p{Zl}\p{Zp}]$/u.test(char) || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += `<U+${cp.toString(16).toUpperCase().padStart(4, '0')}>`; // ZWJ, BOM, soft hyphen, line separators …
    } else out += char;
  }
  return out;
}

/** Length of the well-formed UTF-8 sequence at `at`, or 0 when the byte there does not start one. */
function utf8SequenceLength(bytes: Uint8Array, at: number): number {
  const lead = bytes[at]!;
  let length: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) low = 0xa0;
    if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead === 0xf0) low = 0x90;
    if (lead === 0xf4) high = 0x8f;
  } else return 0;
  if (at + length > bytes.length) return 0;
  for (let k = 1; k < length; k++) {
    const byte = bytes[at + k]!;
    if (k === 1 ? byte < low || byte > high : byte < 0x80 || byte > 0xbf) return 0;
  }
  return length;
}

/** Splits bytes into whole characters and stray bytes. */
function decodeParts(bytes: Uint8Array): { text?: string; byte?: number }[] {
  const parts: { text?: string; byte?: number }[] = [];
  const decoder = new TextDecoder();
  for (let at = 0; at < bytes.length; ) {
    const length = utf8SequenceLength(bytes, at);
    if (length === 0) {
      parts.push({ byte: bytes[at]! });
      at++;
    } else {
      parts.push({ text: decoder.decode(bytes.subarray(at, at + length)) });
      at += length;
    }
  }
  return parts;
}

/** Bytes as visible text; bytes that are not part of a whole character as <0xNN>. */
export function showBytes(bytes: Uint8Array): string {
  return decodeParts(bytes)
    .map((part) => (part.text !== undefined ? visibleText(part.text) : byteBadge(part.byte!)))
    .join('');
}

/** True when every byte belongs to a whole UTF-8 character. */
export function isCompleteUtf8(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; ) {
    const length = utf8SequenceLength(bytes, at);
    if (length === 0) return false;
    at += length;
  }
  return true;
}

/** Guesses a piece's family when the tokenizer is not at hand. */
export function guessPieceStyle(piece: string): PieceStyle {
  if (piece.includes('▁') || byteOfFallbackPiece(piece) >= 0) return 'metaspace';
  if (!isByteLevelPiece(piece)) return 'other';
  // Ġ, Ċ, ĉ …: the remapped bytes are a sure sign. Otherwise Ã© (é) reads as byte-level only when it decodes.
  for (let i = 0; i < piece.length; i++) if (piece.charCodeAt(i) >= 0x100) return 'byte-level';
  const bytes = byteLevelPieceBytes(piece);
  return bytes.some((b) => b >= 0x80) && isCompleteUtf8(bytes) ? 'byte-level' : 'other';
}

/**
 * A vocabulary piece as a person reads it: "Ġhello" → "·hello", "▁the" → "·the", "Ċ" → "↵", "ĉ" → "⇥",
 * "<0xF0>" stays "<0xF0>", "ðŁ" (the first two bytes of an emoji) → "<0xF0><0x9F>", "ĠðŁĺĢ" → "·😀".
 * Pass the tokenizer's style (facts.style) when known; otherwise it is guessed from the piece.
 */
export function showPiece(piece: string, style: PieceStyle = guessPieceStyle(piece)): string {
  if (piece.length === 0) return '∅';
  if (byteOfFallbackPiece(piece) >= 0) return piece;
  if (style === 'byte-level') {
    let allBytes = true;
    for (let i = 0; i < piece.length && allBytes; i++) allBytes = byteOfByteLevelChar(piece.charCodeAt(i)) >= 0;
    // Added tokens such as <|im_start|> are plain text, not byte strings; they contain only printable ASCII anyway.
    return allBytes ? showBytes(byteLevelPieceBytes(piece)) : visibleText(piece);
  }
  if (style === 'metaspace') return visibleText(piece.replaceAll('▁', ' '));
  return visibleText(piece);
}

export interface DescribedBytes {
  /** A quoted, escaped string: `" hello"`, `"\n"`, `"\xF0\x9F"` for a partial character. */
  text: string;
  /** Upper-case hex, space separated: `20 68 65 6C 6C 6F`. */
  hex: string;
  /** Whether the bytes are whole UTF-8 characters. */
  complete: boolean;
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** "Decoded bytes" for a token card: the string the bytes spell, escaped and quoted, and the bytes in hex. */
export function describeTokenBytes(bytes: Uint8Array): DescribedBytes {
  let text = '"';
  for (const part of decodeParts(bytes)) {
    if (part.text === undefined) {
      text += `\\x${hex2(part.byte!)}`;
      continue;
    }
    for (const char of part.text) {
      const cp = char.codePointAt(0)!;
      if (ESCAPES[char]) text += ESCAPES[char];
      else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || /^[\p{Cf}\p{Zl}\p{Zp}]$/u.test(char)) {
        text += `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
      } else text += char;
    }
  }
  text += '"';
  return { text, hex: Array.from(bytes, hex2).join(' '), complete: isCompleteUtf8(bytes) };
}
