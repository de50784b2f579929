/**
 * Our own safetensors reader and writer (no library).
 *
 * File layout: 8 bytes little-endian u64 header length N, then N bytes of UTF-8 JSON, then the data section. The JSON
 * maps tensor names to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the data section) and may
 * hold a `__metadata__` string map.
 *
 * Nothing in a file is trusted: the header length is checked against the file size and a 100 MB limit before any
 * allocation, every tensor entry is checked (dtype, shape, size, range, overlap), and tensor reads touch only that
 * tensor's byte range through a file handle.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelLensError, badInput, unsupported } from '../errors';
import type { TensorDtype, TensorInfo } from '../registry/types';

// ---------------------------------------------------------------------------------------------------------------
// Dtypes

/** Bytes per element of every dtype the header reader accepts. */
export const SAFETENSORS_DTYPE_SIZES: Readonly<Record<string, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
});

/** Dtypes `readTensorAsFloat32` converts; the other known dtypes are refused with an `unsupported` error. */
export const FLOAT32_READABLE_DTYPES: readonly string[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

/** Dtypes `encodeFloat32` can produce (what the writer's callers usually want). */
export type EncodableDtype = 'F32' | 'F16' | 'BF16';

/** Bytes per element, or undefined for a dtype safetensors does not define (or we do not know). */
export function dtypeByteSize(dtype: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_SIZES, dtype) ? SAFETENSORS_DTYPE_SIZES[dtype] : undefined;
}

/** The largest header we agree to parse (the reference implementation uses the same limit). */
export const MAX_HEADER_BYTES = 100_000_000;

const MAX_READ_CHUNK = 1 << 30; // fs reads are limited to 2 GiB - 1 per call

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------------------------
// Random access file I/O (injectable so tests can count the bytes a call reads)

export interface RandomAccessFile {
  /** Size in bytes at the time of the call. */
  size(): Promise<number>;
  /** Reads up to `into.byteLength` bytes at `position`; returns how many were read (0 at end of file). */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

export type OpenRandomAccessFile = (file: string) => Promise<RandomAccessFile>;

/** Opens a file read-only through `fs.promises.open`, turning the usual failures into user-facing errors. */
export const openNodeFile: OpenRandomAccessFile = async (file) => {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (error) {
    throw fileOpenError(file, error);
  }
  const stat = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw fileOpenError(file, error);
  });
  if (!stat.isFile()) {
    await handle.close();
    throw stat.isDirectory()
      ? fileOpenError(file, Object.assign(new Error('EISDIR'), { code: 'EISDIR' }))
      : badInput(file, 'this is not a regular file', 'Open a .safetensors file.');
  }
  return {
    size: async () => (await handle.stat()).size,
    read: async (into, position) => (await handle.read(into, 0, into.byteLength, position)).bytesRead,
    close: () => handle.close(),
  };
};

function fileOpenError(file: string, error: unknown): ModelLensError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new ModelLensError('not-found', 'the file does not exist', file, 'Check the path.');
  if (code === 'EACCES' || code === 'EPERM') return badInput(file, 'the file cannot be read (permission denied)', 'Check its permissions.');
  if (code === 'EISDIR') return badInput(file, 'this is a folder, not a safetensors file', 'Open the .safetensors file inside it, or open the folder as a model.');
  return badInput(file, `the file cannot be opened (${code ?? String(error)})`);
}

async function withFile<T>(file: string, open: OpenRandomAccessFile, use: (handle: RandomAccessFile) => Promise<T>): Promise<T> {
  const handle = await open(file);
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
}

/** Fills `into` from `position`, looping over short reads; a premature end of file is a truncated file. */
async function readExactly(handle: RandomAccessFile, into: Uint8Array, position: number, file: string, what: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const chunk = into.subarray(done, Math.min(into.byteLength, done + MAX_READ_CHUNK));
    const n = await handle.read(chunk, position + done);
    if (n <= 0) {
      throw badInput(
        file,
        `the file ended at byte ${position + done} while reading ${what} (${into.byteLength - done} bytes missing)`,
        'The file is truncated; download or copy it again.',
      );
    }
    done += n;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Header

export interface SafetensorsHeader {
  /** Absolute path of the file. */
  file: string;
  fileSize: number;
  /** N, the length of the JSON header in bytes. */
  headerLength: number;
  /** Absolute offset of the data section (8 + N). */
  dataStart: number;
  /** The `__metadata__` map, or {} when absent. */
  metadata: Record<string, string>;
  /** Tensors in file order (by offset), with absolute offsets. */
  tensors: TensorInfo[];
}

const NOT_SAFETENSORS = 'The file is truncated or not safetensors.';

/**
 * Reads and validates the header of a safetensors file: the 8-byte length and the JSON, nothing else. Every problem is
 * a `ModelLensError` naming the file, what was wrong and what to do.
 */
export async function readSafetensorsHeader(file: string, open: OpenRandomAccessFile = openNodeFile): Promise<SafetensorsHeader> {
  const absolute = path.resolve(file);
  return withFile(absolute, open, async (handle) => {
    const fileSize = await handle.size();
    if (fileSize < 8) {
      throw badInput(absolute, `the file is ${fileSize} bytes, shorter than the 8-byte header length`, NOT_SAFETENSORS);
    }
    const lengthBytes = new Uint8Array(8);
    await readExactly(handle, lengthBytes, 0, absolute, 'the header length');
    const headerLength = checkHeaderLength(
      new DataView(lengthBytes.buffer).getBigUint64(0, true),
      fileSize,
      absolute,
    );
    const headerBytes = new Uint8Array(headerLength);
    await readExactly(handle, headerBytes, 8, absolute, 'the header');
    return parseSafetensorsHeader(absolute, headerBytes, fileSize);
  });
}

/** Checks the declared header length against the file size and the 100 MB limit; returns it as a number. */
function checkHeaderLength(declared: bigint, fileSize: number, file: string): number {
  if (declared > BigInt(fileSize - 8)) {
    throw badInput(file, `header length ${declared} exceeds the file size ${fileSize}`, NOT_SAFETENSORS);
  }
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw badInput(
      file,
      `header length ${declared} is over the ${MAX_HEADER_BYTES / 1e6} MB limit for safetensors headers`,
      'The file is corrupt or hostile; refusing to parse it.',
    );
  }
  if (declared < 2n) {
    throw badInput(file, `header length ${declared} is too short to hold a JSON object`, NOT_SAFETENSORS);
  }
  return Number(declared);
}

/**
 * Validates a header's bytes (pure: no I/O). `fileSize` is the whole file's size, used to bound the data offsets.
 * Exported for tests and for loaders that already hold the bytes.
 */
export function parseSafetensorsHeader(file: string, headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = headerBytes.byteLength;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  if (dataSize < 0) throw badInput(file, `header length ${headerLength} exceeds the file size ${fileSize}`, NOT_SAFETENSORS);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(headerBytes);
  } catch {
    throw badInput(file, 'the header is not valid UTF-8', NOT_SAFETENSORS);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw badInput(file, `the header is not valid JSON (${(error as Error).message})`, NOT_SAFETENSORS);
  }
  if (!isPlainObject(json)) {
    const kind = Array.isArray(json) ? 'an array' : json === null ? 'null' : `a ${typeof json}`;
    throw badInput(file, `the header is ${kind}, not a JSON object`, NOT_SAFETENSORS);
  }

  let metadata: Record<string, string> = {};
  const entries: { info: TensorInfo; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, value);
      continue;
    }
    const { dtype, shape, begin, end } = parseTensorEntry(file, name, value, dataSize);
    entries.push({
      info: { name, dtype, shape, file, offset: dataStart + begin, byteLength: end - begin },
      begin,
      end,
    });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkNoOverlap(file, entries);
  return { file, fileSize, headerLength, dataStart, metadata, tensors: entries.map((e) => e.info) };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (!isPlainObject(value)) {
    throw badInput(file, '"__metadata__" in the header is not a JSON object', NOT_SAFETENSORS);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw badInput(file, `"__metadata__" entry "${key}" is a ${v === null ? 'null' : typeof v}, not a string`, NOT_SAFETENSORS);
    }
  }
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function parseTensorEntry(
  file: string,
  name: string,
  value: unknown,
  dataSize: number,
): { dtype: TensorDtype; shape: number[]; begin: number; end: number } {
  const where = `tensor "${name}"`;
  if (!isPlainObject(value)) throw badInput(file, `${where}: the header entry is not a JSON object`, NOT_SAFETENSORS);

  const dtype = value.dtype;
  if (typeof dtype !== 'string') throw badInput(file, `${where}: "dtype" is missing or not a string`, NOT_SAFETENSORS);
  const elementSize = dtypeByteSize(dtype);
  if (elementSize === undefined) {
    throw unsupported(
      file,
      `${where} has dtype "${dtype}", which Model Lens does not know (known: ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`,
      'Convert the checkpoint to F32, F16 or BF16 and open it again.',
    );
  }

  const shape = checkShape(file, where, value.shape);
  const numel = shapeElementCount(shape);
  const expectedBytes = numel * BigInt(elementSize);
  if (expectedBytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw badInput(file, `${where}: shape [${shape.join(', ')}] has ${numel} elements, too many to address`, NOT_SAFETENSORS);
  }

  const offsets = value.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw badInput(file, `${where}: "data_offsets" must be a [begin, end] pair`, NOT_SAFETENSORS);
  }
  const [begin, end] = offsets as unknown[];
  if (!isNonNegativeSafeInteger(begin) || !isNonNegativeSafeInteger(end)) {
    throw badInput(file, `${where}: data_offsets [${String(begin)}, ${String(end)}] are not non-negative integers`, NOT_SAFETENSORS);
  }
  if (end < begin) throw badInput(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`, NOT_SAFETENSORS);
  if (BigInt(end - begin) !== expectedBytes) {
    throw badInput(
      file,
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expectedBytes}`,
      NOT_SAFETENSORS,
    );
  }
  if (end > dataSize) {
    throw badInput(
      file,
      `${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes)`,
      NOT_SAFETENSORS,
    );
  }
  return { dtype, shape, begin, end };
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function checkShape(file: string, where: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw badInput(file, `${where}: "shape" is missing or not an array`, NOT_SAFETENSORS);
  for (const dim of shape) {
    if (!isNonNegativeSafeInteger(dim)) {
      throw badInput(file, `${where}: shape [${shape.map(String).join(', ')}] has a dimension ${JSON.stringify(dim)} that is not a non-negative integer`, NOT_SAFETENSORS);
    }
  }
  return shape.slice() as number[];
}

/** Number of elements of a shape, exact (BigInt) so hostile shapes cannot overflow. */
export function shapeElementCount(shape: readonly number[]): bigint {
  let count = 1n;
  for (const dim of shape) count *= BigInt(dim);
  return count;
}

function checkNoOverlap(file: string, sorted: readonly { info: TensorInfo; begin: number; end: number }[]): void {
  let previous: { info: TensorInfo; begin: number; end: number } | undefined;
  for (const entry of sorted) {
    if (entry.begin === entry.end) continue; // empty tensors hold no bytes
    if (previous && entry.begin < previous.end) {
      throw badInput(
        file,
        `tensors "${previous.info.name}" [${previous.begin}, ${previous.end}] and "${entry.info.name}" [${entry.begin}, ${entry.end}] overlap`,
        'The file is corrupt or hostile; refusing to read it.',
      );
    }
    previous = entry;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Conversions to Float32Array (pure)

let f16Table: Uint32Array | undefined;

/** Float32 bit patterns for all 65536 half-precision values (built once, 256 KB). */
function float16Table(): Uint32Array {
  if (f16Table) return f16Table;
  const table = new Uint32Array(65536);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      table[h] = sign | 0x7f800000 | (mantissa << 13);
    } else if (exponent !== 0) {
      table[h] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else {
      f32[0] = mantissa * 2 ** -24; // zero and subnormals, exact in float32
      table[h] = (sign | u32[0]) >>> 0;
    }
  }
  f16Table = table;
  return table;
}

/**
 * Converts raw little-endian tensor bytes of `dtype` to a new Float32Array. `bytes` must start at an offset that is
 * a multiple of the element size (a fresh buffer is). F8 and unknown dtypes are refused with `unsupported`.
 */
export function decodeToFloat32(bytes: Uint8Array, dtype: TensorDtype, file = '', what = 'the tensor'): Float32Array {
  if (!HOST_IS_LITTLE_ENDIAN) throw unsupported(file, 'reading tensors on a big-endian machine is not supported');
  const size = dtypeByteSize(dtype);
  if (size === undefined || !FLOAT32_READABLE_DTYPES.includes(dtype)) {
    throw unsupported(
      file,
      `${what} is stored as ${dtype}, which Model Lens cannot convert to float32 (it reads ${FLOAT32_READABLE_DTYPES.join(', ')})`,
      'Convert the checkpoint to BF16, F16 or F32 and open it again.',
    );
  }
  if (bytes.byteLength % size !== 0) {
    throw badInput(file, `${what}: ${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const n = bytes.byteLength / size;
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const { buffer, byteOffset } = aligned;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer.slice(byteOffset, byteOffset + bytes.byteLength));
    case 'F16': {
      const table = float16Table();
      const halves = new Uint16Array(buffer, byteOffset, n);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[halves[i]];
      return new Float32Array(out.buffer);
    }
    case 'BF16': {
      const halves = new Uint16Array(buffer, byteOffset, n);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = halves[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F64':
      return Float32Array.from(new Float64Array(buffer, byteOffset, n));
    case 'I64': {
      const words = new Uint32Array(buffer, byteOffset, n * 2);
      const signedHigh = new Int32Array(buffer, byteOffset, n * 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = signedHigh[2 * i + 1] * 4294967296 + words[2 * i];
      return out;
    }
    case 'I32':
      return Float32Array.from(new Int32Array(buffer, byteOffset, n));
    case 'I16':
      return Float32Array.from(new Int16Array(buffer, byteOffset, n));
    case 'I8':
      return Float32Array.from(new Int8Array(buffer, byteOffset, n));
    case 'U8':
      return Float32Array.from(new Uint8Array(buffer, byteOffset, n));
    case 'BOOL': {
      const src = new Uint8Array(buffer, byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[i] !== 0 ? 1 : 0;
      return out;
    }
    default:
      throw unsupported(file, `${what} is stored as ${dtype}, which Model Lens cannot convert to float32`);
  }
}

/** Float32 → IEEE half bits, round to nearest even; overflow → ±inf, NaN stays NaN. */
export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++; // a carry into the exponent is correct
  return sign | half;
}

/** Float32 → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBfloat16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Encodes float32 values as little-endian bytes of `dtype` (F32, F16 or BF16), for the writer. */
export function encodeFloat32(values: Float32Array, dtype: EncodableDtype): Uint8Array {
  if (!HOST_IS_LITTLE_ENDIAN) throw unsupported('', 'writing tensors on a big-endian machine is not supported');
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.slice().buffer);
    case 'F16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
      return new Uint8Array(out.buffer);
    }
    case 'BF16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = float32ToBfloat16Bits(values[i]);
      return new Uint8Array(out.buffer);
    }
    default:
      throw unsupported('', `cannot encode float32 values as ${String(dtype)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor reads

/** Re-checks a TensorInfo (it may come from anywhere) and returns its element size. */
function checkTensorInfo(info: TensorInfo): number {
  const size = dtypeByteSize(info.dtype);
  const what = `tensor "${info.name}"`;
  if (size === undefined) {
    throw unsupported(info.file, `${what} has dtype "${info.dtype}", which Model Lens cannot read from safetensors`);
  }
  if (!Array.isArray(info.shape) || !info.shape.every(isNonNegativeSafeInteger)) {
    throw badInput(info.file, `${what}: shape [${String(info.shape)}] is not a list of non-negative integers`);
  }
  if (!isNonNegativeSafeInteger(info.offset) || !isNonNegativeSafeInteger(info.byteLength)) {
    throw badInput(info.file, `${what}: offset ${info.offset} or byte length ${info.byteLength} is not a non-negative integer`);
  }
  if (shapeElementCount(info.shape) * BigInt(size) !== BigInt(info.byteLength)) {
    throw badInput(info.file, `${what}: byte length ${info.byteLength} does not match shape [${info.shape.join(', ')}] of ${info.dtype}`);
  }
  return size;
}

function refuseUnconvertible(info: TensorInfo): void {
  if (!FLOAT32_READABLE_DTYPES.includes(info.dtype)) {
    throw unsupported(
      info.file,
      `tensor "${info.name}" is stored as ${info.dtype}, which Model Lens cannot convert to float32 (it reads ${FLOAT32_READABLE_DTYPES.join(', ')})`,
      'Convert the checkpoint to BF16, F16 or F32 and open it again.',
    );
  }
}

/** Reads `byteLength` bytes at `offset` (checked against the current file size first) into a fresh buffer. */
async function readRange(info: TensorInfo, offset: number, byteLength: number, open: OpenRandomAccessFile): Promise<Uint8Array> {
  return withFile(info.file, open, async (handle) => {
    const fileSize = await handle.size();
    if (offset + byteLength > fileSize) {
      throw badInput(
        info.file,
        `tensor "${info.name}" needs bytes up to ${offset + byteLength} but the file has only ${fileSize}`,
        'The file is truncated or changed since it was opened; open it again.',
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(new ArrayBuffer(byteLength));
    } catch {
      throw unsupported(info.file, `tensor "${info.name}" is too big to read at once (${byteLength} bytes)`, 'Read it a range of rows at a time.');
    }
    await readExactly(handle, bytes, offset, info.file, `tensor "${info.name}"`);
    return bytes;
  });
}

/** Reads one whole tensor (only its byte range) and converts it to Float32Array. */
export async function readTensorAsFloat32(info: TensorInfo, open: OpenRandomAccessFile = openNodeFile): Promise<Float32Array> {
  checkTensorInfo(info);
  refuseUnconvertible(info);
  const bytes = await readRange(info, info.offset, info.byteLength, open);
  return decodeOwnedBytes(bytes, info);
}

/** Like decodeToFloat32, but reuses the fresh buffer for F32 instead of copying it. */
function decodeOwnedBytes(bytes: Uint8Array, info: TensorInfo): Float32Array {
  if (info.dtype === 'F32' && HOST_IS_LITTLE_ENDIAN && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return new Float32Array(bytes.buffer);
  }
  return decodeToFloat32(bytes, info.dtype, info.file, `tensor "${info.name}"`);
}

/**
 * Reads rows [rowStart, rowStart + rowCount) of a 2-D tensor (for example a few rows of a big embedding) as a
 * Float32Array of rowCount × columns, reading only those rows' bytes.
 */
export async function readTensorRows(
  info: TensorInfo,
  rowStart: number,
  rowCount: number,
  open: OpenRandomAccessFile = openNodeFile,
): Promise<Float32Array> {
  const size = checkTensorInfo(info);
  if (info.shape.length !== 2) {
    throw new ModelLensError('usage', `tensor "${info.name}" has shape [${info.shape.join(', ')}]; row reads need a 2-D tensor`, info.file);
  }
  const [rows, columns] = info.shape;
  if (!isNonNegativeSafeInteger(rowStart) || !isNonNegativeSafeInteger(rowCount) || rowStart + rowCount > rows) {
    throw new ModelLensError(
      'usage',
      `rows ${rowStart}..${rowStart + rowCount} are outside tensor "${info.name}", which has ${rows} rows`,
      info.file,
    );
  }
  refuseUnconvertible(info);
  const rowBytes = columns * size;
  const bytes = await readRange(info, info.offset + rowStart * rowBytes, rowCount * rowBytes, open);
  return decodeOwnedBytes(bytes, info);
}

// ---------------------------------------------------------------------------------------------------------------
// Sharded checkpoints

export interface SafetensorsIndex {
  /** Absolute path of the index file. */
  file: string;
  /** The index's own "metadata" object (e.g. total_size), or {}. */
  metadata: Record<string, unknown>;
  /** Absolute paths of the shards, in order of first appearance in weight_map. */
  shards: string[];
  /** Every tensor named in weight_map, grouped by shard and in file order within a shard. */
  tensors: TensorInfo[];
}

const MAX_INDEX_BYTES = 100_000_000;

/** A shard name must be a plain file name in the index's folder: no separators, no "..", no absolute paths. */
function isPlainFileName(name: string): boolean {
  return (
    name.length > 0 &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('/') &&
    !name.includes('\\') &&
    !name.includes('\0') &&
    !/^[A-Za-z]:/.test(name)
  );
}

/**
 * Reads `model.safetensors.index.json` and the header of every shard it names (each once), and returns the merged
 * tensors. Shard names must be plain files in the same folder; a tensor missing from its shard is an error.
 */
export async function readSafetensorsIndex(indexFile: string, open: OpenRandomAccessFile = openNodeFile): Promise<SafetensorsIndex> {
  const file = path.resolve(indexFile);
  const folder = path.dirname(file);
  const json = await readIndexJson(file, open);
  const weightMap = json.weight_map;
  if (!isPlainObject(weightMap)) {
    throw badInput(file, '"weight_map" is missing or not a JSON object', 'The index is corrupt; download it again.');
  }
  const metadata = isPlainObject(json.metadata) ? { ...json.metadata } : {};

  const shardOrder: string[] = [];
  const namesByShard = new Map<string, string[]>();
  for (const [tensorName, shardName] of Object.entries(weightMap)) {
    if (typeof shardName !== 'string') {
      throw badInput(file, `weight_map entry for tensor "${tensorName}" is not a file name`, 'The index is corrupt; download it again.');
    }
    if (!isPlainFileName(shardName)) {
      throw badInput(
        file,
        `shard "${shardName}" for tensor "${tensorName}" is not a plain file name in the index's folder (path traversal refused)`,
        'The index is corrupt or hostile; shards must sit next to the index.',
      );
    }
    let names = namesByShard.get(shardName);
    if (!names) {
      names = [];
      namesByShard.set(shardName, names);
      shardOrder.push(shardName);
    }
    names.push(tensorName);
  }

  const shards: string[] = [];
  const tensors: TensorInfo[] = [];
  for (const shardName of shardOrder) {
    const shardFile = path.join(folder, shardName);
    if (!(await isFile(shardFile))) {
      throw new ModelLensError(
        'not-found',
        `shard "${shardName}" named in weight_map (for ${namesByShard.get(shardName)!.length} tensors) does not exist in ${folder}`,
        file,
        'Download the missing shard into the same folder.',
      );
    }
    const header = await readSafetensorsHeader(shardFile, open);
    const byName = new Map(header.tensors.map((t) => [t.name, t] as const));
    const wanted = new Set(namesByShard.get(shardName));
    for (const name of wanted) {
      if (!byName.has(name)) {
        throw badInput(
          file,
          `tensor "${name}" is mapped to shard "${shardName}" but that shard has no such tensor`,
          'The index and the shards do not match; download them again.',
        );
      }
    }
    shards.push(shardFile);
    for (const tensor of header.tensors) if (wanted.has(tensor.name)) tensors.push(tensor);
  }
  return { file, metadata, shards, tensors };
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fsp.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function readIndexJson(file: string, open: OpenRandomAccessFile): Promise<Record<string, unknown>> {
  const bytes = await withFile(file, open, async (handle) => {
    const size = await handle.size();
    if (size > MAX_INDEX_BYTES) {
      throw badInput(file, `the index is ${size} bytes, over the ${MAX_INDEX_BYTES / 1e6} MB limit`, 'The index is corrupt or hostile.');
    }
    const buffer = new Uint8Array(size);
    await readExactly(handle, buffer, 0, file, 'the index');
    return buffer;
  });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw badInput(file, `the index is not valid UTF-8 JSON (${(error as Error).message})`, 'The index is corrupt; download it again.');
  }
  if (!isPlainObject(json)) throw badInput(file, 'the index is not a JSON object', 'The index is corrupt; download it again.');
  return json;
}

// ---------------------------------------------------------------------------------------------------------------
// Writer

export interface SafetensorsTensorToWrite {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Little-endian element bytes; byteLength must equal numel × dtype size. */
  data: Uint8Array;
}

/**
 * Writes a safetensors file atomically: a temporary file in the same folder, flushed, then renamed over `file`.
 * Tensors are laid out in the given order; the header is padded with spaces so the data section starts at a multiple
 * of 8 bytes.
 */
export async function writeSafetensors(
  file: string,
  tensors: readonly SafetensorsTensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  const target = path.resolve(file);
  const header = buildSafetensorsHeader(target, tensors, metadata);
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(temp, 'wx');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') throw new ModelLensError('not-found', 'the folder to write into does not exist', target, 'Create it first.');
    throw new ModelLensError('usage', `cannot write here (${code ?? String(error)})`, target, 'Choose a folder you can write to.');
  }
  let renamed = false;
  try {
    try {
      let position = 0;
      const write = async (bytes: Uint8Array) => {
        let done = 0;
        while (done < bytes.byteLength) {
          const { bytesWritten } = await handle.write(bytes, done, Math.min(bytes.byteLength - done, MAX_READ_CHUNK), position);
          done += bytesWritten;
          position += bytesWritten;
        }
      };
      await write(header);
      for (const tensor of tensors) await write(tensor.data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, target);
    renamed = true;
  } finally {
    if (!renamed) await fsp.rm(temp, { force: true });
  }
}

/** The 8-byte length plus the padded JSON header for `tensors` (pure; validates names, dtypes, shapes and sizes). */
export function buildSafetensorsHeader(
  file: string,
  tensors: readonly SafetensorsTensorToWrite[],
  metadata?: Record<string, string>,
): Uint8Array {
  const json: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new ModelLensError('usage', `metadata "${key}" must be a string`, file);
    }
    json.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const tensor of tensors) {
    const where = `tensor "${tensor.name}"`;
    if (tensor.name === '__metadata__' || Object.prototype.hasOwnProperty.call(json, tensor.name)) {
      throw new ModelLensError('usage', `${where} is named twice or uses the reserved name`, file);
    }
    const size = dtypeByteSize(tensor.dtype);
    if (size === undefined) throw unsupported(file, `${where}: cannot write dtype "${tensor.dtype}"`);
    if (!Array.isArray(tensor.shape) || !tensor.shape.every(isNonNegativeSafeInteger)) {
      throw new ModelLensError('usage', `${where}: shape [${String(tensor.shape)}] is not a list of non-negative integers`, file);
    }
    const expected = shapeElementCount(tensor.shape) * BigInt(size);
    if (BigInt(tensor.data.byteLength) !== expected) {
      throw new ModelLensError(
        'usage',
        `${where}: ${tensor.data.byteLength} data bytes do not match shape [${tensor.shape.join(', ')}] of ${tensor.dtype} (${expected} bytes)`,
        file,
      );
    }
    Object.defineProperty(json, tensor.name, {
      value: { dtype: tensor.dtype, shape: tensor.shape.slice(), data_offsets: [offset, offset + tensor.data.byteLength] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    offset += tensor.data.byteLength;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil((8 + text.byteLength) / 8) * 8 - 8;
  const out = new Uint8Array(8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(text, 8);
  out.fill(0x20, 8 + text.byteLength);
  return out;
}
