import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelLensError, type ModelLensErrorCode } from '../../server/errors';
import {
  MAX_HEADER_BYTES,
  decodeToFloat32,
  encodeFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  openNodeFile,
  readSafetensorsHeader,
  readSafetensorsIndex,
  readTensorAsFloat32,
  readTensorRows,
  writeSafetensors,
  type OpenRandomAccessFile,
  type SafetensorsTensorToWrite,
} from '../../server/loaders/safetensors';
import { buildHostileSafetensors, rawSafetensorsBytes, type HostileCase, type HostileFiles } from '../fixtures/hostileSafetensors';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'model-lens-safetensors-'));
after(() => fsp.rm(tmpRoot, { recursive: true, force: true }));

let counter = 0;
const tmpFile = (name: string) => path.join(tmpRoot, `${counter++}-${name}`);

/** An opener that counts the bytes read through it. */
function countingOpener(): { open: OpenRandomAccessFile; bytesRead: () => number; reads: () => number } {
  let bytes = 0;
  let reads = 0;
  return {
    open: async (file) => {
      const inner = await openNodeFile(file);
      return {
        size: () => inner.size(),
        read: async (into, position) => {
          const n = await inner.read(into, position);
          bytes += n;
          reads += 1;
          return n;
        },
        close: () => inner.close(),
      };
    },
    bytesRead: () => bytes,
    reads: () => reads,
  };
}

function bits32(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

async function expectError(promise: Promise<unknown>, code: ModelLensErrorCode, fragment: RegExp, file?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ModelLensError, `expected a ModelLensError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, fragment);
    if (file !== undefined) assert.equal(error.file, path.resolve(file));
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips

test('F32 round trip keeps every bit: -0, subnormals, ±inf, NaN, extremes', async () => {
  const values = new Float32Array([0, -0, 1, -1.5, 1e-45, 1.1754942e-38, 3.4028234663852886e38, -Infinity, Infinity, NaN, Math.PI]);
  const file = tmpFile('f32.safetensors');
  await writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [values.length], data: encodeFloat32(values, 'F32') }]);
  const header = await readSafetensorsHeader(file);
  assert.equal(header.tensors.length, 1);
  const read = await readTensorAsFloat32(header.tensors[0]);
  assert.deepEqual(bits32(read), bits32(values));
  assert.ok(Object.is(read[1], -0));
});

test('F16 round trip rounds to nearest even, keeps -0 and subnormals, overflows to inf', async () => {
  const cases: [number, number][] = [
    [1, 1],
    [-0, -0],
    [0.1, 0.0999755859375],
    [65504, 65504], // max half
    [65519, 65504], // below the halfway point to inf
    [65520, Infinity], // halfway, ties to even (inf)
    [1e6, Infinity],
    [-1e6, -Infinity],
    [2 ** -24, 2 ** -24], // smallest subnormal
    [2 ** -25, 0], // halfway to the smallest subnormal: ties to even (0)
    [1.5 * 2 ** -25, 2 ** -24],
    [-(2 ** -24) * 3, -(2 ** -24) * 3], // negative subnormal, exact
    [2 ** -14, 2 ** -14], // smallest normal
    [1 + 2 ** -11, 1], // halfway between 1 and 1+2^-10: ties to even
    [1 + 3 * 2 ** -11, 1 + 2 ** -9],
    [1e-10, 0],
    [Infinity, Infinity],
    [-Infinity, -Infinity],
  ];
  const input = new Float32Array(cases.map(([x]) => x));
  const file = tmpFile('f16.safetensors');
  await writeSafetensors(file, [{ name: 'h', dtype: 'F16', shape: [input.length], data: encodeFloat32(input, 'F16') }]);
  const [info] = (await readSafetensorsHeader(file)).tensors;
  assert.equal(info.byteLength, input.length * 2);
  const read = await readTensorAsFloat32(info);
  cases.forEach(([x, expected], i) => assert.ok(Object.is(read[i], expected), `f16(${x}) = ${read[i]}, expected ${expected}`));
  assert.ok(Number.isNaN(decodeToFloat32(encodeFloat32(new Float32Array([NaN]), 'F16'), 'F16')[0]));
});

test('BF16 round trip rounds to nearest even and keeps -0, subnormals and NaN', async () => {
  const cases: [number, number][] = [
    [1, 1],
    [-0, -0],
    [0.1, 0.10009765625],
    [3.14159, 3.140625],
    [1 + 2 ** -8, 1], // halfway: ties to even
    [1 + 3 * 2 ** -8, 1.015625],
    [1e-40, 9.183549615799121e-41], // float32 subnormal stays subnormal
    [3.4028234663852886e38, Infinity], // rounds up past the largest bf16
    [-Infinity, -Infinity],
  ];
  const input = new Float32Array(cases.map(([x]) => x));
  const file = tmpFile('bf16.safetensors');
  await writeSafetensors(file, [{ name: 'b', dtype: 'BF16', shape: [input.length], data: encodeFloat32(input, 'BF16') }]);
  const read = await readTensorAsFloat32((await readSafetensorsHeader(file)).tensors[0]);
  cases.forEach(([x, expected], i) => assert.ok(Object.is(read[i], expected), `bf16(${x}) = ${read[i]}, expected ${expected}`));
  assert.ok(Number.isNaN(decodeToFloat32(encodeFloat32(new Float32Array([NaN]), 'BF16'), 'BF16')[0]));
});

test('every non-NaN half and bfloat16 value decodes and re-encodes to the same bits', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const bytes = new Uint8Array(all.buffer);
  const halves = decodeToFloat32(bytes, 'F16');
  const bfloats = decodeToFloat32(bytes, 'BF16');
  for (let h = 0; h < 65536; h++) {
    if (!Number.isNaN(halves[h])) assert.equal(float32ToFloat16Bits(halves[h]), h, `half 0x${h.toString(16)}`);
    if (!Number.isNaN(bfloats[h])) assert.equal(float32ToBfloat16Bits(bfloats[h]), h, `bfloat16 0x${h.toString(16)}`);
  }
  assert.equal(halves[0x3c00], 1);
  assert.equal(halves[0x7bff], 65504);
  assert.equal(halves[0x0001], 2 ** -24);
  assert.ok(Object.is(halves[0x8000], -0));
  assert.equal(bfloats[0x3f80], 1);
});

test('integer, F64 and BOOL tensors convert to float32', async () => {
  const file = tmpFile('ints.safetensors');
  const tensors: SafetensorsTensorToWrite[] = [
    { name: 'f64', dtype: 'F64', shape: [3], data: new Uint8Array(new Float64Array([0.1, -2.5, 1e300]).buffer) },
    { name: 'i64', dtype: 'I64', shape: [3], data: new Uint8Array(new BigInt64Array([-5n, 2n ** 40n, 7n]).buffer) },
    { name: 'i32', dtype: 'I32', shape: [2], data: new Uint8Array(new Int32Array([-7, 123456]).buffer) },
    { name: 'i16', dtype: 'I16', shape: [2], data: new Uint8Array(new Int16Array([-32768, 5]).buffer) },
    { name: 'i8', dtype: 'I8', shape: [2], data: new Uint8Array(new Int8Array([-128, 127]).buffer) },
    { name: 'u8', dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) },
    { name: 'bool', dtype: 'BOOL', shape: [3], data: new Uint8Array([0, 1, 2]) },
  ];
  await writeSafetensors(file, tensors);
  const header = await readSafetensorsHeader(file);
  const read = async (name: string) => Array.from(await readTensorAsFloat32(header.tensors.find((t) => t.name === name)!));
  assert.deepEqual(await read('f64'), [Math.fround(0.1), -2.5, Infinity]);
  assert.deepEqual(await read('i64'), [-5, 2 ** 40, 7]);
  assert.deepEqual(await read('i32'), [-7, 123456]);
  assert.deepEqual(await read('i16'), [-32768, 5]);
  assert.deepEqual(await read('i8'), [-128, 127]);
  assert.deepEqual(await read('u8'), [0, 255]);
  assert.deepEqual(await read('bool'), [0, 1, 1]);
});

test('the writer pads the header to 8 bytes with spaces, keeps insertion order and the metadata', async () => {
  const file = tmpFile('layout.safetensors');
  const tensors: SafetensorsTensorToWrite[] = [
    { name: 'z.last-name-first', dtype: 'F16', shape: [3], data: new Uint8Array(6) },
    { name: 'a.second', dtype: 'F32', shape: [2, 1], data: new Uint8Array(8) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
    { name: 'm.third', dtype: 'BF16', shape: [1], data: new Uint8Array(2) },
  ];
  await writeSafetensors(file, tensors, { format: 'pt', note: 'ünïcode' });
  const header = await readSafetensorsHeader(file);
  assert.equal(header.dataStart % 8, 0);
  assert.equal(header.dataStart, 8 + header.headerLength);
  assert.deepEqual(header.metadata, { format: 'pt', note: 'ünïcode' });
  assert.deepEqual(
    header.tensors.map((t) => [t.name, t.offset - header.dataStart, t.byteLength]),
    [
      ['z.last-name-first', 0, 6],
      ['a.second', 6, 8],
      ['empty', 14, 0],
      ['m.third', 14, 2],
    ],
  );
  assert.equal(header.fileSize, header.dataStart + 16);
  assert.equal(header.tensors[0].file, path.resolve(file));
  const raw = await fsp.readFile(file);
  const text = raw.subarray(8, header.dataStart).toString('utf8');
  assert.match(text, /^\{.*\} *$/);
  // no temporary files left next to it
  assert.deepEqual((await fsp.readdir(path.dirname(file))).filter((f) => f.endsWith('.tmp')), []);
});

test('the writer refuses data that does not fit the shape, and leaves nothing behind', async () => {
  const dir = await fsp.mkdtemp(path.join(tmpRoot, 'writer-'));
  const file = path.join(dir, 'bad.safetensors');
  await expectError(
    writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Uint8Array(12) }]),
    'usage',
    /12 data bytes do not match shape \[2, 2\] of F32 \(16 bytes\)/,
  );
  await expectError(
    writeSafetensors(file, [
      { name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
      { name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
    ]),
    'usage',
    /named twice/,
  );
  assert.deepEqual(await fsp.readdir(dir), []);
});

test('the writer replaces an existing file atomically', async () => {
  const file = tmpFile('replace.safetensors');
  await writeSafetensors(file, [{ name: 'old', dtype: 'U8', shape: [1], data: new Uint8Array([1]) }]);
  await writeSafetensors(file, [{ name: 'new', dtype: 'U8', shape: [2], data: new Uint8Array([2, 3]) }]);
  const header = await readSafetensorsHeader(file);
  assert.deepEqual(header.tensors.map((t) => t.name), ['new']);
  assert.deepEqual(Array.from(await readTensorAsFloat32(header.tensors[0])), [2, 3]);
});

test('"__proto__" in the metadata stays plain data', async () => {
  const file = tmpFile('proto.safetensors');
  await fsp.writeFile(file, rawSafetensorsBytes('{"__metadata__":{"__proto__":"x","format":"pt"}}'));
  const { metadata } = await readSafetensorsHeader(file);
  assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value, 'x');
  assert.equal(metadata.format, 'pt');
});

// ---------------------------------------------------------------------------------------------------------------
// Row ranges

test('readTensorRows reads only the asked rows of a 2-D tensor', async () => {
  const rows = 7;
  const cols = 5;
  const values = new Float32Array(rows * cols).map((_, i) => i * 0.25 - 3);
  const file = tmpFile('rows.safetensors');
  await writeSafetensors(file, [
    { name: 'pad', dtype: 'U8', shape: [3], data: new Uint8Array(3) },
    { name: 'emb32', dtype: 'F32', shape: [rows, cols], data: encodeFloat32(values, 'F32') },
    { name: 'emb16', dtype: 'BF16', shape: [rows, cols], data: encodeFloat32(values, 'BF16') },
    { name: 'vector', dtype: 'F32', shape: [4], data: new Uint8Array(16) },
  ]);
  const header = await readSafetensorsHeader(file);
  const byName = (name: string) => header.tensors.find((t) => t.name === name)!;

  const counter = countingOpener();
  const middle = await readTensorRows(byName('emb32'), 2, 3, counter.open);
  assert.deepEqual(Array.from(middle), Array.from(values.subarray(2 * cols, 5 * cols)));
  assert.equal(counter.bytesRead(), 3 * cols * 4);

  const last = await readTensorRows(byName('emb16'), rows - 1, 1);
  assert.deepEqual(Array.from(last), Array.from(values.subarray((rows - 1) * cols))); // quarter steps are exact in bf16
  assert.equal((await readTensorRows(byName('emb32'), 4, 0)).length, 0);

  await expectError(readTensorRows(byName('emb32'), 5, 3), 'usage', /rows 5\.\.8 are outside tensor "emb32", which has 7 rows/);
  await expectError(readTensorRows(byName('emb32'), -1, 1), 'usage', /outside tensor "emb32"/);
  await expectError(readTensorRows(byName('vector'), 0, 1), 'usage', /shape \[4\]; row reads need a 2-D tensor/);
});

// ---------------------------------------------------------------------------------------------------------------
// Sharded checkpoints

test('readSafetensorsIndex merges the shards and reads each header once', async () => {
  const dir = await fsp.mkdtemp(path.join(tmpRoot, 'sharded-'));
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  await writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [
    { name: 'embed.weight', dtype: 'F32', shape: [3, 2], data: encodeFloat32(a, 'F32') },
    { name: 'unmapped.weight', dtype: 'F32', shape: [1], data: new Uint8Array(4) },
  ]);
  await writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [
    { name: 'norm.weight', dtype: 'F16', shape: [2], data: encodeFloat32(new Float32Array([0.5, -2]), 'F16') },
    { name: 'head.weight', dtype: 'BF16', shape: [3, 2], data: encodeFloat32(a, 'BF16') },
  ]);
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  await fsp.writeFile(
    indexFile,
    JSON.stringify({
      metadata: { total_size: 40 },
      weight_map: {
        'head.weight': 'model-00002-of-00002.safetensors',
        'embed.weight': 'model-00001-of-00002.safetensors',
        'norm.weight': 'model-00002-of-00002.safetensors',
      },
    }),
  );
  const counter = countingOpener();
  const index = await readSafetensorsIndex(indexFile, counter.open);
  assert.equal(index.file, indexFile);
  assert.deepEqual(index.metadata, { total_size: 40 });
  assert.deepEqual(index.shards, [path.join(dir, 'model-00002-of-00002.safetensors'), path.join(dir, 'model-00001-of-00002.safetensors')]);
  assert.deepEqual(index.tensors.map((t) => `${path.basename(t.file)}:${t.name}`), [
    'model-00002-of-00002.safetensors:norm.weight',
    'model-00002-of-00002.safetensors:head.weight',
    'model-00001-of-00002.safetensors:embed.weight',
  ]);
  assert.equal(counter.reads(), 1 + 2 * 2, 'index once, then length + header per shard');

  const byName = (name: string) => index.tensors.find((t) => t.name === name)!;
  assert.deepEqual(Array.from(await readTensorAsFloat32(byName('embed.weight'))), Array.from(a));
  assert.deepEqual(Array.from(await readTensorAsFloat32(byName('head.weight'))), Array.from(a));
  assert.deepEqual(Array.from(await readTensorAsFloat32(byName('norm.weight'))), [0.5, -2]);
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile files

let hostile: HostileFiles;
before(async () => {
  hostile = await buildHostileSafetensors(path.join(tmpRoot, 'hostile'));
});

const headerCases: [HostileCase, ModelLensErrorCode, RegExp][] = [
  ['tooShort', 'bad-input', /the file is 5 bytes, shorter than the 8-byte header length/],
  ['truncated', 'bad-input', /tensor "b": data_offsets \[16, 32\] run past the end of the data section \(22 bytes\)/],
  ['headerLongerThanFile', 'bad-input', /header length 9999999999 exceeds the file size 1234/],
  ['headerOverLimit', 'bad-input', /header length 200000000 is over the 100 MB limit/],
  ['nonUtf8Header', 'bad-input', /the header is not valid UTF-8/],
  ['badJson', 'bad-input', /the header is not valid JSON/],
  ['jsonArray', 'bad-input', /the header is an array, not a JSON object/],
  ['badMetadata', 'bad-input', /"__metadata__" entry "layers" is a number, not a string/],
  ['unknownDtype', 'unsupported', /tensor "w" has dtype "X99", which Model Lens does not know/],
  ['shapeOverflow', 'bad-input', /tensor "w": shape \[1099511627776, 1099511627776\] has 1208925819614629174706176 elements, too many/],
  ['negativeDim', 'bad-input', /tensor "w": shape \[-1, 4\] has a dimension -1 that is not a non-negative integer/],
  ['offsetsMismatch', 'bad-input', /tensor "w": data_offsets \[0, 12\] hold 12 bytes but shape \[2, 2\] of F32 needs 16/],
  ['offsetsOutOfRange', 'bad-input', /tensor "w": data_offsets \[1000, 1016\] run past the end of the data section \(16 bytes\)/],
  ['overlap', 'bad-input', /tensors "a" \[0, 16\] and "b" \[8, 24\] overlap/],
];

for (const [name, code, fragment] of headerCases) {
  test(`hostile file "${name}" is refused with a specific message`, async () => {
    const counter = countingOpener();
    await expectError(readSafetensorsHeader(hostile[name], counter.open), code, fragment, hostile[name]);
    assert.ok(counter.bytesRead() <= 8 + 1024, `read ${counter.bytesRead()} bytes before refusing`);
  });
}

test('the hostile header-over-limit file really is big enough to hold its header', async () => {
  const size = (await fsp.stat(hostile.headerOverLimit)).size;
  assert.ok(size > 8 + MAX_HEADER_BYTES);
});

test('an F8 tensor has a valid header but is refused when read', async () => {
  const header = await readSafetensorsHeader(hostile.f8Dtype);
  assert.equal(header.tensors[0].dtype, 'F8_E4M3');
  await expectError(readTensorAsFloat32(header.tensors[0]), 'unsupported', /tensor "w" is stored as F8_E4M3, which Model Lens cannot convert to float32/);
  await expectError(readTensorRows(header.tensors[0], 0, 1), 'unsupported', /F8_E4M3/);
});

test('a file truncated after its header was read fails the tensor read with a clear message', async () => {
  const file = tmpFile('shrinks.safetensors');
  await writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [8], data: new Uint8Array(32) }]);
  const header = await readSafetensorsHeader(file);
  await fsp.truncate(file, header.dataStart + 10);
  await expectError(readTensorAsFloat32(header.tensors[0]), 'bad-input', /tensor "w" needs bytes up to \d+ but the file has only \d+/);
});

test('a TensorInfo that lies about its size is refused before reading', async () => {
  const file = tmpFile('lie.safetensors');
  await writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [2], data: new Uint8Array(8) }]);
  const [info] = (await readSafetensorsHeader(file)).tensors;
  await expectError(readTensorAsFloat32({ ...info, shape: [1000] }), 'bad-input', /byte length 8 does not match shape \[1000\] of F32/);
  await expectError(readTensorAsFloat32({ ...info, dtype: 'Q8_0' }), 'unsupported', /dtype "Q8_0"/);
});

test('sharded index: path traversal is refused', async () => {
  await expectError(
    readSafetensorsIndex(hostile.shardTraversal),
    'bad-input',
    /shard "\.\.\/x\.safetensors" for tensor "a\.weight" is not a plain file name .*path traversal refused/,
    hostile.shardTraversal,
  );
});

test('sharded index: a missing shard is named', async () => {
  await expectError(
    readSafetensorsIndex(hostile.shardMissing),
    'not-found',
    /shard "model-00002-of-00002\.safetensors" named in weight_map \(for 1 tensors\) does not exist/,
    hostile.shardMissing,
  );
});

test('sharded index: a tensor missing from its shard is named', async () => {
  await expectError(
    readSafetensorsIndex(hostile.shardTensorMissing),
    'bad-input',
    /tensor "c\.weight" is mapped to shard "model-00002-of-00002\.safetensors" but that shard has no such tensor/,
    hostile.shardTensorMissing,
  );
});

test('a missing file and a folder give user-facing errors', async () => {
  await expectError(readSafetensorsHeader(path.join(tmpRoot, 'nope.safetensors')), 'not-found', /does not exist/);
  await expectError(readSafetensorsHeader(tmpRoot), 'bad-input', /folder, not a safetensors file/);
});

// ---------------------------------------------------------------------------------------------------------------
// Big sparse file

test('the header of a 2 GB (sparse) file is read without touching its data', async () => {
  const bigRows = 32768;
  const bigCols = 16384; // 2^29 F32 = 2 GiB
  const bigBytes = bigRows * bigCols * 4;
  const header = JSON.stringify({
    __metadata__: { format: 'pt' },
    big: { dtype: 'F32', shape: [bigRows, bigCols], data_offsets: [0, bigBytes] },
    tail: { dtype: 'F32', shape: [4], data_offsets: [bigBytes, bigBytes + 16] },
  });
  const file = tmpFile('sparse-2gb.safetensors');
  await fsp.writeFile(file, rawSafetensorsBytes(header));
  const dataStart = 8 + Buffer.byteLength(header);
  const handle = await fsp.open(file, 'r+');
  try {
    await handle.truncate(dataStart + bigBytes + 16);
    await handle.write(new Uint8Array(new Float32Array([1, -2, 3.5, 0]).buffer), 0, 16, dataStart + bigBytes);
  } finally {
    await handle.close();
  }

  const counter = countingOpener();
  const rssBefore = process.memoryUsage().rss;
  const parsed = await readSafetensorsHeader(file, counter.open);
  assert.equal(counter.bytesRead(), dataStart, 'only the length and the header are read');
  assert.equal(parsed.fileSize, dataStart + bigBytes + 16);
  const big = parsed.tensors.find((t) => t.name === 'big')!;
  assert.deepEqual(big.shape, [bigRows, bigCols]);
  assert.equal(big.offset, dataStart);
  assert.equal(big.byteLength, bigBytes);
  assert.equal(parsed.tensors.find((t) => t.name === 'tail')!.offset, dataStart + bigBytes);
  assert.ok(process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024, 'no allocation of the data');

  // Rows from the end of the big tensor, and the small tensor after it, read just their bytes.
  const rowCounter = countingOpener();
  const lastRow = await readTensorRows(big, bigRows - 1, 1, rowCounter.open);
  assert.equal(lastRow.length, bigCols);
  assert.ok(lastRow.every((v) => v === 0));
  assert.equal(rowCounter.bytesRead(), bigCols * 4);
  const tail = await readTensorAsFloat32(parsed.tensors.find((t) => t.name === 'tail')!);
  assert.deepEqual(Array.from(tail), [1, -2, 3.5, 0]);
});
