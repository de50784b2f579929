/**
 * Messages between the extension host and the Backpack Senses webview, typed like the server protocol. The extension
 * posts `ToSenses`; the webview posts `FromSenses`.
 *
 * The states are the server's own results (server/features/backpack/), imported as types only so the bundle pulls in
 * no server code: a word's senses (`wordSenses`), a prediction's explanation (`explainPrediction`), a sense search
 * (`searchSenses`), the edit state (`senseEditState`) and a sense-finetuning report (`finetuneSenses`).
 */
import type { EpochSummary } from '../server/features/backpack/senseFinetune';
import type { PredictionExplanation, ScoredWord, SenseEditState, SenseSearchResult, SenseWords, WordSenses } from '../server/protocol';

export type { PredictionExplanation, ScoredWord, SenseEditState, SenseSearchResult, SenseWords, WordSenses };

/** The Backpack the panel is showing. */
export interface SensesModel {
  id: string;
  name: string;
}

/** What was asked for an explanation, so the view can ask again at another position or for another target. */
export interface ExplainRequest {
  text: string;
  position?: number;
  target?: string;
}

/** One epoch of a sense-finetuning run, as the chart draws it. */
export type FinetuneEpoch = EpochSummary;

/** The part of the server's SenseFinetuneReport the panel shows. */
export interface FinetuneView {
  modelId: string;
  /** The examples file, for the title. */
  source?: string;
  budget: number;
  epochs: FinetuneEpoch[];
  chosenEpoch: number;
  canonicalLossBefore: number;
  canonicalLossAfter: number;
  generalLossBefore: number;
  generalLossChange: number;
  successRateBefore?: number;
  successRateAfter?: number;
  applied: boolean;
  pairs: { tokenId: number; token: string; sense: number; deltaNorm: number }[];
  examples: { kind: string; prefix: string; suffixes: string[]; before: number[]; after: number[]; successBefore: boolean; successAfter: boolean }[];
}

export type SensesTab = 'senses' | 'explain' | 'search' | 'finetune';

export type ToSenses =
  /** The Backpack shown; a different model clears the word history. */
  | { type: 'model'; model: SensesModel }
  /**
   * A word's senses; `sense` highlights one row (from a heat-map cell, a contribution or a search hit). `refresh`
   * marks new values for the word already shown (after finetuning changed its senses): the view updates it in place
   * and stays on its tab.
   */
  | { type: 'senses'; state: WordSenses; sense?: number; refresh?: boolean }
  | { type: 'explain'; state: PredictionExplanation; request: ExplainRequest }
  | { type: 'search'; state: SenseSearchResult }
  | { type: 'edits'; state: SenseEditState }
  | { type: 'finetune'; state: FinetuneView }
  /** Work is running; `fraction` (0…1) when known. The view shows a progress bar (and Cancel when `cancellable`). */
  | { type: 'busy'; message: string; fraction?: number; cancellable?: boolean }
  | { type: 'error'; message: string };

export type FromSenses =
  | { type: 'ready' }
  /** Sent after `ready` when the view restored a model from its saved state, so the extension can re-attach. */
  | { type: 'attach'; modelId: string }
  /** Open a word's senses (a vocabulary word clicked anywhere, back/forward, or typed). */
  | { type: 'openWord'; modelId: string; word: string; tokenId?: number; sense?: number }
  | { type: 'explain'; modelId: string; request: ExplainRequest }
  | { type: 'search'; modelId: string; query: string }
  | { type: 'changeEdits'; modelId: string; action: 'enable' | 'disable' | 'save' | 'discard' }
  /** Run Edit Senses… on this word (and sense). */
  | { type: 'editWord'; modelId: string; word: string; sense?: number }
  | { type: 'cancel' };
