/**
 * Export Edited Model: a new folder whose outputs include the sense edits, written to a temporary folder and renamed
 * into place (never over an existing folder, never into an input). It holds:
 * - `model.onnx` + `model.onnx.data`: the Backpack graph with every weight, and the edits, as external initializers.
 *   It runs in any ONNX Runtime with `input_ids` alone and returns `logits`, `senses` and `contextualization`.
 *   The edits are an additive table: `sense_edit_index` [V] gives each word's row in `sense_edit_delta`
 *   [rows, senses·d] (added to the sense network's output) and `sense_edit_scale` [rows, senses] (multiplying the
 *   sense's contribution); row 0 is the identity. Edited senses are not a function of the sense network any more,
 *   so they cannot be folded into its weights: the table is the honest representation.
 * - the original safetensors (byte-identical), config.json and tokenizer files, and the `sense-edits.*` sidecar, so
 *   Model Lens reopens the folder with the edits applied (and can switch them off).
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelLensError } from '../../errors';
import type { BackpackModel } from './backpackModel';
import { buildBackpackGraph, EDIT_DELTA, EDIT_INDEX, EDIT_SCALE } from './backpackGraph';
import { backpackTensorSpecs } from './backpackWeights';

export interface ExportResult {
  folder: string;
  files: string[];
  editedWords: number;
}

export interface ExportControl {
  signal?: AbortSignal;
  onProgress?: (message: string, fraction?: number) => void;
}

async function exists(file: string): Promise<boolean> {
  return fsp.access(file).then(
    () => true,
    () => false,
  );
}

export async function exportEditedBackpack(backpack: BackpackModel, outDir: string, control: ExportControl = {}): Promise<ExportResult> {
  const weights = backpack.weights;
  const edits = backpack.edits;
  if (!weights || !edits) {
    throw new ModelLensError('unsupported', 'is a view-only ONNX Backpack; export needs the backpack-gpt2 safetensors folder.', backpack.model.path);
  }
  const target = path.resolve(outDir);
  const source = path.resolve(backpack.model.path);
  if (target === source || target.startsWith(source + path.sep) || source.startsWith(target + path.sep)) {
    throw new ModelLensError('usage', 'the export folder must be outside the model folder (inputs are never overwritten).', target, 'Choose a new folder next to it.');
  }
  if (await exists(target)) throw new ModelLensError('usage', 'already exists; the export never overwrites a folder.', target, 'Choose a new folder name.');
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const temp = await fsp.mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}.exporting-`));
  let done = false;
  try {
    const files: string[] = [];
    // The model's own files, unchanged.
    for (const file of backpack.model.files) {
      if (path.dirname(path.resolve(file)) !== source) continue;
      await fsp.copyFile(file, path.join(temp, path.basename(file)), fsConstants.COPYFILE_FICLONE);
      files.push(path.basename(file));
    }
    for (const name of ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) {
      if (!files.includes(name) && (await exists(path.join(source, name)))) {
        await fsp.copyFile(path.join(source, name), path.join(temp, name));
        files.push(name);
      }
    }
    files.push(...(await edits.save(temp)));
    control.onProgress?.('writing the ONNX weights', 0.2);

    // External data: each weight's float32 bytes, then the edit tables, 64-byte aligned.
    const tables = edits.tables();
    const blobs: [string, ArrayBufferView][] = [
      ...backpackTensorSpecs(backpack.config).map((spec) => [spec.name, weights.tensors.get(spec.name)!] as [string, ArrayBufferView]),
      [EDIT_INDEX, tables.index],
      [EDIT_DELTA, tables.delta],
      [EDIT_SCALE, tables.scale],
    ];
    const ranges = new Map<string, { offset: number; length: number }>();
    const dataName = 'model.onnx.data';
    const handle = await fsp.open(path.join(temp, dataName), 'wx');
    try {
      let offset = 0;
      for (let i = 0; i < blobs.length; i++) {
        if (control.signal?.aborted) throw new ModelLensError('cancelled', 'Export was cancelled.');
        const [name, view] = blobs[i];
        const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        offset = Math.ceil(offset / 64) * 64;
        let written = 0;
        while (written < bytes.byteLength) written += (await handle.write(bytes, written, Math.min(bytes.byteLength - written, 1 << 26), offset + written)).bytesWritten;
        ranges.set(name, { offset, length: bytes.byteLength });
        offset += bytes.byteLength;
        control.onProgress?.('writing the ONNX weights', 0.2 + (0.7 * (i + 1)) / blobs.length);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.writeFile(path.join(temp, 'model.onnx'), buildBackpackGraph(backpack.config, { kind: 'external', location: dataName, ranges, editRows: tables.rows }));
    files.push('model.onnx', dataName);
    await fsp.chmod(temp, 0o755);
    if (await exists(target)) throw new ModelLensError('usage', 'appeared while exporting; the export never overwrites a folder.', target, 'Choose a new folder name.');
    await fsp.rename(temp, target);
    done = true;
    control.onProgress?.('done', 1);
    return { folder: target, files: files.sort(), editedWords: edits.size };
  } finally {
    if (!done) await fsp.rm(temp, { recursive: true, force: true });
  }
}
