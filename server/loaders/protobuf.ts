/**
 * A small reader for the protobuf wire format (no schema, no library), enough to walk an ONNX ModelProto.
 *
 * A message is a list of fields: a varint tag (field number << 3 | wire type) followed by a varint (type 0), 8 bytes
 * (type 1), a varint length and that many bytes (type 2: strings, bytes, sub-messages, packed repeated scalars) or 4
 * bytes (type 5). Groups (types 3 and 4) are long deprecated and refused.
 *
 * Two ways in:
 * - `ProtoMessage` walks a message already in memory (small ones: a node, a value info).
 * - `streamFields` walks a message inside a file through a `WindowedFile`, reading only tags and lengths, so a
 *   length-delimited field of gigabytes (an initializer's raw_data) is stepped over, not read; the caller gets its
 *   absolute offset and length.
 *
 * Every length is checked against the end of its enclosing message (and so against the file) before it is used.
 */
import { badInput } from '../errors';
import type { WindowedFile } from './positionedReader';

export type WireType = 0 | 1 | 2 | 5;

export interface ProtoField {
  field: number;
  wireType: WireType;
  /** Absolute offset of the value: after the tag, and for wire type 2 after the length. */
  start: number;
  /** Byte length of the value: the payload for wire type 2, 8 or 4 for fixed types, the varint's bytes for type 0. */
  length: number;
  /** Wire type 0: the value (exact below 2^53; larger values, negative int64s included, are not safe integers). */
  varint: number;
}

/** What a protobuf problem is reported as: the file, where, and that the file is not valid. */
export interface ProtoContext {
  file: string;
  /** Names the format for the hint, e.g. "ONNX model". */
  format: string;
}

export function protoError(context: ProtoContext, message: string) {
  return badInput(context.file, message, `The file is truncated, corrupt or not an ${context.format}; export or download it again.`);
}

const MAX_VARINT_BYTES = 10;

/**
 * Decodes a varint at `at` in `bytes` (not reading at or past `limit`). Returns the value (a double: exact below 2^53)
 * and stores the position after it in `cursor.next`.
 */
function decodeVarint(bytes: Uint8Array, at: number, limit: number, cursor: { next: number }, context: ProtoContext, where: () => string): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (at + i >= limit) throw protoError(context, `a varint at byte ${where()} runs past the end of its message`);
    const byte = bytes[at + i];
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) {
      cursor.next = at + i + 1;
      return value;
    }
  }
  throw protoError(context, `a varint at byte ${where()} is longer than ${MAX_VARINT_BYTES} bytes`);
}

/**
 * Reads one field header at `at` of `bytes` (whose first byte is at absolute offset `base`). `viewEnd` is how far
 * `bytes` may be read; `messageEnd` (absolute) is where the enclosing message ends: the value must fit before it.
 */
function readFieldHeader(
  bytes: Uint8Array,
  at: number,
  viewEnd: number,
  base: number,
  messageEnd: number,
  context: ProtoContext,
  what: string,
): ProtoField {
  const cursor = { next: 0 };
  const where = () => `${base + at} in ${what}`;
  const tag = decodeVarint(bytes, at, viewEnd, cursor, context, where);
  const field = Math.floor(tag / 8);
  const wireType = tag % 8;
  if (field === 0 || field > 0x1fffffff) throw protoError(context, `${what} has a field number ${field} at byte ${base + at}, which protobuf does not allow`);
  let start: number;
  let length: number;
  let varint = 0;
  switch (wireType) {
    case 0: {
      const valueAt = cursor.next;
      varint = decodeVarint(bytes, valueAt, Math.min(viewEnd, messageEnd - base), cursor, context, where);
      start = base + valueAt;
      length = cursor.next - valueAt;
      break;
    }
    case 1:
      start = base + cursor.next;
      length = 8;
      break;
    case 5:
      start = base + cursor.next;
      length = 4;
      break;
    case 2: {
      const declared = decodeVarint(bytes, cursor.next, Math.min(viewEnd, messageEnd - base), cursor, context, where);
      start = base + cursor.next;
      if (!Number.isSafeInteger(declared) || declared > messageEnd - start) {
        throw protoError(
          context,
          `field ${field} of ${what} at byte ${base + at} declares ${declared} bytes but only ${Math.max(0, messageEnd - start)} remain in its message`,
        );
      }
      length = declared;
      break;
    }
    default:
      throw protoError(context, `${what} has wire type ${wireType} at byte ${base + at} (field ${field}), which is not valid here`);
  }
  if (start + length > messageEnd) {
    throw protoError(context, `field ${field} of ${what} at byte ${base + at} runs past the end of its message`);
  }
  return { field, wireType: wireType as WireType, start, length, varint };
}

/** A message held in memory; `base` is the absolute file offset of its first byte (for messages and offsets). */
export class ProtoMessage {
  constructor(
    readonly bytes: Uint8Array,
    readonly base: number,
    readonly context: ProtoContext,
    readonly what: string,
  ) {}

  *fields(): Generator<ProtoField> {
    let at = 0;
    const end = this.base + this.bytes.byteLength;
    while (at < this.bytes.byteLength) {
      const field = readFieldHeader(this.bytes, at, this.bytes.byteLength, this.base, end, this.context, this.what);
      yield field;
      at = field.start + field.length - this.base;
    }
  }

  /** The bytes of a field's value (a view, no copy). */
  valueBytes(field: ProtoField): Uint8Array {
    return this.bytes.subarray(field.start - this.base, field.start - this.base + field.length);
  }

  /** A wire type 2 field as a UTF-8 string. */
  string(field: ProtoField): string {
    this.expectWireType(field, 2, 'a string');
    return utf8Decoder.decode(this.valueBytes(field));
  }

  /** A wire type 2 field as a sub-message. */
  message(field: ProtoField, what: string): ProtoMessage {
    this.expectWireType(field, 2, 'a message');
    return new ProtoMessage(this.valueBytes(field), field.start, this.context, what);
  }

  /** A repeated varint field, packed (wire type 2) or not (wire type 0): its values. */
  varints(field: ProtoField): number[] {
    if (field.wireType === 0) return [field.varint];
    this.expectWireType(field, 2, 'varints');
    return decodePackedVarints(this.valueBytes(field), field.start, this.context, `field ${field.field} of ${this.what}`);
  }

  /** A varint field as a signed 64-bit integer (exact, for values like axis = -1). */
  int64(field: ProtoField): bigint {
    this.expectWireType(field, 0, 'a varint');
    return varintToInt64(this.valueBytes(field));
  }

  /** A float (wire type 5). */
  float32(field: ProtoField): number {
    this.expectWireType(field, 5, 'a float');
    const bytes = this.valueBytes(field);
    return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
  }

  expectWireType(field: ProtoField, wireType: WireType, what: string): void {
    if (field.wireType !== wireType) {
      throw protoError(this.context, `field ${field.field} of ${this.what} at byte ${field.start} should be ${what} but has wire type ${field.wireType}`);
    }
  }
}

const utf8Decoder = new TextDecoder('utf-8');

/** Decodes a packed run of varints. */
export function decodePackedVarints(bytes: Uint8Array, base: number, context: ProtoContext, what: string): number[] {
  const values: number[] = [];
  const cursor = { next: 0 };
  let at = 0;
  while (at < bytes.byteLength) {
    values.push(decodeVarint(bytes, at, bytes.byteLength, cursor, context, () => `${base + at} in ${what}`));
    at = cursor.next;
  }
  return values;
}

/** The bytes of one varint (as a wire type 0 field's value) as a signed 64-bit integer, exactly. */
export function varintToInt64(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.byteLength - 1; i >= 0; i--) value = (value << 7n) | BigInt(bytes[i] & 0x7f);
  return BigInt.asIntN(64, value);
}

/** Tag (5 bytes) plus a length (10 bytes) is the most a field header can take. */
const MAX_FIELD_HEADER = 15;

/**
 * Walks the fields of the message at [start, end) of `file` without reading the values: only the tags and lengths
 * (and the value of varint fields). The caller reads the values it wants (`file.read`) and skips the rest.
 */
export async function* streamFields(file: WindowedFile, start: number, end: number, context: ProtoContext, what: string): AsyncGenerator<ProtoField> {
  file.checkRange(start, end - start, what);
  let at = start;
  while (at < end) {
    const headerBytes = Math.min(MAX_FIELD_HEADER, end - at);
    await file.ensure(at, headerBytes, what);
    const view = file.view(at, headerBytes);
    const field = readFieldHeader(view, 0, headerBytes, at, end, context, what);
    yield field;
    at = field.start + field.length;
  }
}

/** Reads a field's value from the file into memory as a message, refusing values over `maxBytes`. */
export async function readMessage(file: WindowedFile, field: ProtoField, maxBytes: number, context: ProtoContext, what: string): Promise<ProtoMessage> {
  if (field.wireType !== 2) throw protoError(context, `${what} at byte ${field.start} should be a message but has wire type ${field.wireType}`);
  if (field.length > maxBytes) {
    throw protoError(context, `${what} at byte ${field.start} is ${field.length} bytes, more than the ${maxBytes} Model Lens reads for it`);
  }
  await file.ensure(field.start, field.length, what);
  return new ProtoMessage(file.view(field.start, field.length).slice(), field.start, context, what);
}
