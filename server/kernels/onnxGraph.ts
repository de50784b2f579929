/**
 * Builds small ONNX models in code, as protobuf bytes that `InferenceSession.create` accepts, the way transformers.js
 * `src/ops/registry.js` wraps single operators as tensor kernels. Only the handful of ModelProto fields a one-graph
 * kernel needs are written; field numbers follow onnx/onnx.proto (IR version 8, default domain).
 */

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = { float: 1, int64: 7, float16: 10 } as const;
export type OnnxElementType = (typeof OnnxType)[keyof typeof OnnxType];

/** A dimension: a fixed size, or a symbolic name for a size given at run time. */
export type OnnxDim = number | string;

export interface OnnxValueInfo {
  name: string;
  type: OnnxElementType;
  dims: readonly OnnxDim[];
}

export type OnnxAttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: readonly number[] };

export interface OnnxNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttributeValue>>;
}

/**
 * A constant: int64 values (shapes, k), float32 values (small constants, stored inline), or a tensor whose bytes
 * live in an external data file beside the model (how large weights are exported).
 */
export type OnnxInitializer =
  | { name: string; dims: readonly number[]; int64: readonly number[] }
  | { name: string; dims: readonly number[]; float32: Float32Array }
  | { name: string; dims: readonly number[]; type: OnnxElementType; external: { location: string; offset: number; length: number } };

export interface OnnxGraphSpec {
  name: string;
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  nodes: readonly OnnxNode[];
  initializers?: readonly OnnxInitializer[];
  opset?: number;
}

export const int = (value: number): OnnxAttributeValue => ({ kind: 'int', value });
export const float = (value: number): OnnxAttributeValue => ({ kind: 'float', value });
export const ints = (value: readonly number[]): OnnxAttributeValue => ({ kind: 'ints', value });

// ---------------------------------------------------------------------------------------------------------------
// Protobuf wire encoding (varint = 0, 32-bit = 5, length-delimited = 2)

class ProtoWriter {
  private readonly bytes: number[] = [];

  private varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`protobuf varint out of range: ${value}`);
    if (value < 0) {
      // int64 two's complement, ten bytes. Only small negatives (-1) occur here.
      let low = value >>> 0;
      let high = Math.floor(value / 4294967296) >>> 0;
      for (let i = 0; i < 9; i++) {
        this.bytes.push((low & 0x7f) | 0x80);
        low = (low >>> 7) | ((high & 0x7f) << 25);
        high >>>= 7;
      }
      this.bytes.push(1);
      return;
    }
    while (value >= 0x80) {
      this.bytes.push((value % 128) | 0x80);
      value = Math.floor(value / 128);
    }
    this.bytes.push(value);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const scratch = new DataView(new ArrayBuffer(4));
    scratch.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.bytes.push(scratch.getUint8(i));
    return this;
  }

  string(field: number, value: string): this {
    return this.bytesField(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (writer: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytesField(field, inner.finish());
  }

  raw(field: number, value: Uint8Array): this {
    return this.bytesField(field, value);
  }

  private bytesField(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    for (const byte of value) this.bytes.push(byte);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function writeValueInfo(writer: ProtoWriter, info: OnnxValueInfo): void {
  writer.string(1, info.name);
  // TypeProto.tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) | dim_param (2)
  writer.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, info.type);
      tensor.message(2, (shape) => {
        for (const dim of info.dims) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

function writeNode(writer: ProtoWriter, node: OnnxNode, index: number): void {
  for (const input of node.inputs) writer.string(1, input);
  for (const output of node.outputs) writer.string(2, output);
  writer.string(3, `${node.op}_${index}`);
  writer.string(4, node.op);
  for (const [name, attribute] of Object.entries(node.attributes ?? {})) {
    // AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7)
    writer.message(5, (a) => {
      a.string(1, name);
      switch (attribute.kind) {
        case 'float':
          a.float(2, attribute.value).int(20, 1);
          break;
        case 'int':
          a.int(3, attribute.value).int(20, 2);
          break;
        case 'ints':
          for (const v of attribute.value) a.int(8, v);
          a.int(20, 7);
          break;
      }
    });
  }
}

function writeInitializer(t: ProtoWriter, init: OnnxInitializer): void {
  // TensorProto: dims 1, data_type 2, int64_data 7, name 8, raw_data 9, external_data 13, data_location 14
  for (const d of init.dims) t.int(1, d);
  if ('int64' in init) {
    t.int(2, OnnxType.int64);
    for (const v of init.int64) t.int(7, v);
    t.string(8, init.name);
  } else if ('float32' in init) {
    t.int(2, OnnxType.float);
    t.string(8, init.name);
    t.raw(9, new Uint8Array(init.float32.buffer, init.float32.byteOffset, init.float32.byteLength));
  } else {
    t.int(2, init.type);
    t.string(8, init.name);
    const entries: [string, string][] = [
      ['location', init.external.location],
      ['offset', String(init.external.offset)],
      ['length', String(init.external.length)],
    ];
    for (const [key, value] of entries) t.message(13, (e) => e.string(1, key).string(2, value));
    t.int(14, 1); // EXTERNAL
  }
}

/** Serialises a one-graph ONNX model (ModelProto) to bytes. */
export function buildOnnxModel(spec: OnnxGraphSpec): Uint8Array {
  const model = new ProtoWriter();
  model.int(1, 8); // ir_version
  model.string(2, 'model-lens');
  model.message(7, (graph) => {
    spec.nodes.forEach((node, i) => graph.message(1, (n) => writeNode(n, node, i)));
    graph.string(2, spec.name);
    for (const init of spec.initializers ?? []) graph.message(5, (t) => writeInitializer(t, init));
    for (const input of spec.inputs) graph.message(11, (v) => writeValueInfo(v, input));
    for (const output of spec.outputs) graph.message(12, (v) => writeValueInfo(v, output));
  });
  model.message(8, (opset) => opset.string(1, '').int(2, spec.opset ?? 17));
  return model.finish();
}
