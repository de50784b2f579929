/**
 * Writes a checkpoint's tensors as safetensors into a folder: one `model.safetensors`, or shards
 * `model-0000i-of-0000n.safetensors` with a `model.safetensors.index.json` once the data passes `maxShardBytes`.
 * Tensors copied from the base are streamed byte for byte from their source file (never decoded, never all in
 * memory); replaced tensors are written from memory. Progress per chunk, and an AbortSignal checked between chunks.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelLensError } from '../../errors';

export interface TensorToWrite {
  name: string;
  dtype: string;
  shape: number[];
  byteLength: number;
  /** The bytes: in memory, or a range of a file to copy. */
  source: { data: Uint8Array } | { file: string; offset: number };
}

export interface WrittenWeights {
  files: string[];
  sharded: boolean;
  weightBytes: number;
}

export interface ShardWriteOptions {
  /** Start a new shard before a tensor that would take a shard past this many bytes (default 5 GiB). */
  maxShardBytes?: number;
  /** The `__metadata__` of every shard (e.g. { format: 'pt' }). */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export const DEFAULT_MAX_SHARD_BYTES = 5 * 1024 ** 3;
const COPY_CHUNK = 16 << 20;

/** The 8-byte length and JSON header of a safetensors file holding `tensors` in order (data 8-byte aligned). */
export function safetensorsHeaderBytes(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const entries: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const tensor of tensors) {
    entries.push(`${JSON.stringify(tensor.name)}:${JSON.stringify({ dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.byteLength] })}`);
    offset += tensor.byteLength;
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const padded = Math.ceil((8 + json.byteLength) / 8) * 8 - 8;
  const out = new Uint8Array(8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength);
  return out;
}

/** Groups tensors, in order, into shards of at most `maxShardBytes` (a bigger tensor gets a shard of its own). */
export function planShards(tensors: readonly TensorToWrite[], maxShardBytes: number): TensorToWrite[][] {
  const shards: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let size = 0;
  for (const tensor of tensors) {
    if (current.length > 0 && size + tensor.byteLength > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(tensor);
    size += tensor.byteLength;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

function writeError(file: string, error: unknown): ModelLensError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC') return new ModelLensError('usage', 'the disk is full', file, 'Free some space or choose another output folder.');
  return new ModelLensError('usage', `cannot write the output (${code ?? String(error)})`, file, 'Choose a folder you can write to.');
}

export async function writeSafetensorsShards(folder: string, tensors: readonly TensorToWrite[], options: ShardWriteOptions = {}): Promise<WrittenWeights> {
  const shards = planShards(tensors, options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
  const total = tensors.reduce((s, t) => s + t.byteLength, 0);
  const names =
    shards.length === 1
      ? ['model.safetensors']
      : shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const buffer = new Uint8Array(Math.min(COPY_CHUNK, Math.max(1, ...tensors.map((t) => ('file' in t.source ? t.byteLength : 1)))));
  const sources = new Map<string, fsp.FileHandle>();
  let done = 0;
  try {
    for (let s = 0; s < shards.length; s++) {
      const file = path.join(folder, names[s]);
      let handle: fsp.FileHandle;
      try {
        handle = await fsp.open(file, 'wx');
      } catch (error) {
        throw writeError(file, error);
      }
      try {
        let position = 0;
        const write = async (bytes: Uint8Array) => {
          let written = 0;
          while (written < bytes.byteLength) {
            const { bytesWritten } = await handle.write(bytes, written, Math.min(bytes.byteLength - written, 1 << 30), position);
            written += bytesWritten;
            position += bytesWritten;
          }
        };
        await write(safetensorsHeaderBytes(shards[s], options.metadata));
        for (const tensor of shards[s]) {
          if ('data' in tensor.source) {
            if (tensor.source.data.byteLength !== tensor.byteLength) throw new Error(`tensor ${tensor.name}: ${tensor.source.data.byteLength} bytes for ${tensor.byteLength}`);
            await write(tensor.source.data);
            done += tensor.byteLength;
            options.onProgress?.(done, total);
            continue;
          }
          const { file: from, offset } = tensor.source;
          let source = sources.get(from);
          if (!source) {
            source = await fsp.open(from, 'r');
            sources.set(from, source);
          }
          for (let at = 0; at < tensor.byteLength; ) {
            if (options.signal?.aborted) throw new ModelLensError('cancelled', 'the transplant was cancelled');
            const want = Math.min(buffer.byteLength, tensor.byteLength - at);
            const { bytesRead } = await source.read(buffer, 0, want, offset + at);
            if (bytesRead <= 0) throw new ModelLensError('bad-input', `ended early while copying tensor "${tensor.name}"`, from, 'The base checkpoint changed or is truncated.');
            await write(buffer.subarray(0, bytesRead));
            at += bytesRead;
            done += bytesRead;
            options.onProgress?.(done, total);
          }
        }
        await handle.sync();
      } catch (error) {
        if (error instanceof ModelLensError) throw error;
        throw writeError(file, error);
      } finally {
        await handle.close();
      }
      if (options.signal?.aborted) throw new ModelLensError('cancelled', 'the transplant was cancelled');
    }
  } finally {
    await Promise.all([...sources.values()].map((h) => h.close()));
  }
  const files = names.slice();
  if (shards.length > 1) {
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, s) => {
      for (const tensor of shard) Object.defineProperty(weightMap, tensor.name, { value: names[s], enumerable: true, writable: true, configurable: true });
    });
    const index = path.join(folder, 'model.safetensors.index.json');
    await fsp.writeFile(index, `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`, { flag: 'wx' }).catch((error) => {
      throw writeError(index, error);
    });
    files.push('model.safetensors.index.json');
  }
  return { files, sharded: shards.length > 1, weightBytes: total };
}
