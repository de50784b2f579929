/**
 * The interface every approximation method implements (one module per method, as in mergekit's tokensurgeon):
 * given anchor tokens (a donor row and a base row that mean the same) and target donor tokens, make a base-space row
 * for each target, and say how each was made (its recipe, which the report keeps and a hover can show).
 */
import type { TokenizerHandle } from '../../../tokenization/tokenizer';

export const METHOD_NAMES = ['omp', 'zero', 'mean', 'subword', 'knn', 'aux'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

export function isMethodName(value: string): value is MethodName {
  return (METHOD_NAMES as readonly string[]).includes(value);
}

export type MatrixKind = 'input' | 'output';

/** One embedding matrix pair: the base's (rows we combine) and the donor's (the space targets are described in). */
export interface MatrixSpace {
  matrix: MatrixKind;
  /** Base rows, [baseRows × baseDim] row-major. */
  base: Float32Array;
  baseRows: number;
  baseDim: number;
  /** Donor rows, [donorRows × donorDim]; absent when the donor has no embeddings (tokenizer-only donor). */
  donor?: Float32Array;
  donorRows: number;
  donorDim: number;
}

export interface ApproximationTask {
  space: MatrixSpace;
  /** Donor ids of the anchors and the base ids they match (parallel arrays). */
  anchorDonorIds: Int32Array;
  anchorBaseIds: Int32Array;
  /** Donor ids to make rows for. */
  targetDonorIds: Int32Array;
  /** Base ids a method must not use (the held-out tokens of the self-check). */
  excludedBaseIds?: ReadonlySet<number>;
  baseTokenizer: TokenizerHandle;
  donorTokenizer: TokenizerHandle;
  /** Keep a recipe per target (the transplant does; the self-check does not need them). */
  recipes: boolean;
  /** Most parts a recipe lists (largest weights first); default 8. */
  recipeParts?: number;
}

/** One ingredient of a made row: a token and its weight. */
export interface RecipePart {
  /** Donor id (= output id) for anchor-based methods; base id for base pieces (subword). */
  id: number;
  token: string;
  weight: number;
}

/** How one token's row was made. */
export interface TokenRecipe {
  method: MethodName;
  /** 'anchors': parts are anchor tokens (ids in the donor/output vocabulary); 'base-pieces': base tokens. */
  partsFrom?: 'anchors' | 'base-pieces';
  parts?: RecipePart[];
  /** Parts not listed (a recipe keeps the largest weights only). */
  moreParts?: number;
  /** OMP: ‖donor row − Σ c·anchor donor rows‖ / ‖donor row‖. */
  residual?: number;
  /** Why the method's usual recipe did not apply, e.g. "no word vector; subword mean instead". */
  note?: string;
}

export interface ApproximationResult {
  /** [targets × baseDim] row-major. */
  rows: Float32Array;
  /** One per target when the task asked for recipes. */
  recipes?: TokenRecipe[];
  /** Method-specific facts for the report (e.g. OMP's route and cache statistics). */
  details?: Record<string, unknown>;
}

export interface MethodControl {
  signal?: AbortSignal;
  /** Fraction of this call's work done, 0..1. */
  onProgress?: (fraction: number) => void;
}

export interface TransplantMethod {
  readonly name: MethodName;
  /** One line for the report and the wizard. */
  readonly description: string;
  /** Whether it reads the donor's embedding rows (omp and knn do). */
  readonly needsDonorEmbeddings: boolean;
  approximate(task: ApproximationTask, control?: MethodControl): Promise<ApproximationResult>;
}

export type SubwordCombine = 'mean' | 'length-weighted' | 'first-last';
export type AuxWeighting = 'sparsemax' | 'softmax';

export interface MethodOptions {
  /** OMP: atoms per token (default 64). */
  k?: number;
  /** OMP: rank atoms as unit vectors (default false: raw rows, as the reference). */
  normalizeAtoms?: boolean;
  /** OMP: 'auto' | 'gram' | 'residual' (see kernels/batchOmp.ts). */
  ompRoute?: 'auto' | 'gram' | 'residual';
  /** Worker threads for OMP and kNN (default: one per core, at most 4; 0: the calling thread for OMP). */
  workers?: number;
  /** knn: neighbours (default 8). */
  knnK?: number;
  /** subword: how the base pieces' rows are combined (default 'mean'). */
  subwordCombine?: SubwordCombine;
  /** aux: a word-vector file (GloVe/word2vec/fastText text, word2vec binary or wink JSON); default the GloVe package. */
  auxVectors?: string;
  /** aux: anchors mixed per token (default 10). */
  auxK?: number;
  /** aux: 'sparsemax' (FOCUS, default) or 'softmax' with temperature 0.1 (WECHSEL/OFA). */
  auxWeighting?: AuxWeighting;
}
