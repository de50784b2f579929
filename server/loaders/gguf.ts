/**
 * llama.cpp GGUF files (versions 2 and 3), read with our own parser.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count; the metadata (key string, u32
 * value type, value; strings are u64 length + UTF-8; arrays are u32 element type + u64 count + elements); the tensor
 * infos (name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset); padding to `general.alignment` (default 32);
 * then the data section, where each tensor's offset is relative.
 *
 * ggml lists dimensions fastest-first: `token_embd.weight` with ne = [hidden, vocab] is a row-major [vocab, hidden]
 * matrix, so shapes are reported reversed. Nothing is trusted: every count and length is checked against the bytes
 * left in the file before anything is allocated, and tensor ranges are checked against the file size.
 *
 * Tensors are read as float32 from F32, F16, BF16 (and the integer types) and Q8_0 (blocks of 32 int8 values with
 * an f16 scale); other quantizations are refused by name.
 */
import * as path from 'node:path';
import { ModelLensError, badInput, unsupported } from '../errors';
import type { ModelLoader, OpenedModel, TensorInfo } from '../registry/types';
import { buildOpenedModel } from '../registry/openedModel';
import { ggufTokenizer, type GgufVocabulary } from '../tokenization/ggufTokenizer';
import type { TokenizerHandle } from '../tokenization/tokenizer';
import { isDirectory } from './files';
import { WindowedFile, openFileHandle } from './positionedReader';
import { decodeToFloat32, readTensorAsFloat32, shapeElementCount } from './safetensors';

// ---------------------------------------------------------------------------------------------------------------
// ggml types

/** ggml type id → [name, block size (elements), bytes per block]. From ggml.c's type_traits. */
export const GGML_TYPES: Readonly<Record<number, readonly [string, number, number]>> = {
  0: ['F32', 1, 4],
  1: ['F16', 1, 2],
  2: ['Q4_0', 32, 18],
  3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24],
  8: ['Q8_0', 32, 34],
  9: ['Q8_1', 32, 36],
  10: ['Q2_K', 256, 84],
  11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144],
  13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210],
  15: ['Q8_K', 256, 292],
  16: ['IQ2_XXS', 256, 66],
  17: ['IQ2_XS', 256, 74],
  18: ['IQ3_XXS', 256, 98],
  19: ['IQ1_S', 256, 50],
  20: ['IQ4_NL', 32, 18],
  21: ['IQ3_S', 256, 110],
  22: ['IQ2_S', 256, 82],
  23: ['IQ4_XS', 256, 136],
  24: ['I8', 1, 1],
  25: ['I16', 1, 2],
  26: ['I32', 1, 4],
  27: ['I64', 1, 8],
  28: ['F64', 1, 8],
  29: ['IQ1_M', 256, 56],
  30: ['BF16', 1, 2],
  34: ['TQ1_0', 256, 54],
  35: ['TQ2_0', 256, 66],
  39: ['MXFP4', 32, 17],
};

/** ggml types `readTensor` converts to float32. */
export const GGUF_READABLE_TYPES: readonly string[] = ['F32', 'F16', 'BF16', 'Q8_0', 'F64', 'I8', 'I16', 'I32', 'I64'];

// ---------------------------------------------------------------------------------------------------------------
// Metadata values

export const GGUF_VALUE_TYPES = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

const VALUE_TYPE_NAMES = Object.fromEntries(Object.entries(GGUF_VALUE_TYPES).map(([name, id]) => [id, name])) as Record<number, string>;

/** Fixed byte sizes of scalar value types. */
const SCALAR_SIZES: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export type GgufScalar = number | bigint | boolean | string;
export type GgufArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];
export type GgufValue = GgufScalar | GgufArray;

export interface GgufTensor {
  name: string;
  /** ggml order: ne[0] is the fastest-varying (hidden size for an embedding). */
  ne: number[];
  type: number;
  typeName: string;
  /** Offset relative to the data section. */
  relativeOffset: number;
  byteLength: number;
  /** As the registry sees it: shape reversed to row-major, absolute offset. */
  info: TensorInfo;
}

export interface GgufFile {
  file: string;
  fileSize: number;
  version: number;
  metadata: Map<string, GgufValue>;
  /** Value type of each metadata key (arrays: "ARRAY<FLOAT32>"). */
  metadataTypes: Map<string, string>;
  alignment: number;
  dataStart: number;
  tensors: GgufTensor[];
  /** Bytes read to parse the header (never the tensor data). */
  bytesRead: number;
}

const NOT_GGUF = 'The file is truncated, corrupt or not a GGUF file; convert or download it again.';
const MAX_KEY_BYTES = 65_536;
const MAX_STRING_BYTES = 256 * 1024 * 1024;
const MAX_ARRAY_DEPTH = 4;
/** More strings or nested arrays than any real vocabulary has (the largest are ~260k tokens, ~500k merges). */
const MAX_ARRAY_ELEMENTS = 8 * 1024 * 1024;
const MAX_NUMERIC_ARRAY_BYTES = 1024 * 1024 * 1024;
const MAX_TENSORS = 1_000_000;
const MAX_METADATA = 1_000_000;
const GGML_MAX_DIMS = 4;

/** A cursor over the header through a sliding window; every read is bounded by the file. */
class HeaderCursor {
  position = 0;
  constructor(private readonly wf: WindowedFile) {}

  get remaining(): number {
    return this.wf.size - this.position;
  }

  async bytes(length: number, what: string): Promise<Uint8Array> {
    await this.wf.ensure(this.position, length, what);
    const view = this.wf.view(this.position, length);
    this.position += length;
    return view;
  }

  private async dataView(length: number, what: string): Promise<DataView> {
    const bytes = await this.bytes(length, what);
    return new DataView(bytes.buffer, bytes.byteOffset, length);
  }

  async u32(what: string): Promise<number> {
    return (await this.dataView(4, what)).getUint32(0, true);
  }

  async u64(what: string): Promise<bigint> {
    return (await this.dataView(8, what)).getBigUint64(0, true);
  }

  /** A u64 count or length that must fit in what is left of the file, `unit` bytes per item. */
  async count(what: string, unit: number): Promise<number> {
    const at = this.position;
    const value = await this.u64(what);
    if (value > BigInt(Math.floor(this.remaining / Math.max(unit, 1)))) {
      throw badInput(this.wf.file, `${what} at byte ${at} is ${value}, more than the ${this.remaining} bytes left in the file can hold`, NOT_GGUF);
    }
    return Number(value);
  }

  /** A string already inside the window, read without waiting; undefined when it is not (or looks wrong). */
  stringInWindow(): string | undefined {
    if (!this.wf.has(this.position, 8)) return undefined;
    const head = this.wf.view(this.position, 8);
    const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (length > 65_536n || !this.wf.has(this.position + 8, Number(length))) return undefined;
    const text = utf8.decode(this.wf.view(this.position + 8, Number(length)));
    this.position += 8 + Number(length);
    return text;
  }

  async string(what: string, maxBytes = MAX_STRING_BYTES): Promise<string> {
    const at = this.position;
    const length = await this.count(`the length of ${what}`, 1);
    if (length > maxBytes) throw badInput(this.wf.file, `${what} at byte ${at} is ${length} bytes long, more than the ${maxBytes} Model Lens accepts`, NOT_GGUF);
    return utf8.decode(await this.bytes(length, what));
  }
}

const utf8 = new TextDecoder('utf-8');

/** Reads one metadata value of `type`. Arrays of numbers become typed arrays, read in one piece. */
async function readValue(cursor: HeaderCursor, type: number, what: string, file: string, depth = 0): Promise<GgufValue> {
  switch (type) {
    case GGUF_VALUE_TYPES.STRING:
      return cursor.string(what);
    case GGUF_VALUE_TYPES.ARRAY: {
      if (depth >= MAX_ARRAY_DEPTH) throw badInput(file, `${what} nests arrays more than ${MAX_ARRAY_DEPTH} deep`, NOT_GGUF);
      const elementType = await cursor.u32(`the element type of ${what}`);
      if (elementType !== GGUF_VALUE_TYPES.STRING && elementType !== GGUF_VALUE_TYPES.ARRAY && SCALAR_SIZES[elementType] === undefined) {
        throw badInput(file, `${what} is an array of unknown value type ${elementType}`, NOT_GGUF);
      }
      const unit = elementType === GGUF_VALUE_TYPES.STRING ? 8 : elementType === GGUF_VALUE_TYPES.ARRAY ? 12 : SCALAR_SIZES[elementType];
      const count = await cursor.count(`the element count of ${what}`, unit);
      const scalar = elementType !== GGUF_VALUE_TYPES.STRING && elementType !== GGUF_VALUE_TYPES.ARRAY;
      if (scalar ? count * unit > MAX_NUMERIC_ARRAY_BYTES : count > MAX_ARRAY_ELEMENTS) {
        throw badInput(file, `${what} claims ${count} elements, more than Model Lens accepts in one array`, NOT_GGUF);
      }
      if (elementType === GGUF_VALUE_TYPES.STRING) {
        const out: string[] = [];
        for (let i = 0; i < count; i++) out.push(cursor.stringInWindow() ?? (await cursor.string(`${what}[${i}]`)));
        return out;
      }
      if (elementType === GGUF_VALUE_TYPES.ARRAY) {
        const out: GgufArray[] = [];
        for (let i = 0; i < count; i++) out.push((await readValue(cursor, GGUF_VALUE_TYPES.ARRAY, `${what}[${i}]`, file, depth + 1)) as GgufArray);
        return out;
      }
      return numericArray(elementType, await readChunked(cursor, count * unit, what));
    }
    default: {
      const size = SCALAR_SIZES[type];
      if (size === undefined) throw badInput(file, `${what} has unknown value type ${type}`, NOT_GGUF);
      const bytes = await cursor.bytes(size, what);
      return scalarOf(type, new DataView(bytes.buffer, bytes.byteOffset, size));
    }
  }
}

/** Copies `length` bytes from the cursor (a big array may exceed the window). */
async function readChunked(cursor: HeaderCursor, length: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = Math.min(length - done, 1 << 20);
    out.set(await cursor.bytes(n, what), done);
    done += n;
  }
  return out;
}

function scalarOf(type: number, view: DataView): GgufScalar {
  switch (type) {
    case 0: return view.getUint8(0);
    case 1: return view.getInt8(0);
    case 2: return view.getUint16(0, true);
    case 3: return view.getInt16(0, true);
    case 4: return view.getUint32(0, true);
    case 5: return view.getInt32(0, true);
    case 6: return view.getFloat32(0, true);
    case 7: return view.getUint8(0) !== 0;
    case 10: return view.getBigUint64(0, true);
    case 11: return view.getBigInt64(0, true);
    case 12: return view.getFloat64(0, true);
    default: throw new Error(`not a scalar GGUF type: ${type}`);
  }
}

function numericArray(type: number, bytes: Uint8Array): GgufArray {
  const buffer = bytes.buffer;
  switch (type) {
    case 0: return new Uint8Array(buffer);
    case 1: return new Int8Array(buffer);
    case 2: return new Uint16Array(buffer);
    case 3: return new Int16Array(buffer);
    case 4: return new Uint32Array(buffer);
    case 5: return new Int32Array(buffer);
    case 6: return new Float32Array(buffer);
    case 7: return Array.from(bytes, (b) => b !== 0);
    case 10: return new BigUint64Array(buffer);
    case 11: return new BigInt64Array(buffer);
    case 12: return new Float64Array(buffer);
    default: throw new Error(`not a numeric GGUF type: ${type}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The header

/** Reads and validates a GGUF header: metadata and tensor infos, not the tensor data. */
export async function readGgufFile(target: string): Promise<GgufFile> {
  const file = path.resolve(target);
  const wf = await WindowedFile.open(file, 'GGUF file');
  try {
    const cursor = new HeaderCursor(wf);
    if (wf.size < 24) throw badInput(file, `the file is ${wf.size} bytes, too short for a GGUF header (24 bytes)`, NOT_GGUF);
    const magic = await cursor.bytes(4, 'the magic');
    if (magic[0] !== 0x47 || magic[1] !== 0x47 || magic[2] !== 0x55 || magic[3] !== 0x46) {
      const shown = Array.from(magic, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
      throw badInput(file, `the file starts with "${shown}", not the GGUF magic "GGUF"`, 'This is not a GGUF file. (Older GGML/GGJT files must be converted to GGUF with llama.cpp first.)');
    }
    const version = await cursor.u32('the version');
    if (version === 1) throw unsupported(file, 'is GGUF version 1 (from before August 2023), which Model Lens does not read', 'Convert the model again with a current llama.cpp.');
    if (version !== 2 && version !== 3) {
      const swapped = ((version & 0xff) << 24) | ((version >>> 8 & 0xff) << 16) | ((version >>> 16 & 0xff) << 8) | (version >>> 24);
      if (swapped === 2 || swapped === 3) throw unsupported(file, 'is a big-endian GGUF file, which Model Lens does not read', 'Use the little-endian conversion of the model.');
      throw unsupported(file, `has GGUF version ${version}; Model Lens reads versions 2 and 3`, 'Convert the model with a llama.cpp that writes version 3.');
    }
    // The smallest tensor info is 24 bytes (empty name, 0 dims), the smallest metadata entry 13 (empty key, a u8).
    const tensorCount = await cursor.count('the tensor count', 24);
    const kvCount = await cursor.count('the metadata count', 13);
    if (tensorCount > MAX_TENSORS) throw badInput(file, `the header claims ${tensorCount} tensors, more than Model Lens accepts (${MAX_TENSORS})`, NOT_GGUF);
    if (kvCount > MAX_METADATA) throw badInput(file, `the header claims ${kvCount} metadata entries, more than Model Lens accepts (${MAX_METADATA})`, NOT_GGUF);

    const metadata = new Map<string, GgufValue>();
    const metadataTypes = new Map<string, string>();
    for (let i = 0; i < kvCount; i++) {
      const key = await cursor.string(`metadata key ${i}`, MAX_KEY_BYTES);
      const type = await cursor.u32(`the value type of "${key}"`);
      if (type === GGUF_VALUE_TYPES.ARRAY) {
        await wf.ensure(cursor.position, 4, `the element type of "${key}"`);
        const elementType = new DataView(wf.view(cursor.position, 4).slice().buffer).getUint32(0, true);
        metadataTypes.set(key, `ARRAY<${VALUE_TYPE_NAMES[elementType] ?? elementType}>`);
      } else metadataTypes.set(key, VALUE_TYPE_NAMES[type] ?? String(type));
      metadata.set(key, await readValue(cursor, type, `metadata "${key}"`, file));
    }

    let alignment = 32;
    const declaredAlignment = metadata.get('general.alignment');
    if (declaredAlignment !== undefined) {
      const value = typeof declaredAlignment === 'bigint' ? Number(declaredAlignment) : declaredAlignment;
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 1 << 20 || (value & (value - 1)) !== 0) {
        throw badInput(file, `general.alignment is ${String(declaredAlignment)}, not a power of two`, NOT_GGUF);
      }
      alignment = value;
    }

    const raw: { name: string; ne: number[]; type: number; offset: bigint }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = await cursor.string(`the name of tensor ${i}`, MAX_KEY_BYTES);
      const nDims = await cursor.u32(`the dimension count of "${name}"`);
      if (nDims > GGML_MAX_DIMS) throw badInput(file, `tensor "${name}" has ${nDims} dimensions; ggml allows at most ${GGML_MAX_DIMS}`, NOT_GGUF);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const dim = await cursor.u64(`a dimension of "${name}"`);
        if (dim > BigInt(Number.MAX_SAFE_INTEGER)) throw badInput(file, `tensor "${name}" has a dimension of ${dim}, too large to address`, NOT_GGUF);
        ne.push(Number(dim));
      }
      const type = await cursor.u32(`the type of "${name}"`);
      const offset = await cursor.u64(`the offset of "${name}"`);
      raw.push({ name, ne, type, offset });
    }
    const dataStart = Math.ceil(cursor.position / alignment) * alignment;
    if (dataStart > wf.size) throw badInput(file, `the data section would start at byte ${dataStart}, past the end of the file (${wf.size} bytes)`, NOT_GGUF);
    const dataSize = wf.size - dataStart;

    const seen = new Set<string>();
    const tensors = raw.map(({ name, ne, type, offset }): GgufTensor => {
      if (seen.has(name)) throw badInput(file, `tensor "${name}" is listed twice`, NOT_GGUF);
      seen.add(name);
      const traits = GGML_TYPES[type];
      if (!traits) {
        throw unsupported(file, `tensor "${name}" has ggml type ${type}, which Model Lens does not know`, 'The file may come from a newer llama.cpp; convert the model to F16, BF16 or Q8_0.');
      }
      const [typeName, blockSize, blockBytes] = traits;
      if ((ne[0] ?? 1) % blockSize !== 0) {
        throw badInput(file, `tensor "${name}" (${typeName}) has a row of ${ne[0]} values, not a multiple of its block size ${blockSize}`, NOT_GGUF);
      }
      const byteLength = (shapeElementCount(ne) / BigInt(blockSize)) * BigInt(blockBytes);
      if (offset % BigInt(alignment) !== 0n) {
        throw badInput(file, `tensor "${name}" starts at data offset ${offset}, not a multiple of the alignment ${alignment}`, NOT_GGUF);
      }
      if (offset + byteLength > BigInt(dataSize)) {
        throw badInput(
          file,
          `tensor "${name}" (${typeName}, ne [${ne.join(', ')}]) needs data bytes ${offset}..${offset + byteLength} but the data section has only ${dataSize}`,
          NOT_GGUF,
        );
      }
      const shape = ne.slice().reverse();
      const absolute = dataStart + Number(offset);
      return {
        name,
        ne,
        type,
        typeName,
        relativeOffset: Number(offset),
        byteLength: Number(byteLength),
        info: { name, dtype: typeName, shape, file, offset: absolute, byteLength: Number(byteLength) },
      };
    });
    const sorted = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.relativeOffset - b.relativeOffset);
    for (let i = 1; i < sorted.length; i++) {
      const before = sorted[i - 1];
      if (sorted[i].relativeOffset < before.relativeOffset + before.byteLength) {
        throw badInput(file, `tensors "${before.name}" and "${sorted[i].name}" overlap in the data section`, NOT_GGUF);
      }
    }
    return { file, fileSize: wf.size, version, metadata, metadataTypes, alignment, dataStart, tensors, bytesRead: wf.bytesRead };
  } finally {
    await wf.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor reads

/** Dequantises Q8_0 blocks (f16 scale d, then 32 int8 q): value = d × q. */
export function dequantizeQ8_0(bytes: Uint8Array, file = '', what = 'the tensor'): Float32Array {
  if (bytes.byteLength % 34 !== 0) throw badInput(file, `${what}: ${bytes.byteLength} bytes is not a whole number of Q8_0 blocks (34 bytes)`);
  const blocks = bytes.byteLength / 34;
  const scaleBytes = new Uint8Array(blocks * 2);
  for (let b = 0; b < blocks; b++) {
    scaleBytes[2 * b] = bytes[34 * b];
    scaleBytes[2 * b + 1] = bytes[34 * b + 1];
  }
  const scales = decodeToFloat32(scaleBytes, 'F16', file, what);
  const out = new Float32Array(blocks * 32);
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const d = scales[b];
    const from = 34 * b + 2;
    const to = 32 * b;
    for (let i = 0; i < 32; i++) out[to + i] = d * signed[from + i];
  }
  return out;
}

/** Reads one GGUF tensor as float32 (row-major, shape reversed from ggml's ne). */
export async function readGgufTensor(tensor: GgufTensor): Promise<Float32Array> {
  const { info } = tensor;
  if (!GGUF_READABLE_TYPES.includes(tensor.typeName)) {
    throw unsupported(
      info.file,
      `tensor "${tensor.name}" is ${tensor.typeName} (ggml type ${tensor.type}); Model Lens reads GGUF tensors in ${GGUF_READABLE_TYPES.slice(0, 4).join(', ')}`,
      'Convert the model with llama.cpp to F16, BF16 or Q8_0 (e.g. convert_hf_to_gguf.py --outtype q8_0) to inspect its embeddings.',
    );
  }
  if (tensor.typeName !== 'Q8_0') return readTensorAsFloat32(info);
  const { handle, size } = await openFileHandle(info.file, 'GGUF file');
  try {
    if (info.offset + info.byteLength > size) {
      throw badInput(info.file, `tensor "${tensor.name}" needs bytes up to ${info.offset + info.byteLength} but the file has only ${size}`, 'The file changed since it was opened; open it again.');
    }
    const bytes = new Uint8Array(info.byteLength);
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesRead } = await handle.read(bytes, done, Math.min(bytes.byteLength - done, 1 << 30), info.offset + done);
      if (bytesRead <= 0) throw badInput(info.file, `the file ended while reading tensor "${tensor.name}"`, 'The file is truncated; open it again.');
      done += bytesRead;
    }
    return dequantizeQ8_0(bytes, info.file, `tensor "${tensor.name}"`);
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Vocabulary and config

const asNumber = (value: GgufValue | undefined): number | undefined => {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint' && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= 0n) return Number(value);
  return undefined;
};

function numbersOf(value: GgufValue | undefined): ArrayLike<number> | undefined {
  if (value instanceof Float32Array || value instanceof Int32Array || value instanceof Uint32Array || value instanceof Float64Array) return value;
  if (value instanceof Uint8Array || value instanceof Int8Array || value instanceof Uint16Array || value instanceof Int16Array) return value;
  return undefined;
}

function stringsOf(value: GgufValue | undefined, key: string, file: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw badInput(file, `metadata "${key}" should be an array of strings`, NOT_GGUF);
}

/** The `tokenizer.ggml.*` metadata as a GgufVocabulary, or undefined when the file has no vocabulary. */
export function ggufVocabulary(gguf: GgufFile): GgufVocabulary | undefined {
  const m = gguf.metadata;
  const tokens = stringsOf(m.get('tokenizer.ggml.tokens'), 'tokenizer.ggml.tokens', gguf.file);
  const model = m.get('tokenizer.ggml.model');
  if (!tokens || typeof model !== 'string') return undefined;
  const flag = (key: string) => (typeof m.get(key) === 'boolean' ? (m.get(key) as boolean) : undefined);
  const id = (key: string) => asNumber(m.get(key));
  return {
    model,
    pre: typeof m.get('tokenizer.ggml.pre') === 'string' ? (m.get('tokenizer.ggml.pre') as string) : undefined,
    tokens,
    tokenTypes: numbersOf(m.get('tokenizer.ggml.token_type')),
    scores: numbersOf(m.get('tokenizer.ggml.scores')),
    merges: stringsOf(m.get('tokenizer.ggml.merges'), 'tokenizer.ggml.merges', gguf.file),
    bosId: id('tokenizer.ggml.bos_token_id'),
    eosId: id('tokenizer.ggml.eos_token_id'),
    unkId: id('tokenizer.ggml.unknown_token_id'),
    padId: id('tokenizer.ggml.padding_token_id'),
    addBos: flag('tokenizer.ggml.add_bos_token'),
    addEos: flag('tokenizer.ggml.add_eos_token'),
    addSpacePrefix: flag('tokenizer.ggml.add_space_prefix'),
  };
}

/** JSON-safe config: scalar metadata as is (big integers as numbers or strings), arrays summarised. */
export function ggufConfig(gguf: GgufFile): Record<string, unknown> {
  const config: Record<string, unknown> = { format: 'gguf', gguf_version: gguf.version, tensor_count: gguf.tensors.length };
  for (const [key, value] of gguf.metadata) {
    let shown: unknown;
    if (typeof value === 'bigint') shown = value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
    else if (typeof value === 'string' && value.length > 4096) shown = `${value.slice(0, 4096)}…`;
    else if (typeof value === 'object') shown = `[${gguf.metadataTypes.get(key)} × ${(value as { length: number }).length}]`;
    else shown = value;
    Object.defineProperty(config, key, { value: shown, enumerable: true, writable: true, configurable: true });
  }
  const arch = gguf.metadata.get('general.architecture');
  const embd = gguf.tensors.find((t) => t.name === 'token_embd.weight');
  const hidden = typeof arch === 'string' ? asNumber(gguf.metadata.get(`${arch}.embedding_length`)) : undefined;
  config.hidden_size = hidden ?? embd?.ne[0];
  config.vocab_size = embd?.ne[1] ?? (Array.isArray(gguf.metadata.get('tokenizer.ggml.tokens')) ? (gguf.metadata.get('tokenizer.ggml.tokens') as string[]).length : undefined);
  return config;
}

// ---------------------------------------------------------------------------------------------------------------
// Loader

export const ggufLoader: ModelLoader = {
  description: 'a llama.cpp GGUF file (.gguf)',
  async canOpen(target) {
    if (await isDirectory(target)) return false;
    if (target.toLowerCase().endsWith('.gguf')) return true;
    try {
      const { handle } = await openFileHandle(target, 'GGUF file');
      try {
        const magic = new Uint8Array(4);
        const { bytesRead } = await handle.read(magic, 0, 4, 0);
        return bytesRead === 4 && magic[0] === 0x47 && magic[1] === 0x47 && magic[2] === 0x55 && magic[3] === 0x46;
      } finally {
        await handle.close();
      }
    } catch {
      return false;
    }
  },
  async open(target): Promise<OpenedModel> {
    const gguf = await readGgufFile(target);
    const config = ggufConfig(gguf);
    const vocabulary = ggufVocabulary(gguf);
    let tokenizer: TokenizerHandle | undefined;
    if (vocabulary) {
      try {
        const built = ggufTokenizer(vocabulary, gguf.file);
        tokenizer = built.tokenizer;
        if (built.notes.length > 0) config.tokenizer_notes = built.notes;
      } catch (error) {
        // A vocabulary we cannot tokenize with (bert, t5, rwkv) leaves the weights readable; a corrupt one does not.
        if (!(error instanceof ModelLensError) || error.code !== 'unsupported') throw error;
        config.tokenizer_notes = [error.message];
      }
    } else config.tokenizer_notes = ['the file has no tokenizer.ggml vocabulary'];
    const byName = new Map(gguf.tensors.map((t) => [t.name, t] as const));
    const model = buildOpenedModel({ target: gguf.file, format: 'gguf', files: [gguf.file], config, tensors: gguf.tensors.map((t) => t.info), tokenizer });
    return {
      ...model,
      async readTensor(name) {
        const tensor = byName.get(name);
        if (!tensor) throw new ModelLensError('not-found', `has no tensor "${name}".`, gguf.file, 'Pick a name from the model\'s tensor list.');
        return readGgufTensor(tensor);
      },
    };
  },
};
