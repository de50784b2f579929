/**
 * The transplant report: what `runTransplant` returns, what `transplant-report.json` holds beside the new checkpoint,
 * what `model-lens transplant --json` prints, and what the report webview and the hover read.
 */
import type { MatchCategory, MatchExample, SpecialTokenMatch } from './matchVocabularies';
import type { MatrixKind, MethodName, TokenRecipe } from './methods/types';

export const TRANSPLANT_REPORT_FILE = 'transplant-report.json';
export const TRANSPLANT_REPORT_VERSION = 1;

export type TransplantStage = 'open' | 'match' | 'self-check' | 'approximate' | 'write';

export interface TransplantProgress {
  stage: TransplantStage;
  /** Overall fraction done, 0..1. */
  fraction: number;
  /** Fraction of the current stage done, 0..1. */
  stageFraction: number;
  /** Seconds left, estimated from the overall rate so far; undefined early on. */
  etaSeconds?: number;
  /** A short line for a progress notification, e.g. "approximating 18,688 input rows with omp". */
  message: string;
}

export interface ModelSummary {
  path: string;
  name: string;
  /** Entries in the tokenizer (added tokens included). */
  tokenizerSize: number;
  maxTokenId: number;
  tokenizerStyle: string;
  /** Embedding rows and hidden size; absent for a donor without weights. */
  embeddingRows?: number;
  hiddenSize?: number;
  dtype?: string;
  tied?: boolean;
  inputTensor?: string;
  outputTensor?: string;
}

export interface OutputSummary {
  path: string;
  /** Rows of the new embedding (and head): the donor's vocabulary size. */
  rows: number;
  tied: boolean;
  sharded: boolean;
  /** File names in the output folder. */
  files: string[];
  /** Bytes of safetensors data written. */
  weightBytes: number;
}

export interface MatrixReport {
  matrix: MatrixKind;
  method: MethodName;
  /** The base tensor replaced, and the donor tensor that defined donor space (absent without donor weights). */
  baseTensor: string;
  donorTensor?: string;
  /** Rows copied from the base, made by the method, and left zero. */
  copiedRows: number;
  madeRows: number;
  zeroRows: number;
  details?: Record<string, unknown>;
}

export interface CosineHistogram {
  /** Bin edges, ascending; counts[i] counts cosines in [edges[i], edges[i+1]) (the last bin includes 1). */
  edges: number[];
  counts: number[];
}

export interface SelfCheckResult {
  method: MethodName;
  matrix: MatrixKind;
  /** Cosine between each held-out token's made row and its true base row. */
  mean: number;
  median: number;
  min: number;
  histogram: CosineHistogram;
  /** The lowest cosines, worst first. */
  worst: { id: number; token: string; cosine: number }[];
  seconds: number;
  /** Set when the method could not run (e.g. k above the anchors left after holding out). */
  error?: string;
}

export interface SelfCheckReport {
  /** Fraction of the shared tokens held out. */
  fraction: number;
  seed: number;
  heldOut: number;
  /** Anchors the held-out tokens were rebuilt from. */
  anchorsUsed: number;
  results: SelfCheckResult[];
}

export interface DigitSplit {
  style: 'single digits' | 'groups of up to 3' | 'mixed';
  examples: { text: string; pieces: string[] }[];
}

export interface DigitReport {
  base: DigitSplit;
  donor: DigitSplit;
  /** The two tokenizers split numbers differently: the paper's main risk (arithmetic, GSM8K). */
  differs: boolean;
  note: string;
}

/** How one approximated token got its rows: a hover in the output model shows this. */
export interface TokenProvenance {
  id: number;
  token: string;
  input?: TokenRecipe;
  output?: TokenRecipe;
}

export interface TransplantReport {
  version: typeof TRANSPLANT_REPORT_VERSION;
  createdAt: string;
  /** True when only the self-check ran (--compare): no checkpoint was written. */
  compareOnly: boolean;
  base: ModelSummary;
  donor: ModelSummary;
  output: OutputSummary | null;
  options: {
    method: MethodName;
    k?: number;
    matrices: MatrixKind[];
    byteTokens: boolean;
    prefixFallback: boolean;
    selfCheck: number;
    compare: MethodName[];
    normalizeAtoms: boolean;
    subwordCombine: string;
    seed: number;
    maxShardBytes: number;
  };
  matching: {
    rows: number;
    anchors: number;
    approximated: number;
    counts: Record<MatchCategory, number>;
    examples: Record<MatchCategory, MatchExample[]>;
    /** Shared tokens spelled differently: only by the Ġ/▁ word-start marker, or otherwise (Ċ vs \n, Ã© vs é). */
    unified: { wordStart: number; otherSpelling: number; examples: MatchExample[] };
    specialTokens: SpecialTokenMatch[];
  };
  matrices: MatrixReport[];
  selfCheck: SelfCheckReport | null;
  digits: DigitReport;
  timings: { stage: TransplantStage; seconds: number }[];
  totalSeconds: number;
  /** One entry per approximated token (donor id = output id). */
  provenance: TokenProvenance[];
  warnings: string[];
}

/** How the token with this id (in the output vocabulary) was made, or undefined for a copied token. Binary search. */
export function provenanceOf(report: Pick<TransplantReport, 'provenance'>, id: number): TokenProvenance | undefined {
  const list = report.provenance;
  let low = 0;
  let high = list.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const at = list[mid].id;
    if (at === id) return list[mid];
    if (at < id) low = mid + 1;
    else high = mid - 1;
  }
  return undefined;
}
