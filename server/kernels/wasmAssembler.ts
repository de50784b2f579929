/**
 * The few pieces of the WebAssembly binary format that the hand-assembled kernels need (ompKernels' Batch-OMP step,
 * knnHalfKernel's half-precision scan): LEB128 numbers, sections, and the instructions as byte arrays, so a kernel
 * reads as its instruction list. Each kernel imports one memory ("env", "memory") and exports its functions.
 */

/** Bytes of a little-endian unsigned LEB128 number. */
export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Bytes of a signed LEB128 number (32-bit). */
export function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const utf8 = (text: string) => [...uleb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

/** Local variables and constants. */
export const get = (local: number) => [0x20, ...uleb(local)];
export const set = (local: number) => [0x21, ...uleb(local)];
export const tee = (local: number) => [0x22, ...uleb(local)];
export const i32 = (value: number) => [0x41, ...sleb(value)];

/** Control flow (blocks without results). */
export const block = [0x02, 0x40];
export const loop = [0x03, 0x40];
export const end = [0x0b];
export const br = (depth: number) => [0x0c, depth];
export const brIf = (depth: number) => [0x0d, depth];
export const select = [0x1b];

/** i32 arithmetic and comparisons. */
export const add = [0x6a];
export const sub = [0x6b];
export const mul = [0x6c];
export const and = [0x71];
export const shl = [0x74];
export const eqz = [0x45];
export const ltU = [0x49];
export const gtU = [0x4b];
export const geU = [0x4f];

/** Scalar f32. */
export const f32add = [0x92];
export const f32load = (offset = 0) => [0x2a, 2, ...uleb(offset)];
export const f32store = (offset = 0) => [0x38, 2, ...uleb(offset)];

/** SIMD (the 0xfd prefix). Loads and stores assume 16-byte alignment. */
export const simd = (op: number, ...immediates: number[]) => [0xfd, ...uleb(op), ...immediates];
export const vload = (offset = 0) => simd(0x00, 4, ...uleb(offset));
/** Eight bytes into the low half of a v128, the high half zero. */
export const vload64Zero = (offset = 0) => simd(0x5d, 3, ...uleb(offset));
export const vstore = (offset = 0) => simd(0x0b, 4, ...uleb(offset));
export const v128i32 = (a: number, b: number, c: number, d: number) => simd(0x0c, ...new Uint8Array(new Int32Array([a, b, c, d]).buffer));
export const v128f32 = (value: number) => simd(0x0c, ...new Uint8Array(new Float32Array([value, value, value, value]).buffer));
export const f32x4 = {
  splat: simd(0x13),
  extractLane: (lane: number) => simd(0x1f, lane),
  gt: simd(0x44),
  abs: simd(0xe0),
  add: simd(0xe4),
  sub: simd(0xe5),
  mul: simd(0xe6),
};
export const i32x4 = {
  extendLowI16x8S: simd(0xa7),
  extendHighI16x8S: simd(0xa8),
  shl: simd(0xab),
  shrS: simd(0xac),
  add: simd(0xae),
};
export const v128 = { and: simd(0x4e), or: simd(0x50), bitselect: simd(0x52) };

export interface WasmFunction {
  name: string;
  params: number[];
  /** Groups of [count, type]. */
  locals: [count: number, type: number][];
  body: number[];
}

/**
 * A module of `functions` (no results) over one imported memory: `shared` memories must declare their maximum,
 * which the importer's memory may not exceed.
 */
export function assembleModule(functions: WasmFunction[], memory: { shared: boolean; maximumPages?: number } = { shared: false }): Uint8Array<ArrayBuffer> {
  const limits = memory.shared ? [0x03, 0x01, ...uleb(memory.maximumPages ?? 65536)] : [0x00, 0x01];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(functions.map((f) => [0x60, ...vector(f.params.map((type) => [type])), 0x00]))),
    ...section(2, vector([[...utf8('env'), ...utf8('memory'), 0x02, ...limits]])),
    ...section(3, vector(functions.map((_, index) => uleb(index)))),
    ...section(7, vector(functions.map((f, index) => [...utf8(f.name), 0x00, ...uleb(index)]))),
    ...section(
      10,
      vector(
        functions.map((f) => {
          const code = [...vector(f.locals.map(([count, type]) => [...uleb(count), type])), ...f.body, ...end];
          return [...uleb(code.length), ...code];
        }),
      ),
    ),
  ]);
}
