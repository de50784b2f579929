/**
 * Backpack sense vectors: what the server, the CLI and the copy probe call. Each entry takes an opened model, finds
 * (or builds once) its BackpackModel, and returns plain JSON results.
 */
import { ModelLensError } from '../../errors';
import type { OpenedModel } from '../../registry/types';
import type { CausalLanguageModelRunner } from '../probes/causalLanguageModel';
import { looksLikeBackpack, openBackpack, type BackpackModel } from './backpackModel';
import { applyManualEdit, type ManualSenseEdit } from './manualEdits';
import type { SenseEditRecord } from './senseEdits';
import { resolveWord, senseTopWords, type WordSenses } from './senses';

export { openBackpack, looksLikeBackpack, type BackpackModel } from './backpackModel';
export { explainPrediction, type ExplainOptions, type PredictionExplanation } from './explain';
export { exportEditedBackpack, type ExportResult } from './exportBackpack';
export { searchSenses, type SenseSearchOptions, type SenseSearchResult } from './senseSearch';
export { senseSummary, type WordSenses, type SenseWords, type ScoredWord } from './senses';
export type { ManualSenseEdit } from './manualEdits';

/** The senses of `word` (a vocabulary entry like "Ġking" or text that is one token, like " king"). */
export async function wordSenses(model: OpenedModel, word: string, top = 20): Promise<WordSenses> {
  const backpack = await openBackpack(model);
  return senseTopWords(backpack, resolveWord(backpack, word), top);
}

/** The senses of the token with this id (for words whose text does not map back to one token, like stray bytes). */
export async function tokenSenses(backpack: BackpackModel, tokenId: number, top = 20): Promise<WordSenses> {
  if (!Number.isSafeInteger(tokenId) || tokenId < 0 || tokenId >= backpack.config.vocabSize) {
    throw new ModelLensError('usage', `token id ${tokenId} is outside this Backpack's vocabulary (0…${backpack.config.vocabSize - 1}).`);
  }
  return senseTopWords(backpack, tokenId, top);
}

export interface SenseEditState {
  modelId: string;
  editable: boolean;
  enabled: boolean;
  /** Changes not yet saved to the sidecar. */
  unsaved: boolean;
  /** True when the unsaved changes were restored from an earlier session's journal. */
  restored: boolean;
  editedWords: { tokenId: number; token: string }[];
  history: SenseEditRecord[];
}

export function senseEditState(backpack: BackpackModel): SenseEditState {
  const edits = backpack.edits;
  return {
    modelId: backpack.model.id,
    editable: edits !== undefined,
    enabled: edits?.enabled ?? false,
    unsaved: edits?.dirty ?? false,
    restored: (edits?.dirty ?? false) && backpack.restoredUnsavedEdits,
    editedWords: (edits?.editedTokens() ?? []).map((tokenId) => ({ tokenId, token: backpack.tokenText(tokenId) })),
    history: edits?.history ?? [],
  };
}

export type SenseEditAction = 'enable' | 'disable' | 'save' | 'discard';

/** Toggles, saves (the sidecar beside the model) or discards (back to the saved sidecar, or none) the edits. */
export async function changeSenseEdits(model: OpenedModel, action: SenseEditAction): Promise<SenseEditState> {
  const backpack = await openBackpack(model);
  const edits = backpack.edits;
  if (edits) {
    if (action === 'enable' || action === 'disable') edits.enabled = action === 'enable';
    else if (action === 'save') {
      if (edits.size === 0) await edits.deleteSidecar(model.path);
      else await edits.save(model.path);
      edits.dirty = false;
    } else {
      edits.clear();
      await edits.load(model.path);
      edits.dirty = false;
    }
    backpack.editsChanged();
  }
  return senseEditState(backpack);
}

export async function editSenses(model: OpenedModel, edit: ManualSenseEdit): Promise<SenseEditState> {
  const backpack = await openBackpack(model);
  await applyManualEdit(backpack, edit);
  return senseEditState(backpack);
}

/** Backpacks are causal language models: the copy probe and `predict` run them through this runner. */
export const backpackRunner: CausalLanguageModelRunner = {
  description: 'Backpack language models (backpack-gpt2 safetensors folders)',
  canRun: looksLikeBackpack,
  async open(model) {
    const backpack = await openBackpack(model);
    return { tokenizer: backpack.tokenizer, nextTokenLogits: (ids) => backpack.nextTokenLogits(ids) };
  },
};
