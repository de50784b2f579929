/**
 * Edits to a Backpack's sense vectors, kept apart from the weights: for each edited word, an additive delta on its
 * 16 sense vectors and a multiplicative scale on their contributions (α at the positions holding the word). The
 * graph gathers both by token id (see backpackGraph.ts), so an edit costs no rebuild and can be switched off.
 *
 * Saved as a sidecar beside the model: `sense-edits.safetensors` (tensors `token_ids` [m] I64, `delta` [m, senses, d],
 * `scale` [m, senses]) and `sense-edits.json` (which pairs, how they were made, with which hyperparameters). Both are
 * written to temporary files and renamed; the model's own files are never touched.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { badInput } from '../../errors';
import { readSafetensorsHeader, readTensorAsFloat32, writeSafetensors } from '../../loaders/safetensors';
import type { BackpackConfig } from './backpackConfig';

export const SIDECAR_TENSORS = 'sense-edits.safetensors';
export const SIDECAR_JSON = 'sense-edits.json';

export interface SenseEditRecord {
  /** 'finetune', 'scale-sense', 'scale-alpha', 'project' (MacBook-style replacement). */
  method: string;
  /** (token, sense) pairs this edit touched. */
  pairs: { tokenId: number; token: string; sense: number }[];
  /** Hyperparameters and anything else worth keeping (learning rate, epochs, budget, factors). */
  settings: Record<string, unknown>;
  createdAt: string;
}

export interface SenseEditTables {
  /** [V]: 0 for an unedited word, else its row. */
  index: BigInt64Array;
  /** [rows, senses·d], row 0 zeros. */
  delta: Float32Array;
  /** [rows, senses], row 0 ones. */
  scale: Float32Array;
  rows: number;
}

interface WordEdit {
  delta: Float32Array;
  scale: Float32Array;
}

export class SenseEdits {
  private readonly words = new Map<number, WordEdit>();
  readonly history: SenseEditRecord[] = [];
  /** When false, the model runs as if there were no edits (the toggle). */
  enabled = true;
  /** True when there are changes that are not in the sidecar on disk. */
  dirty = false;

  /** The folder whose sidecar these edits mirror (the model's own). */
  savedTo?: string;

  constructor(readonly config: BackpackConfig) {}

  /** Removes the sidecar from `folder` (the model's own files are untouched). */
  async deleteSidecar(folder: string): Promise<void> {
    await fsp.rm(path.join(folder, SIDECAR_TENSORS), { force: true });
    await fsp.rm(path.join(folder, SIDECAR_JSON), { force: true });
  }

  get size(): number {
    return this.words.size;
  }

  editedTokens(): number[] {
    return [...this.words.keys()].sort((a, b) => a - b);
  }

  private word(tokenId: number): WordEdit {
    if (!Number.isSafeInteger(tokenId) || tokenId < 0 || tokenId >= this.config.vocabSize) throw new RangeError(`token id ${tokenId} is outside the vocabulary`);
    let edit = this.words.get(tokenId);
    if (!edit) {
      edit = { delta: new Float32Array(this.config.senses * this.config.hidden), scale: new Float32Array(this.config.senses).fill(1) };
      this.words.set(tokenId, edit);
    }
    return edit;
  }

  /** Adds `delta` ([d]) to sense `sense` of `tokenId`. */
  addDelta(tokenId: number, sense: number, delta: ArrayLike<number>): void {
    const d = this.config.hidden;
    const target = this.word(tokenId).delta.subarray(sense * d, (sense + 1) * d);
    for (let k = 0; k < d; k++) target[k] += delta[k];
    this.dirty = true;
  }

  /** The delta on one sense ([d], zeros when unedited). */
  delta(tokenId: number, sense: number): Float32Array {
    const d = this.config.hidden;
    const edit = this.words.get(tokenId);
    return edit ? edit.delta.slice(sense * d, (sense + 1) * d) : new Float32Array(d);
  }

  /** Multiplies the contribution of sense `sense` of `tokenId` by `factor` (α scaling at inference). */
  scaleContribution(tokenId: number, sense: number, factor: number): void {
    this.word(tokenId).scale[sense] *= factor;
    this.dirty = true;
  }

  contributionScale(tokenId: number, sense: number): number {
    return this.words.get(tokenId)?.scale[sense] ?? 1;
  }

  record(entry: Omit<SenseEditRecord, 'createdAt'>): void {
    this.history.push({ ...entry, createdAt: new Date().toISOString() });
  }

  clear(): void {
    if (this.words.size > 0) this.dirty = true;
    this.words.clear();
    this.history.length = 0;
  }

  /** The tables the graph gathers from; with edits disabled, a single neutral row. */
  tables(): SenseEditTables {
    const { senses, hidden, vocabSize } = this.config;
    const active = this.enabled ? [...this.words.entries()] : [];
    const rows = active.length + 1;
    const index = new BigInt64Array(vocabSize);
    const delta = new Float32Array(rows * senses * hidden);
    const scale = new Float32Array(rows * senses).fill(1);
    active.forEach(([tokenId, edit], i) => {
      index[tokenId] = BigInt(i + 1);
      delta.set(edit.delta, (i + 1) * senses * hidden);
      scale.set(edit.scale, (i + 1) * senses);
    });
    return { index, delta, scale, rows };
  }

  /** Writes the sidecar into `folder` atomically (both files, or an error and neither changed). */
  async save(folder: string): Promise<string[]> {
    const tokenIds = this.editedTokens();
    const { senses, hidden } = this.config;
    const delta = new Float32Array(tokenIds.length * senses * hidden);
    const scale = new Float32Array(tokenIds.length * senses);
    tokenIds.forEach((id, i) => {
      const edit = this.words.get(id)!;
      delta.set(edit.delta, i * senses * hidden);
      scale.set(edit.scale, i * senses);
    });
    const ids = BigInt64Array.from(tokenIds.map((id) => BigInt(id)));
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    await writeSafetensors(
      path.join(folder, SIDECAR_TENSORS),
      [
        { name: 'token_ids', dtype: 'I64', shape: [tokenIds.length], data: bytes(ids) },
        { name: 'delta', dtype: 'F32', shape: [tokenIds.length, senses, hidden], data: bytes(delta) },
        { name: 'scale', dtype: 'F32', shape: [tokenIds.length, senses], data: bytes(scale) },
      ],
      { format: 'model-lens-sense-edits' },
    );
    const json = { format: 'model-lens-sense-edits', version: 1, senses, hidden, vocabSize: this.config.vocabSize, editedTokens: tokenIds.length, history: this.history };
    const jsonFile = path.join(folder, SIDECAR_JSON);
    const temp = `${jsonFile}.${process.pid}.tmp`;
    await fsp.writeFile(temp, `${JSON.stringify(json, null, 2)}\n`);
    await fsp.rename(temp, jsonFile);
    if (path.resolve(folder) === path.resolve(this.savedTo ?? folder)) this.dirty = false;
    return [SIDECAR_TENSORS, SIDECAR_JSON];
  }

  /** Reads a sidecar from `folder` if there is one; false when there is none. Mismatches are clear errors. */
  async load(folder: string): Promise<boolean> {
    const file = path.join(folder, SIDECAR_TENSORS);
    try {
      await fsp.access(file);
    } catch {
      return false;
    }
    const header = await readSafetensorsHeader(file);
    const byName = new Map(header.tensors.map((t) => [t.name, t]));
    const { senses, hidden, vocabSize } = this.config;
    const ids = byName.get('token_ids');
    const delta = byName.get('delta');
    const scale = byName.get('scale');
    const m = ids?.shape[0] ?? -1;
    if (!ids || !delta || !scale || ids.dtype !== 'I64' || delta.shape.join() !== `${m},${senses},${hidden}` || scale.shape.join() !== `${m},${senses}`) {
      throw badInput(file, `is not a sense-edit sidecar for this model (expects token_ids [m] I64, delta [m, ${senses}, ${hidden}], scale [m, ${senses}]).`, 'Move it away, or reopen the model it was saved for.');
    }
    const idValues = await readTensorAsFloat32(ids);
    const deltaValues = await readTensorAsFloat32(delta);
    const scaleValues = await readTensorAsFloat32(scale);
    this.words.clear();
    idValues.forEach((value, i) => {
      if (!Number.isInteger(value) || value < 0 || value >= vocabSize) throw badInput(file, `token id ${value} is outside the vocabulary (${vocabSize}).`, 'The sidecar belongs to another model.');
      this.words.set(value, { delta: deltaValues.slice(i * senses * hidden, (i + 1) * senses * hidden), scale: scaleValues.slice(i * senses, (i + 1) * senses) });
    });
    this.history.length = 0;
    this.dirty = false;
    try {
      const json = JSON.parse(await fsp.readFile(path.join(folder, SIDECAR_JSON), 'utf8')) as { history?: SenseEditRecord[] };
      if (Array.isArray(json.history)) this.history.push(...json.history);
    } catch {
      // The tensors are what matters; a missing or broken description only loses the history.
    }
    return true;
  }
}
