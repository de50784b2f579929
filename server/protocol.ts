/**
 * Every custom message between the extension, the server, the CLI and the tests. Both sides import this file, so a
 * request's parameter and result types cannot drift apart (as ESLint's customMessages.ts and rust-analyzer's
 * lsp_ext.ts do). Only `vscode-jsonrpc` types are imported here, so the extension host stays light.
 */
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { TokenizerFacts, TokenSpan } from './tokenization/tokenizer';
import type { ModelFormat } from './registry/types';

import type { NeighbourhoodResult } from './features/neighbours/neighbours';
import type { ProjectionResult } from './features/neighbours/projection';
import type { CompareResult } from './features/neighbours/compareModels';
import type {
  PermutationProbeOptions,
  PermutationProbeResult,
  PermutationTheoryOptions,
  PermutationTheoryResult,
  ReproductionResult,
} from './features/probes/permutationProbe';
import type { CopyProbeOptions, CopyProbeResult } from './features/probes/copyProbe';
import type { TransplantOptions } from './features/transplant/transplant';
import type { TransplantProgress, TransplantReport } from './features/transplant/report';
import type {
  ExplainOptions,
  ExportResult,
  ManualSenseEdit,
  PredictionExplanation,
  SenseEditAction,
  SenseEditState,
  SenseSearchOptions,
  SenseSearchResult,
  WordSenses,
} from './features/backpack';
import type { NextTokenPrediction } from './features/predict';
import type { FinetuneInputFiles, SenseFinetuneOptions, SenseFinetuneReport } from './features/backpack/senseFinetune';

export type { TokenizerFacts, TokenSpan } from './tokenization/tokenizer';
export type { NeighbourhoodResult, Neighbour, NeighbourEdge, QueryKind } from './features/neighbours/neighbours';
export type { ProjectionResult, ProjectionMethod, ProjectionSource } from './features/neighbours/projection';
export type { CompareResult } from './features/neighbours/compareModels';

// ---- shapes -------------------------------------------------------------------------------------------------------

export interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
}

export interface ModelSummary {
  /** The absolute path that was opened; also the id. */
  id: string;
  name: string;
  path: string;
  format: ModelFormat;
  /** The files read to open it. */
  files: string[];
  tokenizer?: TokenizerFacts;
  embeddings: { input?: TensorSummary; output?: TensorSummary; tied: boolean };
  tensorCount: number;
  /** True when this model's tokenizer is one of the active tokenizers. */
  active: boolean;
  /** A Backpack language model (senses can be shown and edited). */
  backpack?: boolean;
}

export interface ModelDetails extends ModelSummary {
  tensors: TensorSummary[];
  config?: Record<string, unknown>;
}

export interface TokenizationResult {
  modelId: string;
  modelName: string;
  count: number;
  tokens: TokenSpan[];
}

/** Settings the extension passes to the server at start and whenever they change. */
export interface ServerSettings {
  /** Model ids (paths) whose tokenizers hovers and counts use, in order. Empty: every open tokenizer. */
  activeTokenizers: string[];
  /** Language ids where hover is switched off. */
  hoverDisabledLanguages: string[];
  /** How many pieces a hover lists before it truncates. */
  hoverMaxTokens: number;
  /** How embedding matrices are kept for neighbour search: f16 halves the memory. */
  embeddingStorage: 'f32' | 'f16';
}

/** The `data` of a ResponseError for a ModelLensError: enough for the UI to show one clear message. */
export interface UserErrorData {
  modelLensError: true;
  code: string;
  file?: string;
  hint?: string;
}

/** Any request of this protocol, for helpers that send them generically. */
export type RequestTypeOf<P, R> = RequestType<P, R, void>;

// ---- requests -----------------------------------------------------------------------------------------------------

export const openModel = new RequestType<{ path: string }, ModelSummary, void>('modelLens/openModel');
export const closeModel = new RequestType<{ id: string }, void, void>('modelLens/closeModel');
export const listModels = new RequestType0<ModelSummary[], void>('modelLens/listModels');
export const inspectModel = new RequestType<{ id: string }, ModelDetails, void>('modelLens/inspectModel');

export const tokenize = new RequestType<
  { text: string; modelId?: string; addSpecialTokens?: boolean },
  TokenizationResult,
  void
>('modelLens/tokenize');

/** Tokenizes with every active tokenizer (or the given ones), for side-by-side comparison. */
export const compareTokenizers = new RequestType<{ text: string; modelIds?: string[] }, TokenizationResult[], void>(
  'modelLens/compareTokenizers',
);

/** A count only, for the status bar; cheap on large documents. */
export const countTokens = new RequestType<{ text: string }, { count: number; modelName: string } | null, void>(
  'modelLens/countTokens',
);

// ---- embedding neighbourhoods ---------------------------------------------------------------------------------

export type Metric = 'cosine' | 'dot' | 'euclidean';
export type Space = 'input' | 'output';

export interface NeighbourControls {
  k: number;
  metric: Metric;
  space: Space;
}

/** Neighbours of a token (by its string), an id, or a text (the mean of its tokens). Long loads report progress. */
export const neighbours = new RequestType<
  NeighbourControls & { modelId: string; query: { kind: 'token' | 'id' | 'text'; value: string } },
  NeighbourhoodResult,
  void
>('modelLens/neighbours');

/** a − b + c, with the inputs left out of the results. */
export const analogy = new RequestType<NeighbourControls & { modelId: string; a: string; b: string; c: string }, NeighbourhoodResult, void>(
  'modelLens/analogy',
);

export const project = new RequestType<
  { modelId: string; method: 'pca' | 'umap'; source: 'neighbourhood' | 'selection' | 'sample'; ids?: number[]; sample?: number; space?: Space },
  ProjectionResult,
  void
>('modelLens/project');

export const compareModels = new RequestType<NeighbourControls & { leftId: string; rightId: string; token: string; sample?: number }, CompareResult, void>(
  'modelLens/compareModels',
);

// ---- permutation-learning probes ------------------------------------------------------------------------------

/** The closed-form theory: instant. */
export const permutationTheory = new RequestType<{ k: number; options?: PermutationTheoryOptions }, PermutationTheoryResult, void>(
  'modelLens/permutationTheory',
);
/** Trains and evaluates an ensemble in a worker, with progress and cancellation. */
export const permutationProbe = new RequestType<PermutationProbeOptions, PermutationProbeResult, void>('modelLens/permutationProbe');
/** Experiment 1 of the paper, at a width this machine affords. */
export const permutationReproduction = new RequestType<{ width?: number }, ReproductionResult, void>('modelLens/permutationReproduction');
/** The copy/permute probe on an open causal language model. */
export const copyProbe = new RequestType<{ modelId: string; options?: CopyProbeOptions }, CopyProbeResult, void>('modelLens/copyProbe');

export type { PermutationProbeOptions, PermutationProbeResult, PermutationTheoryResult, ReproductionResult, CopyProbeResult };

// ---- tokenizer transplantation --------------------------------------------------------------------------------

/** Gives the base model the donor's tokenizer and writes a new checkpoint (or only the self-check). */
export const transplant = new RequestType<TransplantOptions, TransplantReport, void>('modelLens/transplant');
/** Server → client while a transplant runs, for the report panel's progress view. */
export const transplantProgress = new NotificationType<TransplantProgress>('modelLens/transplantProgress');

export type { TransplantOptions, TransplantProgress, TransplantReport };

// ---- Backpack sense vectors and next-token prediction ----------------------------------------------------------

export const predict = new RequestType<{ modelId: string; text: string; top?: number }, NextTokenPrediction, void>('modelLens/predict');
/** A word's senses; `tokenId`, when given, names the token exactly (words that do not decode back to one token). */
export const senses = new RequestType<{ modelId: string; word: string; tokenId?: number; top?: number }, WordSenses, void>('modelLens/senses');
export const explainPrediction = new RequestType<{ modelId: string } & ExplainOptions, PredictionExplanation, void>('modelLens/explainPrediction');
export const searchSenses = new RequestType<{ modelId: string } & SenseSearchOptions, SenseSearchResult, void>('modelLens/searchSenses');
export const senseEditState = new RequestType<{ modelId: string }, SenseEditState, void>('modelLens/senseEditState');
export const editSenses = new RequestType<{ modelId: string; edit: ManualSenseEdit }, SenseEditState, void>('modelLens/editSenses');
export const changeSenseEdits = new RequestType<{ modelId: string; action: SenseEditAction }, SenseEditState, void>('modelLens/changeSenseEdits');
export const exportBackpack = new RequestType<{ modelId: string; outDir: string }, ExportResult, void>('modelLens/exportBackpack');

/** Settings of a sense-finetuning run; the examples and texts come from `files`. */
export type SenseFinetuneSettingsParams = Omit<SenseFinetuneOptions, 'examples' | 'generalText' | 'evaluation'>;
/**
 * Sense finetuning from canonical examples (REFERENCES §2), with progress and cancellation: reads the files, trains
 * the selected senses, keeps the last epoch within the degradation budget and applies it as unsaved edits.
 */
export const finetuneSenses = new RequestType<{ modelId: string; files: FinetuneInputFiles; options?: SenseFinetuneSettingsParams }, SenseFinetuneReport, void>(
  'modelLens/finetuneSenses',
);

export type {
  ExplainOptions,
  ExportResult,
  FinetuneInputFiles,
  ManualSenseEdit,
  NextTokenPrediction,
  PredictionExplanation,
  SenseEditAction,
  SenseEditState,
  SenseFinetuneReport,
  SenseSearchOptions,
  SenseSearchResult,
  WordSenses,
};
export type { ScoredWord, SenseWords } from './features/backpack';

// ---- notifications ------------------------------------------------------------------------------------------------

export const updateSettings = new NotificationType<ServerSettings>('modelLens/updateSettings');
/** Server → client whenever the set of open models or the active tokenizers change. */
export const modelsChanged = new NotificationType<ModelSummary[]>('modelLens/modelsChanged');
