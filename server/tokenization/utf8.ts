/**
 * UTF-8 and UTF-16 bookkeeping for offsets. Tokenizers work on UTF-8 bytes (byte-level BPE, <0xNN> byte fallback);
 * editors count UTF-16 code units; the Rust tokenizers count code points. These helpers move between the three.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The text with every lone surrogate replaced by U+FFFD, the same length as the input. A lone surrogate cannot be
 * written as UTF-8, so every real tokenizer (Python, Rust, the model's training data) sees U+FFFD in its place.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

const isHigh = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLow = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

/** The UTF-16 index just past the code point that starts at `unit`. */
export function codePointEnd(text: string, unit: number): number {
  return isHigh(text.charCodeAt(unit)) && isLow(text.charCodeAt(unit + 1)) ? unit + 2 : unit + 1;
}

export interface Utf8Text {
  bytes: Uint8Array;
  /** For each byte, the UTF-16 index where its code point starts. */
  unitOfByte: Int32Array;
}

/**
 * The UTF-8 bytes of `text`, each with the UTF-16 index of its code point. When `spaceAlias` is given, that code
 * point is written as a single 0x20 byte (SentencePiece's ▁ stands for a space), so pieces and text compare equal.
 * Lone surrogates are written as U+FFFD, as TextEncoder does.
 */
export function encodeUtf8WithUnits(text: string, spaceAlias?: number): Utf8Text {
  const n = text.length;
  const bytes = new Uint8Array(n * 3);
  const unitOfByte = new Int32Array(n * 3);
  let k = 0;
  for (let i = 0; i < n; i++) {
    let cp = text.charCodeAt(i);
    const start = i;
    if (isHigh(cp) && i + 1 < n && isLow(text.charCodeAt(i + 1))) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (text.charCodeAt(i + 1) - 0xdc00);
      i++;
    } else if (isHigh(cp) || isLow(cp)) {
      cp = 0xfffd;
    }
    if (cp === spaceAlias) {
      unitOfByte[k] = start;
      bytes[k++] = 0x20;
    } else if (cp < 0x80) {
      unitOfByte[k] = start;
      bytes[k++] = cp;
    } else if (cp < 0x800) {
      unitOfByte[k] = start;
      bytes[k++] = 0xc0 | (cp >> 6);
      unitOfByte[k] = start;
      bytes[k++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      unitOfByte[k] = start;
      bytes[k++] = 0xe0 | (cp >> 12);
      unitOfByte[k] = start;
      bytes[k++] = 0x80 | ((cp >> 6) & 0x3f);
      unitOfByte[k] = start;
      bytes[k++] = 0x80 | (cp & 0x3f);
    } else {
      unitOfByte[k] = start;
      bytes[k++] = 0xf0 | (cp >> 18);
      unitOfByte[k] = start;
      bytes[k++] = 0x80 | ((cp >> 12) & 0x3f);
      unitOfByte[k] = start;
      bytes[k++] = 0x80 | ((cp >> 6) & 0x3f);
      unitOfByte[k] = start;
      bytes[k++] = 0x80 | (cp & 0x3f);
    }
  }
  return { bytes: bytes.subarray(0, k), unitOfByte: unitOfByte.subarray(0, k) };
}

const encoder = new TextEncoder();

/** The UTF-8 bytes of a string (lone surrogates as U+FFFD). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Code point offsets (what the Rust tokenizers and Python return) as UTF-16 offsets into the same text.
 * Offsets past the end clamp to the text's length.
 */
export function codePointToUtf16(text: string): (codePointOffset: number) => number {
  const table: number[] = [0];
  for (let i = 0; i < text.length; ) {
    i = codePointEnd(text, i);
    table.push(i);
  }
  return (offset) => table[Math.max(0, Math.min(offset, table.length - 1))]!;
}
