/**
 * Character offsets for tokens. transformers.js returns pieces but no offsets (`return_offsets_mapping` is an open
 * request), so they are computed here: each piece's bytes (see pieceBytes.ts) are walked along the UTF-8 bytes of
 * the text it came from, and byte ranges become UTF-16 ranges. A token that covers part of a multi-byte character
 * (one byte of an emoji) reports that whole character, as the Rust tokenizers do; tokens then share a character.
 *
 * Pieces need not tile the text exactly; the walk tolerates what tokenizers do:
 *  - a space that is not in the text (ByteLevel add_prefix_space, Metaspace prepend): the piece covers what follows;
 *  - whitespace (or anything) that no piece covers (WordPiece, Whitespace pre-tokenizers): skipped;
 *  - unknown pieces ([UNK], <unk>): they cover what lies between their neighbours.
 * It never throws: a piece that cannot be placed gets an empty span where the walk stands.
 */
import { codePointEnd, encodeUtf8WithUnits } from './utf8';

/** How far ahead (in bytes) the walk looks for a piece that does not follow where the previous one ended. */
const LOOKAHEAD_BYTES = 4096;

const isSkippableByte = (byte: number) => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);

function isAllSpaces(piece: Uint8Array): boolean {
  for (let k = 0; k < piece.length; k++) if (piece[k] !== 0x20) return false;
  return true;
}

/** Is the byte at `at` part of a word (letters, digits, marks, any non-ASCII), as opposed to ASCII punctuation? */
const isWordByte = (byte: number) =>
  byte >= 0x80 || (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f;

/**
 * Cuts [from, to) into the pieces unknown tokens most likely stand for: words (runs of word bytes) and single
 * punctuation characters, whitespace left out. With `characters`, every character is its own piece.
 */
function segmentsOf(bytes: Uint8Array, from: number, to: number, characters: boolean): [number, number][] {
  const segments: [number, number][] = [];
  let at = from;
  while (at < to) {
    if (isSkippableByte(bytes[at]!)) {
      at++;
      continue;
    }
    let end = at + 1;
    while (end < to && (bytes[end]! & 0xc0) === 0x80) end++;
    if (!characters && isWordByte(bytes[at]!)) {
      while (end < to && isWordByte(bytes[end]!)) end++;
    }
    segments.push([at, end]);
    at = end;
  }
  return segments;
}

function matchesAt(text: Uint8Array, at: number, piece: Uint8Array, from: number): boolean {
  const n = piece.length - from;
  if (at + n > text.length) return false;
  for (let k = 0; k < n; k++) if (text[at + k] !== piece[from + k]) return false;
  return true;
}

function indexOfBytes(text: Uint8Array, piece: Uint8Array, from: number, start: number, limit: number): number {
  const first = piece[from];
  const last = Math.min(limit, text.length - (piece.length - from));
  for (let at = start; at <= last; at++) {
    if (text[at] === first && matchesAt(text, at, piece, from)) return at;
  }
  return -1;
}

/**
 * Places pieces along `text`. `pieces[i]` is the bytes piece i stands for, or null for an unknown piece. With
 * `spaceMarker` (SentencePiece ▁), that character in the text counts as a space, as it does in the pieces.
 * Returns [start, end) pairs in UTF-16 units of `text`, flattened: [s0, e0, s1, e1, …].
 */
export function placePieces(text: string, pieces: readonly (Uint8Array | null)[], spaceMarker?: string | null): Int32Array {
  const marker = spaceMarker && [...spaceMarker].length === 1 ? spaceMarker.codePointAt(0) : undefined;
  const { bytes, unitOfByte } = encodeUtf8WithUnits(text, marker);
  const total = bytes.length;
  const spans = new Int32Array(pieces.length * 2);

  const unitAt = (byte: number) => (byte < total ? unitOfByte[byte]! : text.length);
  const setSpan = (i: number, fromByte: number, toByte: number) => {
    const start = unitAt(fromByte);
    spans[2 * i] = start;
    spans[2 * i + 1] = toByte > fromByte ? codePointEnd(text, unitOfByte[toByte - 1]!) : start;
  };

  let cursor = 0;
  let pending: number[] = [];

  /**
   * Unknown pieces share [from, to): one word each (a WordPiece [UNK] is a whole word), or one character each when
   * there are more unknown pieces than words (BPE without fusing); the last one takes the rest.
   */
  const settlePending = (from: number, to: number) => {
    if (pending.length === 0) return;
    let segments = segmentsOf(bytes, from, to, false);
    if (segments.length < pending.length) segments = segmentsOf(bytes, from, to, true);
    for (let k = 0; k < pending.length; k++) {
      const last = k === pending.length - 1;
      if (k >= segments.length) setSpan(pending[k]!, to, to);
      else setSpan(pending[k]!, segments[k]![0], last ? segments[segments.length - 1]![1] : segments[k]![1]);
    }
    pending = [];
  };

  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    if (piece === null || piece === undefined) {
      pending.push(i);
      continue;
    }
    if (piece.length === 0) {
      settlePending(cursor, cursor);
      setSpan(i, cursor, cursor);
      continue;
    }
    if (pending.length === 0 && isAllSpaces(piece) && !matchesAt(bytes, cursor, piece, 0)) {
      // A space the text does not have (ByteLevel add_prefix_space, Metaspace prepend): it covers the real spaces
      // that are there, if any, and otherwise nothing.
      let end = cursor;
      while (end < total && end - cursor < piece.length && bytes[end] === 0x20) end++;
      setSpan(i, cursor, end);
      cursor = end;
      continue;
    }
    // Where the piece starts in the text, and from which of its bytes it is in the text (1: its space is virtual).
    let at = -1;
    let from = 0;
    if (pending.length === 0) {
      // Where the walk stands, or past whitespace that no piece stands for.
      let skipped = cursor;
      while (skipped < total && isSkippableByte(bytes[skipped]!)) skipped++;
      for (const start of [cursor, skipped]) {
        if (matchesAt(bytes, start, piece, 0)) at = start;
        else if (piece[0] === 0x20 && piece.length > 1 && matchesAt(bytes, start, piece, 1)) [at, from] = [start, 1];
        if (at >= 0) break;
      }
    }
    if (at < 0) {
      // Further on: after unknown pieces (which cover at least a byte), or past text that no piece stands for.
      const begin = pending.length > 0 ? Math.min(cursor + 1, total) : cursor;
      const limit = pending.length > 0 ? total : Math.min(total, cursor + LOOKAHEAD_BYTES);
      at = indexOfBytes(bytes, piece, 0, begin, limit);
      if (at < 0 && piece[0] === 0x20 && piece.length > 1) {
        at = indexOfBytes(bytes, piece, 1, begin, limit);
        if (at >= 0) from = 1;
      }
    }
    if (at < 0) {
      // Cannot be placed: an empty span where the walk stands, and the walk does not move.
      setSpan(i, cursor, cursor);
      continue;
    }
    settlePending(cursor, at);
    const end = at + piece.length - from;
    setSpan(i, at, end);
    cursor = end;
  }
  settlePending(cursor, total);
  return spans;
}
