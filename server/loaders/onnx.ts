/**
 * ONNX models (`*.onnx`, and `onnx/model.onnx` inside a Hugging Face folder through `readOnnxWeights`).
 *
 * The ModelProto is walked with our own protobuf reader (protobuf.ts) through a sliding window over the file: nodes,
 * graph inputs and outputs, and each initializer's metadata (name, dims, data type) are read, while an initializer's
 * raw_data is never read at open, only located (absolute offset and length). Initializers stored outside the model
 * (`data_location` EXTERNAL with `location`/`offset`/`length`) must live inside the model's folder: absolute paths,
 * `..` and symlinks leading out are refused.
 *
 * The token embedding is found from the graph itself: the initializer feeding the first Gather whose indices come
 * from the `input_ids` input (possibly through Cast, Unsqueeze, Reshape, ...). The output head is the weight of the
 * MatMul or Gemm that produces `logits` (through Add, Reshape, ...): stored [hidden, vocab] for MatMul (transposed
 * against the usual [vocab, hidden]) or [vocab, hidden] for Gemm with transB = 1. When that weight is the embedding
 * itself (or a Transpose of it) the head is tied.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelLensError, badInput, unsupported } from '../errors';
import type { EmbeddingTensors, ModelLoader, OpenedModel, TensorInfo } from '../registry/types';
import { buildOpenedModel } from '../registry/openedModel';
import { loadTokenizer } from '../tokenization/loadTokenizer';
import type { TokenizerHandle } from '../tokenization/tokenizer';
import { isDirectory, isFile, presentTokenizerFiles } from './files';
import { WindowedFile } from './positionedReader';
import { ProtoMessage, decodePackedVarints, protoError, readMessage, streamFields, varintToInt64, type ProtoContext, type ProtoField } from './protobuf';
import { findEmbeddingTensors } from './embeddingDiscovery';
import { readTensorAsFloat32, shapeElementCount } from './safetensors';

// ---------------------------------------------------------------------------------------------------------------
// Data types

/** ONNX TensorProto.DataType → [dtype name, bits per element]. */
const ONNX_DATA_TYPES: Readonly<Record<number, readonly [string, number]>> = {
  1: ['F32', 32],
  2: ['U8', 8],
  3: ['I8', 8],
  4: ['U16', 16],
  5: ['I16', 16],
  6: ['I32', 32],
  7: ['I64', 64],
  8: ['STRING', 0],
  9: ['BOOL', 8],
  10: ['F16', 16],
  11: ['F64', 64],
  12: ['U32', 32],
  13: ['U64', 64],
  14: ['C64', 64],
  15: ['C128', 128],
  16: ['BF16', 16],
  17: ['F8_E4M3FN', 8],
  18: ['F8_E4M3FNUZ', 8],
  19: ['F8_E5M2', 8],
  20: ['F8_E5M2FNUZ', 8],
  21: ['U4', 4],
  22: ['I4', 4],
  23: ['F4_E2M1', 4],
};

/** ONNX's own names, for messages ("FLOAT16", "INT64"). */
const ONNX_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL', 10: 'FLOAT16',
  11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4', 23: 'FLOAT4E2M1',
};

/** The data types `readTensor` converts to float32. */
export const ONNX_READABLE_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];

export function onnxTypeName(dataType: number): string {
  return ONNX_TYPE_NAMES[dataType] ?? `data type ${dataType}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The graph

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** The node's integer attributes (axis, transA, transB, ...); other attribute kinds are not kept. */
  ints: Record<string, number>;
}

export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType of a tensor value, when given. */
  elemType?: number;
  /** Dimensions: numbers, symbolic names, or null when unknown. */
  shape?: (number | string | null)[];
}

export interface OnnxInitializer {
  name: string;
  dataType: number;
  /** Our dtype name (F32, F16, BF16, I64, ...). */
  dtype: string;
  dims: number[];
  /** Where its bytes are. */
  storage: 'raw_data' | 'float_data' | 'double_data' | 'external' | 'empty' | 'unaddressable';
  /** The byte range, when the bytes are one contiguous range (raw_data, packed float/double data, external data). */
  tensor?: TensorInfo;
  /** Why the bytes cannot be addressed (e.g. FLOAT16 stored in int32_data), when they cannot. */
  unaddressable?: string;
}

export interface OnnxGraph {
  file: string;
  irVersion?: number;
  producer?: string;
  opsets: { domain: string; version: number }[];
  graphName?: string;
  nodes: OnnxNode[];
  /** Graph inputs that are not initializers (older exporters list initializers as inputs too). */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers: OnnxInitializer[];
  /** Absolute paths of external data files the initializers use. */
  externalFiles: string[];
  /** Bytes of the model file read to parse it (the structure only, never the weights). */
  bytesRead: number;
}

/** Limits that keep a hostile file from making us build huge structures. */
const MAX_NODES = 1_000_000;
const MAX_INITIALIZERS = 1_000_000;
const MAX_VALUE_INFOS = 1_000_000;
const MAX_STRING_BYTES = 1 << 20;
const MAX_SMALL_MESSAGE_BYTES = 1 << 20;
const MAX_DIMS = 64;

const FORMAT = 'ONNX model';

async function readString(file: WindowedFile, field: ProtoField, context: ProtoContext, what: string): Promise<string> {
  if (field.wireType !== 2) throw protoError(context, `${what} at byte ${field.start} is not a string (wire type ${field.wireType})`);
  if (field.length > MAX_STRING_BYTES) throw protoError(context, `${what} at byte ${field.start} is ${field.length} bytes long, more than a name can be`);
  await file.ensure(field.start, field.length, what);
  return new TextDecoder('utf-8').decode(file.view(field.start, field.length));
}

const readSmallMessage = (file: WindowedFile, field: ProtoField, context: ProtoContext, what: string): Promise<ProtoMessage> =>
  readMessage(file, field, MAX_SMALL_MESSAGE_BYTES, context, what);

async function readVarintField(file: WindowedFile, field: ProtoField, context: ProtoContext, what: string): Promise<bigint> {
  if (field.wireType !== 0) throw protoError(context, `${what} at byte ${field.start} is not a varint (wire type ${field.wireType})`);
  await file.ensure(field.start, field.length, what);
  return varintToInt64(file.view(field.start, field.length));
}

function checkCount(context: ProtoContext, count: number, max: number, what: string): void {
  if (count > max) throw protoError(context, `the graph has more than ${max} ${what}, more than Model Lens accepts`);
}

/**
 * Reads the structure of an ONNX model: opsets, nodes, graph inputs and outputs, and where each initializer's bytes
 * are. Reads no weights. Every problem is a ModelLensError naming the file.
 */
export async function readOnnxGraph(modelFile: string): Promise<OnnxGraph> {
  const file = path.resolve(modelFile);
  const context: ProtoContext = { file, format: FORMAT };
  const wf = await WindowedFile.open(file, 'ONNX model', 1 << 16);
  try {
    if (wf.size === 0) throw badInput(file, 'the file is empty (0 bytes)', 'Export or download the ONNX model again.');
    const graph: OnnxGraph = { file, opsets: [], nodes: [], inputs: [], outputs: [], initializers: [], externalFiles: [], bytesRead: 0 };
    let graphField: ProtoField | undefined;
    for await (const field of streamFields(wf, 0, wf.size, context, 'the ModelProto')) {
      switch (field.field) {
        case 1:
          if (field.wireType === 0) graph.irVersion = field.varint;
          break;
        case 2:
          graph.producer = await readString(wf, field, context, 'the producer name');
          break;
        case 7:
          if (field.wireType !== 2) throw protoError(context, `the ModelProto's graph (field 7) at byte ${field.start} is not a message`);
          graphField = field;
          break;
        case 8: {
          const opset = await readSmallMessage(wf, field, context, 'an opset_import');
          let domain = '';
          let version = 0;
          for (const f of opset.fields()) {
            if (f.field === 1) domain = opset.string(f);
            else if (f.field === 2 && f.wireType === 0) version = f.varint;
          }
          graph.opsets.push({ domain, version });
          break;
        }
        default:
          break;
      }
    }
    if (!graphField) {
      throw badInput(file, 'the file holds no ONNX graph (ModelProto field 7 is missing)', 'This is not an ONNX model; export the model to ONNX again.');
    }
    await readGraph(wf, graphField, context, graph);
    graph.bytesRead = wf.bytesRead;
    return graph;
  } finally {
    await wf.close();
  }
}

async function readGraph(wf: WindowedFile, graphField: ProtoField, context: ProtoContext, graph: OnnxGraph): Promise<void> {
  const pending: { raw: RawInitializer }[] = [];
  const inputs: OnnxValueInfo[] = [];
  for await (const field of streamFields(wf, graphField.start, graphField.start + graphField.length, context, 'the GraphProto')) {
    switch (field.field) {
      case 1:
        checkCount(context, graph.nodes.length, MAX_NODES, 'nodes');
        graph.nodes.push(await readNode(wf, field, context));
        break;
      case 2:
        graph.graphName = await readString(wf, field, context, 'the graph name');
        break;
      case 5:
        checkCount(context, pending.length, MAX_INITIALIZERS, 'initializers');
        pending.push({ raw: await readInitializer(wf, field, context) });
        break;
      case 11:
        checkCount(context, inputs.length, MAX_VALUE_INFOS, 'graph inputs');
        inputs.push(parseValueInfo(await readSmallMessage(wf, field, context, 'a graph input')));
        break;
      case 12:
        checkCount(context, graph.outputs.length, MAX_VALUE_INFOS, 'graph outputs');
        graph.outputs.push(parseValueInfo(await readSmallMessage(wf, field, context, 'a graph output')));
        break;
      default:
        break;
    }
  }
  const externalSizes = new Map<string, number>();
  const folder = path.dirname(wf.file);
  for (const { raw } of pending) graph.initializers.push(await locateInitializer(raw, context, folder, externalSizes));
  graph.externalFiles = [...externalSizes.keys()];
  const initializerNames = new Set(graph.initializers.map((i) => i.name));
  graph.inputs = inputs.filter((input) => !initializerNames.has(input.name));
}

async function readNode(wf: WindowedFile, nodeField: ProtoField, context: ProtoContext): Promise<OnnxNode> {
  if (nodeField.wireType !== 2) throw protoError(context, `a node at byte ${nodeField.start} is not a message`);
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], ints: {} };
  for await (const field of streamFields(wf, nodeField.start, nodeField.start + nodeField.length, context, 'a NodeProto')) {
    switch (field.field) {
      case 1:
        node.inputs.push(await readString(wf, field, context, 'a node input'));
        break;
      case 2:
        node.outputs.push(await readString(wf, field, context, 'a node output'));
        break;
      case 3:
        node.name = await readString(wf, field, context, 'a node name');
        break;
      case 4:
        node.opType = await readString(wf, field, context, 'an op_type');
        break;
      case 7:
        node.domain = await readString(wf, field, context, 'a node domain');
        break;
      case 5: {
        // Attributes can hold whole tensors or subgraphs; only small ones are read, for their integer value.
        if (field.wireType !== 2 || field.length > MAX_SMALL_MESSAGE_BYTES) break;
        const attribute = await readSmallMessage(wf, field, context, 'a node attribute');
        let name: string | undefined;
        let int: bigint | undefined;
        for (const f of attribute.fields()) {
          if (f.field === 1) name = attribute.string(f);
          else if (f.field === 3 && f.wireType === 0) int = attribute.int64(f);
        }
        if (name !== undefined && int !== undefined && int >= BigInt(Number.MIN_SAFE_INTEGER) && int <= BigInt(Number.MAX_SAFE_INTEGER)) {
          Object.defineProperty(node.ints, name, { value: Number(int), enumerable: true, writable: true, configurable: true });
        }
        break;
      }
      default:
        break;
    }
  }
  return node;
}

/** ValueInfoProto { name = 1; type = 2 (TypeProto { tensor_type = 1 { elem_type = 1; shape = 2 { dim = 1 } } }) }. */
function parseValueInfo(message: ProtoMessage): OnnxValueInfo {
  const info: OnnxValueInfo = { name: '' };
  for (const f of message.fields()) {
    if (f.field === 1) info.name = message.string(f);
    else if (f.field === 2 && f.wireType === 2) {
      const type = message.message(f, 'a TypeProto');
      for (const t of type.fields()) {
        if (t.field !== 1 || t.wireType !== 2) continue; // tensor_type
        const tensorType = type.message(t, 'a TypeProto.Tensor');
        for (const tt of tensorType.fields()) {
          if (tt.field === 1 && tt.wireType === 0) info.elemType = tt.varint;
          else if (tt.field === 2 && tt.wireType === 2) {
            const shape = tensorType.message(tt, 'a TensorShapeProto');
            info.shape = [];
            for (const d of shape.fields()) {
              if (d.field !== 1 || d.wireType !== 2) continue;
              const dim = shape.message(d, 'a TensorShapeProto.Dimension');
              let value: number | string | null = null;
              for (const v of dim.fields()) {
                if (v.field === 1 && v.wireType === 0) value = Number.isSafeInteger(v.varint) ? v.varint : null;
                else if (v.field === 2) value = dim.string(v);
              }
              if (info.shape.length < MAX_DIMS) info.shape.push(value);
            }
          }
        }
      }
    }
  }
  return info;
}

interface RawInitializer {
  at: number;
  name: string;
  dataType: number;
  dims: number[];
  raw?: ProtoField;
  floatData?: ProtoField;
  doubleData?: ProtoField;
  /** Repeated or unpacked data fields, or data in int32_data/int64_data/...: which field it was. */
  otherData?: string;
  external: Record<string, string>;
  dataLocation: number;
}

const DATA_FIELD_NAMES: Readonly<Record<number, string>> = { 5: 'int32_data', 6: 'string_data', 7: 'int64_data', 11: 'uint64_data' };

/** TensorProto: dims 1, data_type 2, segment 3, float_data 4, name 8, raw_data 9, double_data 10, external_data 13, data_location 14. */
async function readInitializer(wf: WindowedFile, tensorField: ProtoField, context: ProtoContext): Promise<RawInitializer> {
  if (tensorField.wireType !== 2) throw protoError(context, `an initializer at byte ${tensorField.start} is not a message`);
  const raw: RawInitializer = { at: tensorField.start, name: '', dataType: 0, dims: [], external: Object.create(null) as Record<string, string>, dataLocation: 0 };
  const what = 'a TensorProto';
  for await (const field of streamFields(wf, tensorField.start, tensorField.start + tensorField.length, context, what)) {
    switch (field.field) {
      case 1: {
        let values: number[];
        if (field.wireType === 0) values = [field.varint];
        else if (field.wireType === 2) {
          if (field.length > MAX_DIMS * 10) throw protoError(context, `an initializer at byte ${tensorField.start} has more than ${MAX_DIMS} dims`);
          await wf.ensure(field.start, field.length, 'initializer dims');
          values = decodePackedVarints(wf.view(field.start, field.length), field.start, context, 'initializer dims');
        } else throw protoError(context, `the dims of an initializer at byte ${tensorField.start} have wire type ${field.wireType}`);
        raw.dims.push(...values);
        if (raw.dims.length > MAX_DIMS) throw protoError(context, `an initializer at byte ${tensorField.start} has more than ${MAX_DIMS} dims`);
        break;
      }
      case 2:
        if (field.wireType === 0) raw.dataType = field.varint;
        break;
      case 3:
        raw.otherData = 'segment';
        break;
      case 4:
        if (field.wireType === 2 && raw.floatData === undefined) raw.floatData = field;
        else raw.otherData = 'float_data (not packed)';
        break;
      case 8:
        raw.name = await readString(wf, field, context, 'an initializer name');
        break;
      case 9:
        if (field.wireType !== 2) throw protoError(context, `the raw_data of an initializer at byte ${tensorField.start} is not a byte string`);
        raw.raw = field;
        break;
      case 10:
        if (field.wireType === 2 && raw.doubleData === undefined) raw.doubleData = field;
        else raw.otherData = 'double_data (not packed)';
        break;
      case 13: {
        const entry = await readSmallMessage(wf, field, context, 'an external_data entry');
        let key = '';
        let value = '';
        for (const f of entry.fields()) {
          if (f.field === 1) key = entry.string(f);
          else if (f.field === 2) value = entry.string(f);
        }
        raw.external[key] = value;
        break;
      }
      case 14: {
        const location = await readVarintField(wf, field, context, 'data_location');
        raw.dataLocation = Number(BigInt.asIntN(32, location));
        break;
      }
      default: {
        const name = DATA_FIELD_NAMES[field.field];
        if (name && field.length > 0) raw.otherData = name;
        break;
      }
    }
  }
  return raw;
}

/** Checks an initializer's metadata and finds its bytes: in the model file or an external file in the model's folder. */
async function locateInitializer(raw: RawInitializer, context: ProtoContext, folder: string, externalSizes: Map<string, number>): Promise<OnnxInitializer> {
  const file = context.file;
  const label = raw.name ? `initializer "${raw.name}"` : `the initializer at byte ${raw.at}`;
  if (!raw.name) throw badInput(file, `${label} has no name`, 'The model is corrupt; export it again.');
  const type = ONNX_DATA_TYPES[raw.dataType];
  if (!type) {
    throw badInput(file, `${label} has data type ${raw.dataType}, which ONNX does not define`, 'The model is corrupt or from a newer ONNX; export it again.');
  }
  const [dtype, bits] = type;
  for (const dim of raw.dims) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw badInput(file, `${label} has a dimension ${dim >= 2 ** 63 ? 'below zero' : dim} in dims [${raw.dims.join(', ')}]`, 'The model is corrupt; export it again.');
    }
  }
  const dims = raw.dims.slice();
  const numel = shapeElementCount(dims);
  const expectedBits = numel * BigInt(bits);
  const expectedBytes = (expectedBits + 7n) / 8n;
  const init: OnnxInitializer = { name: raw.name, dataType: raw.dataType, dtype, dims, storage: 'empty' };
  const makeTensor = (tensorFile: string, offset: number, byteLength: number): TensorInfo => ({ name: raw.name, dtype, shape: dims, file: tensorFile, offset, byteLength });
  const checkLength = (length: number, where: string) => {
    if (bits === 0) return;
    if (BigInt(length) !== expectedBytes) {
      throw badInput(
        file,
        `${label}: ${where} holds ${length} bytes but dims [${dims.join(', ')}] of ${onnxTypeName(raw.dataType)} need ${expectedBytes}`,
        'The model is corrupt or hostile; export it again.',
      );
    }
  };

  if (raw.dataLocation === 1) {
    const located = await locateExternalData(raw, label, context, folder, externalSizes);
    const length = located.length ?? Number(expectedBytes);
    if (located.length !== undefined) checkLength(located.length, 'its external data');
    if (located.offset + length > located.fileSize) {
      throw badInput(
        file,
        `${label}: external data "${raw.external.location}" bytes ${located.offset}..${located.offset + length} run past the end of that file (${located.fileSize} bytes)`,
        'The external data file is truncated or does not belong to this model; copy it again.',
      );
    }
    init.storage = 'external';
    init.tensor = makeTensor(located.file, located.offset, length);
    return init;
  }
  if (raw.dataLocation !== 0) throw badInput(file, `${label} has data_location ${raw.dataLocation}, which ONNX does not define`, 'The model is corrupt; export it again.');
  if (raw.otherData !== undefined) {
    init.storage = 'unaddressable';
    init.unaddressable = `its values are stored in ${raw.otherData}, not as raw bytes`;
    return init;
  }
  if (raw.raw) {
    checkLength(raw.raw.length, 'raw_data');
    init.storage = 'raw_data';
    init.tensor = makeTensor(file, raw.raw.start, raw.raw.length);
    return init;
  }
  if (raw.floatData) {
    if (dtype !== 'F32') {
      init.storage = 'unaddressable';
      init.unaddressable = `its ${onnxTypeName(raw.dataType)} values are stored in float_data`;
      return init;
    }
    checkLength(raw.floatData.length, 'float_data');
    init.storage = 'float_data';
    init.tensor = makeTensor(file, raw.floatData.start, raw.floatData.length);
    return init;
  }
  if (raw.doubleData) {
    if (dtype !== 'F64') {
      init.storage = 'unaddressable';
      init.unaddressable = `its ${onnxTypeName(raw.dataType)} values are stored in double_data`;
      return init;
    }
    checkLength(raw.doubleData.length, 'double_data');
    init.storage = 'double_data';
    init.tensor = makeTensor(file, raw.doubleData.start, raw.doubleData.length);
    return init;
  }
  if (numel !== 0n) {
    throw badInput(file, `${label} has dims [${dims.join(', ')}] but no data`, 'The model is corrupt or was saved without its weights; export it again.');
  }
  return init;
}

const DECIMAL = /^\d{1,16}$/;

/** Resolves `location` inside the model's folder, refusing anything that leads out of it. */
async function locateExternalData(
  raw: RawInitializer,
  label: string,
  context: ProtoContext,
  folder: string,
  externalSizes: Map<string, number>,
): Promise<{ file: string; offset: number; length?: number; fileSize: number }> {
  const file = context.file;
  const location = raw.external.location;
  const hint = 'External data must be a file in the model\'s own folder; re-export the model with its data beside it.';
  if (typeof location !== 'string' || location.length === 0) throw badInput(file, `${label} says its data is external but gives no location`, 'The model is corrupt; export it again.');
  if (location.includes('\0') || path.isAbsolute(location) || /^[A-Za-z]:/.test(location) || location.startsWith('\\')) {
    throw badInput(file, `${label}: external data location "${location}" is an absolute path (refused: it could point anywhere on this machine)`, hint);
  }
  const resolved = path.resolve(folder, location);
  const relative = path.relative(folder, resolved);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative) || location.split(/[\\/]/).includes('..')) {
    throw badInput(file, `${label}: external data location "${location}" leads out of the model's folder (path traversal refused)`, hint);
  }
  let real: string;
  let realFolder: string;
  try {
    realFolder = await fsp.realpath(folder);
    real = await fsp.realpath(resolved);
  } catch {
    throw new ModelLensError('not-found', `${label}: its external data file "${location}" does not exist beside the model`, file, 'Copy the model\'s .data file(s) into the same folder.');
  }
  const realRelative = path.relative(realFolder, real);
  if (realRelative.startsWith('..') || path.isAbsolute(realRelative)) {
    throw badInput(file, `${label}: external data location "${location}" is a link that leads out of the model's folder (refused)`, hint);
  }
  let fileSize = externalSizes.get(resolved);
  if (fileSize === undefined) {
    const stat = await fsp.stat(real);
    if (!stat.isFile()) throw badInput(file, `${label}: external data location "${location}" is not a regular file`, hint);
    fileSize = stat.size;
    externalSizes.set(resolved, fileSize);
  }
  const parse = (key: 'offset' | 'length'): number | undefined => {
    const value = raw.external[key];
    if (value === undefined) return undefined;
    if (!DECIMAL.test(value) || !Number.isSafeInteger(Number(value))) {
      throw badInput(file, `${label}: external data ${key} "${value.slice(0, 40)}" is not a non-negative integer`, 'The model is corrupt; export it again.');
    }
    return Number(value);
  };
  return { file: resolved, offset: parse('offset') ?? 0, length: parse('length'), fileSize };
}

// ---------------------------------------------------------------------------------------------------------------
// Finding the embedding and the head in the graph

/** Ops that pass token ids (or a tensor) through without changing what they are. */
const PASS_THROUGH_OPS = new Set(['Cast', 'Unsqueeze', 'Squeeze', 'Reshape', 'Identity', 'Flatten', 'Expand', 'Clip']);
/** Ops between the head's MatMul and the logits output. */
const HEAD_TAIL_OPS = new Set(['Identity', 'Cast', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Add', 'Mul', 'Div', 'Tanh', 'Softcap', 'Slice']);

export interface OnnxEmbeddings extends EmbeddingTensors {
  /**
   * The head is stored [hidden, vocab] (a MatMul weight): row i of the stored tensor is hidden unit i, so the rows of
   * the [vocab, hidden] head are its columns.
   */
  outputTransposed: boolean;
  /** The graph input that holds the token ids, when found. */
  idsInput?: string;
  /** The graph output that holds the logits, when found. */
  logitsOutput?: string;
  /** Why something was not found, for the model's summary. */
  notes: string[];
}

/**
 * Finds the token embedding and the output head from the graph's wiring (not from names): the first Gather on
 * `input_ids`, and the MatMul/Gemm producing `logits`. Pure.
 */
export function findOnnxEmbeddings(graph: Pick<OnnxGraph, 'nodes' | 'inputs' | 'outputs' | 'initializers'>): OnnxEmbeddings {
  const notes: string[] = [];
  const initializers = new Map(graph.initializers.map((i) => [i.name, i] as const));
  const producers = new Map<string, OnnxNode>();
  for (const node of graph.nodes) for (const output of node.outputs) if (output) producers.set(output, node);

  /** The initializer a value comes from through Identity (and, if allowed, Transpose) nodes. */
  const initializerBehind = (value: string, allowTranspose: boolean): { init: OnnxInitializer; transposed: boolean } | undefined => {
    let transposed = false;
    for (let step = 0; step < 16; step++) {
      const init = initializers.get(value);
      if (init) return { init, transposed };
      const node = producers.get(value);
      if (!node) return undefined;
      if (node.opType === 'Identity' || node.opType === 'Cast') value = node.inputs[0] ?? '';
      else if (node.opType === 'Transpose' && allowTranspose) {
        transposed = !transposed;
        value = node.inputs[0] ?? '';
      } else return undefined;
    }
    return undefined;
  };

  const integerInput = (info: OnnxValueInfo) => info.elemType === undefined || [2, 3, 4, 5, 6, 7, 12, 13].includes(info.elemType);
  const idsInput =
    graph.inputs.find((input) => input.name === 'input_ids') ??
    graph.inputs.find((input) => /input_ids|token_ids|^ids$|tokens?$/i.test(input.name) && integerInput(input));
  let input: TensorInfo | undefined;
  if (!idsInput) notes.push('no graph input named input_ids');
  else {
    const derived = new Set([idsInput.name]);
    for (const node of graph.nodes) {
      if (PASS_THROUGH_OPS.has(node.opType) && derived.has(node.inputs[0] ?? '')) {
        for (const output of node.outputs) derived.add(output);
        continue;
      }
      if (node.opType === 'Gather' && derived.has(node.inputs[1] ?? '') && (node.ints.axis ?? 0) === 0) {
        const found = initializerBehind(node.inputs[0] ?? '', false);
        if (found && found.init.dims.length === 2 && found.init.tensor) input = found.init.tensor;
        else notes.push(`the Gather on ${idsInput.name} ("${node.name}") does not read a 2-D initializer`);
        break;
      }
    }
    if (!input && notes.length === 0) notes.push(`no Gather reads ${idsInput.name}`);
  }

  const logits = graph.outputs.find((output) => output.name === 'logits') ?? graph.outputs[0];
  let output: TensorInfo | undefined;
  let outputTransposed = false;
  let tied = false;
  if (!logits) notes.push('the graph has no outputs');
  else {
    let node = producers.get(logits.name);
    for (let step = 0; node && step < 32 && HEAD_TAIL_OPS.has(node.opType); step++) {
      // Follow the input that is not a constant (a bias, a scale, a shape).
      const next: string | undefined = node.inputs.find((name) => name && !initializers.has(name) && producers.get(name)?.opType !== 'Constant');
      node = next === undefined ? undefined : producers.get(next);
    }
    if (node && (node.opType === 'MatMul' || node.opType === 'Gemm')) {
      const gemm = node.opType === 'Gemm';
      const weightIndex = gemm && (node.ints.transA ?? 0) === 0 ? 1 : node.opType === 'MatMul' ? 1 : 0;
      const found = initializerBehind(node.inputs[weightIndex] ?? '', true);
      if (found && found.init.dims.length === 2 && found.init.tensor) {
        // MatMul(X, W): W is [hidden, vocab]. Gemm(A, B, transB): B is [vocab, hidden] when transB = 1.
        const storedTransposedForMatmul = gemm ? (node.ints.transB ?? 0) === 0 : true;
        const transposed = found.transposed ? !storedTransposedForMatmul : storedTransposedForMatmul;
        if (input && found.init.name === input.name) tied = true;
        else {
          output = found.init.tensor;
          outputTransposed = transposed;
        }
      } else notes.push(`the ${node.opType} producing ${logits.name} does not read a 2-D initializer`);
    } else notes.push(`no MatMul or Gemm produces ${logits.name}`);
  }
  const result: OnnxEmbeddings = { input, tied, outputTransposed, notes };
  if (output) result.output = output;
  if (idsInput) result.idsInput = idsInput.name;
  if (logits) result.logitsOutput = logits.name;
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Weights for the registry (also used by the Hugging Face folder loader)

export interface OnnxWeights {
  graph: OnnxGraph;
  /** Initializers whose bytes are one range of a file, with our dtype names. */
  tensors: TensorInfo[];
  embeddings: OnnxEmbeddings;
  /** The model file and the external data files it uses. */
  files: string[];
  /** Reads one initializer as float32 (F32, F16 and BF16 only). */
  readTensor(name: string): Promise<Float32Array>;
  config: Record<string, unknown>;
}

/** Reads an ONNX model's structure, finds its embeddings and returns what a loader needs. Reads no weights. */
export async function readOnnxWeights(modelFile: string): Promise<OnnxWeights> {
  const graph = await readOnnxGraph(modelFile);
  const tensors = graph.initializers.flatMap((init) => (init.tensor ? [init.tensor] : []));
  const byName = new Map(graph.initializers.map((init) => [init.name, init] as const));
  const embeddings = findOnnxEmbeddings(graph);
  if (!embeddings.input) {
    // The wiring did not show it (e.g. a merged decoder, whose Gather sits inside an If's subgraphs): try the names
    // and shapes exporters keep (model.embed_tokens.weight, transformer.wte.weight, lm_head.weight, ...).
    const byName = findEmbeddingTensors(tensors);
    if (byName.input) {
      embeddings.input = byName.input;
      embeddings.notes.push(`embedding found by name (${byName.input.name}), not from the graph`);
      if (!embeddings.output && byName.output) {
        embeddings.output = byName.output;
        embeddings.outputTransposed = false;
      }
      embeddings.tied = !embeddings.output && byName.tied;
    }
  }
  const config: Record<string, unknown> = {
    format: 'onnx',
    ir_version: graph.irVersion,
    producer_name: graph.producer,
    opset: graph.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version,
    node_count: graph.nodes.length,
    initializer_count: graph.initializers.length,
  };
  if (embeddings.input) {
    config.vocab_size = embeddings.input.shape[0];
    config.hidden_size = embeddings.input.shape[1];
  }
  if (embeddings.notes.length > 0) config.embedding_notes = embeddings.notes;
  return {
    graph,
    tensors,
    embeddings,
    files: [graph.file, ...graph.externalFiles],
    config,
    async readTensor(name) {
      const init = byName.get(name);
      if (!init) throw new ModelLensError('not-found', `has no initializer "${name}"`, graph.file, 'Pick a name from the model\'s tensor list.');
      if (!ONNX_READABLE_DTYPES.includes(init.dtype)) {
        throw unsupported(
          graph.file,
          `initializer "${name}" is ${onnxTypeName(init.dataType)}; Model Lens reads FLOAT, FLOAT16 and BFLOAT16 initializers`,
          'Export the model with float weights (not quantized) to inspect them.',
        );
      }
      if (!init.tensor) {
        throw unsupported(graph.file, `initializer "${name}" cannot be read: ${init.unaddressable ?? 'it holds no data'}`, 'Re-export the model so weights are stored as raw_data.');
      }
      return readTensorAsFloat32(init.tensor);
    },
  };
}

/** Float ONNX exports a Hugging Face folder may hold, best first (Optimum's and transformers.js's names). */
const FOLDER_ONNX_NAMES = ['model.onnx', 'decoder_model_merged.onnx', 'decoder_model.onnx', 'model_fp16.onnx', 'decoder_model_merged_fp16.onnx'];

/** The ONNX model of a Hugging Face folder: `onnx/model.onnx` (or a decoder export), else one beside config.json. */
export async function findOnnxModelInFolder(folder: string): Promise<string | undefined> {
  for (const dir of [path.join(folder, 'onnx'), folder]) {
    for (const name of FOLDER_ONNX_NAMES) if (await isFile(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The folder with a tokenizer.json for an ONNX file: its own folder, else the parent (Optimum's onnx/ subfolder). */
async function tokenizerFolderFor(modelFile: string): Promise<string | undefined> {
  const own = path.dirname(modelFile);
  for (const folder of [own, path.dirname(own)]) {
    if (await isFile(path.join(folder, 'tokenizer.json'))) return folder;
  }
  return undefined;
}

export const onnxLoader: ModelLoader = {
  description: 'an ONNX model (.onnx, with external data beside it)',
  async canOpen(target) {
    return target.toLowerCase().endsWith('.onnx') && !(await isDirectory(target));
  },
  async open(target): Promise<OpenedModel> {
    const file = path.resolve(target);
    const weights = await readOnnxWeights(file);
    const tokenizerFolder = await tokenizerFolderFor(file);
    let tokenizer: TokenizerHandle | undefined;
    let tokenizerFiles: string[] = [];
    if (tokenizerFolder) {
      tokenizer = await loadTokenizer(tokenizerFolder);
      tokenizerFiles = await presentTokenizerFiles(tokenizerFolder);
    }
    const model = buildOpenedModel({ target: file, format: 'onnx', files: [...weights.files, ...tokenizerFiles], config: weights.config, tensors: [], tokenizer });
    return { ...model, tensors: weights.tensors, embeddings: weights.embeddings, readTensor: weights.readTensor };
  },
};
