/**
 * The hand-made edits of the Backpack paper's demos, each recorded in the edit history:
 * - scale one sense of one word (the sense vector itself, so Show Senses sees it);
 * - scale α for a word's sense at inference (the gender demo: the contribution, not the vector);
 * - the MacBook projection: rewrite every sense s of a word as s − (s·a/|a|²)·a + (s·a/|a|²)·(|a|²/|h|²)·h with
 *   a = E[from] and h = E[to], moving what the senses say about `from` onto `to`.
 */
import { unsupported } from '../../errors';
import type { BackpackModel } from './backpackModel';
import { resolveWord } from './senses';
import type { SenseEdits } from './senseEdits';

export type ManualSenseEdit =
  | { kind: 'scale-sense'; word: string; sense: number; factor: number }
  | { kind: 'scale-alpha'; word: string; sense: number; factor: number }
  | { kind: 'project'; word: string; from: string; to: string };

function editsOf(backpack: BackpackModel): SenseEdits {
  if (!backpack.edits) throw unsupported(backpack.model.path, 'is a view-only ONNX Backpack; its senses cannot be edited here.', 'Open the backpack-gpt2 safetensors folder to edit senses.');
  return backpack.edits;
}

function checkSense(backpack: BackpackModel, sense: number): void {
  if (!Number.isInteger(sense) || sense < 0 || sense >= backpack.config.senses) throw new RangeError(`sense must be 0…${backpack.config.senses - 1}, not ${sense}`);
}

/** Applies one edit and records it; returns the (token, sense) pairs it touched. */
export async function applyManualEdit(backpack: BackpackModel, edit: ManualSenseEdit): Promise<{ tokenId: number; senses: number[] }> {
  const edits = editsOf(backpack);
  const tokenId = resolveWord(backpack, edit.word);
  const token = backpack.tokenText(tokenId);
  const { hidden: d, senses: S } = backpack.config;
  let touched: number[];
  if (edit.kind === 'scale-alpha') {
    checkSense(backpack, edit.sense);
    edits.scaleContribution(tokenId, edit.sense, edit.factor);
    touched = [edit.sense];
  } else if (edit.kind === 'scale-sense') {
    checkSense(backpack, edit.sense);
    const current = (await backpack.senseVectors([tokenId])).subarray(edit.sense * d, (edit.sense + 1) * d);
    edits.addDelta(tokenId, edit.sense, current.map((v) => (edit.factor - 1) * v));
    touched = [edit.sense];
  } else {
    const from = resolveWord(backpack, edit.from);
    const to = resolveWord(backpack, edit.to);
    const a = backpack.embedding.subarray(from * d, (from + 1) * d);
    const h = backpack.embedding.subarray(to * d, (to + 1) * d);
    let aa = 0;
    let hh = 0;
    for (let k = 0; k < d; k++) {
      aa += a[k] * a[k];
      hh += h[k] * h[k];
    }
    const vectors = await backpack.senseVectors([tokenId]);
    for (let l = 0; l < S; l++) {
      const s = vectors.subarray(l * d, (l + 1) * d);
      let sa = 0;
      for (let k = 0; k < d; k++) sa += s[k] * a[k];
      const along = sa / aa;
      edits.addDelta(tokenId, l, Float32Array.from({ length: d }, (_, k) => -along * a[k] + along * (aa / hh) * h[k]));
    }
    touched = Array.from({ length: S }, (_, l) => l);
  }
  edits.record({ method: edit.kind, pairs: touched.map((sense) => ({ tokenId, token, sense })), settings: { ...edit } });
  backpack.editsChanged();
  return { tokenId, senses: touched };
}
