/**
 * Orthogonal Matching Pursuit for many targets at once, as tokenizer transplantation needs it: approximate each
 * target row y (a donor-space embedding) as a k-sparse combination of dictionary rows (the anchors' donor rows).
 *
 * Semantics are those of the reference (mergekit tokensurgeon's OMP):
 * - atoms are the raw dictionary rows (optionally ranked by |⟨r, a⟩| / |a|, i.e. as unit atoms, with `normalizeAtoms`);
 * - each step picks the unused atom with the largest |⟨residual, atom⟩| (ties to the lower index);
 * - all coefficients are refit by least squares on the selected atoms after every step;
 * - the dictionary and targets are float32; k defaults to 64 and may not exceed the number of atoms.
 * One addition: a target stops early when its residual is negligible (‖r‖ ≤ residualTolerance·‖y‖), when the best
 * atom is numerically in the span of the selected ones, or when the residual is orthogonal to every atom, so a k
 * above the dictionary's rank (the donor hidden size) is handled gracefully.
 *
 * How it is computed (Rubinstein, Zibulevsky & Elad 2008, "Batch-OMP"), per block of targets solved in lockstep:
 * - α⁰ = Aᵀy for the whole block is one matrix product (ONNX Runtime Gemm over cache-sized blocks of A);
 * - the Gram column G[:, a] = A·a of each newly selected atom is computed once, for all the block's new atoms in one
 *   product, and kept in a Gram cache shared by every target and every worker thread (SharedArrayBuffer);
 * - the least-squares refit updates a Cholesky factor of G_II by one row per step (float64), and the next
 *   correlations are α = α⁰ − G_I γ over the target's own Gram panel, ranked in the same pass (a fused WebAssembly
 *   SIMD loop, OmpStepKernel in ompKernels.ts; ONNX Runtime MatMul + ArgMax where WebAssembly is unavailable).
 * So a step costs N·s instead of the plain algorithm's N·D, and the N·D Gram products are shared between targets.
 *
 * When the hidden size is small next to k (D < 5k) or there are few targets to share Gram columns, correlating the
 * residual directly (α = A·r, one Gemm per step for the whole block) is cheaper than computing and reading Gram
 * panels; `route: 'auto'` picks that "residual" route then. Both
 * routes give the same selections and coefficients up to floating-point ties; tests check both against a plain OMP.
 *
 * This module is the in-thread solver; `ompPool.ts` runs it in worker threads with progress and cancellation.
 */
import { ModelLensError } from '../errors';
import { choleskyAppend, dot64, extendForward, solveUpperTransposed } from './linalg';
import { OmpStepKernel, type OmpKernels, type OmpKernelSettings } from './ompKernels';

export type OmpRoute = 'gram' | 'residual';

export interface BatchOmpOptions {
  /** Atoms per target (default 64); an error when above the number of atoms. */
  k?: number;
  /** Rank atoms by |⟨r, a⟩| / |a| (unit-normalised atoms) instead of |⟨r, a⟩|. Coefficients stay for the raw atoms. */
  normalizeAtoms?: boolean;
  /** A target stops when ‖r‖ ≤ residualTolerance · ‖y‖ (default 1e-5). */
  residualTolerance?: number;
  /** An atom whose squared pivot is at most this × |a|² is in the span of the selected ones (default 1e-6). */
  pivotTolerance?: number;
  /** 'auto' (default) picks by the problem's shape; 'gram' is Batch-OMP proper; 'residual' correlates residuals. */
  route?: 'auto' | OmpRoute;
  /** Most targets solved in lockstep (default 64 for 'gram', 128 for 'residual'). */
  blockSize?: number;
  /** Bytes of per-target Gram panels one solver may hold (default 512 MiB); bounds the 'gram' block size. */
  panelBudgetBytes?: number;
  /** Bytes of the shared Gram-column cache (default: min(2 GiB, atoms² × 4)). 0 turns the cache off. */
  gramCacheBytes?: number;
  /** Worker threads for `batchOmp` in ompPool.ts (default: one per core, at most 4); 0 runs in the calling thread. */
  workers?: number;
  /** ONNX Runtime settings. */
  kernels?: Partial<OmpKernelSettings>;
  /** Give each worker its own copy of the dictionary (default: when it is at most 1 GiB); faster products. */
  privateDictionaryCopies?: boolean;
  /**
   * A Gram cache to use and fill (createGramCache), for a caller that solves several batches against the same
   * dictionary; by default each run makes its own.
   */
  gramCache?: SharedGramCache;
  /**
   * Compute the whole Gram matrix first, in large products, when it fits the cache and the targets will select at
   * least twice as many atoms as there are (default true); else columns are computed as targets first need them.
   */
  precomputeGram?: boolean;
}

export interface ResolvedOmpOptions {
  k: number;
  normalizeAtoms: boolean;
  residualTolerance: number;
  pivotTolerance: number;
  route: OmpRoute;
  blockSize: number;
  panelBudgetBytes: number;
  gramCacheBytes: number;
}

export const DEFAULT_OMP_K = 64;
const DEFAULT_PANEL_BUDGET = 512 << 20;
const MAX_DEFAULT_GRAM_CACHE = 2 * 1024 ** 3;
/** A step stops a target whose best |⟨r, a⟩| is at most this × ‖r‖‖a‖ (r orthogonal to every atom). */
const ORTHOGONALITY_TOLERANCE = 1e-6;
/** Below this squared-residual ratio the cheap estimate ‖y‖² − ‖z‖² is too noisy; the residual is computed exactly. */
const EXACT_RESIDUAL_BELOW = 1e-4;

/**
 * Which route 'auto' takes. Reading a target's Gram panel costs about N·k²/2 floats from memory against the residual
 * route's k·N·D multiply-adds in a fast Gemm, and each new Gram column costs N·D once for all the targets that share
 * it; measured on a 2-core AVX-512 machine (bench/transplant.ts), the Gram route pays off once D ≥ 5k and there are
 * enough targets (a few hundred) for columns to be shared.
 */
export function chooseOmpRoute(dim: number, k: number, targets = Infinity): OmpRoute {
  return dim >= 5 * k && targets >= 256 ? 'gram' : 'residual';
}

/** Checks the problem and fills in defaults. Throws a 'usage' ModelLensError for k > atoms and bad values. */
export function resolveOmpOptions(atoms: number, dim: number, options: BatchOmpOptions = {}, targets?: number): ResolvedOmpOptions {
  const k = options.k ?? DEFAULT_OMP_K;
  if (!Number.isSafeInteger(k) || k < 1) throw new ModelLensError('usage', `OMP k must be a whole number ≥ 1, not ${k}`);
  if (k > atoms) {
    throw new ModelLensError(
      'usage',
      `OMP k = ${k} is more than the ${atoms} anchor tokens available`,
      undefined,
      `Use k ≤ ${atoms}, or choose a base and donor that share more tokens.`,
    );
  }
  if (!Number.isSafeInteger(dim) || dim < 1) throw new ModelLensError('usage', `the dictionary dimension must be ≥ 1, not ${dim}`);
  const route = options.route === undefined || options.route === 'auto' ? chooseOmpRoute(dim, k, targets) : options.route;
  if (route !== 'gram' && route !== 'residual') throw new ModelLensError('usage', `unknown OMP route "${String(options.route)}"`);
  const positive = (value: number | undefined, fallback: number, name: string) => {
    const v = value ?? fallback;
    if (!(v >= 0) || !Number.isFinite(v)) throw new ModelLensError('usage', `OMP ${name} must be a number ≥ 0, not ${value}`);
    return v;
  };
  return {
    k,
    normalizeAtoms: options.normalizeAtoms === true,
    residualTolerance: positive(options.residualTolerance, 1e-5, 'residualTolerance'),
    pivotTolerance: positive(options.pivotTolerance, 1e-6, 'pivotTolerance'),
    route,
    blockSize: Math.max(1, Math.floor(positive(options.blockSize, route === 'gram' ? 64 : 128, 'blockSize'))),
    panelBudgetBytes: positive(options.panelBudgetBytes, DEFAULT_PANEL_BUDGET, 'panelBudgetBytes'),
    gramCacheBytes: positive(options.gramCacheBytes, Math.min(MAX_DEFAULT_GRAM_CACHE, atoms * atoms * 4), 'gramCacheBytes'),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Results

export interface OmpStats {
  route: OmpRoute;
  /** Gram columns computed (route 'gram'). */
  gramColumnsComputed: number;
  /** Gram columns found in the shared cache instead (route 'gram'). */
  gramColumnHits: number;
  /** Targets that stopped before k atoms. */
  earlyStops: number;
}

/** Per-target outputs, [count × k] row-major; buffers may be shared so worker threads write them in place. */
export interface OmpOutput {
  k: number;
  count: number;
  /** Selected atoms in selection order; −1 after the last one. */
  atoms: Int32Array;
  /** Least-squares coefficients of the raw atoms, aligned with `atoms`; 0 after the last one. */
  coefficients: Float32Array;
  /** Atoms used per target (≤ k). */
  sizes: Int32Array;
  /** ‖y − Σ c·a‖ / ‖y‖ per target (0 for a zero target). */
  relativeResiduals: Float32Array;
}

export interface BatchOmpResult extends OmpOutput {
  stats: OmpStats;
}

export function allocateOmpOutput(count: number, k: number, shared = false): OmpOutput {
  const buffer = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const atoms = new Int32Array(buffer(count * k * 4));
  atoms.fill(-1);
  return {
    k,
    count,
    atoms,
    coefficients: new Float32Array(buffer(count * k * 4)),
    sizes: new Int32Array(buffer(count * 4)),
    relativeResiduals: new Float32Array(buffer(count * 4)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The shared Gram cache: append-only slots of one Gram column each, claimed lock-free

export interface SharedGramCache {
  /** Column length: the number of atoms N. */
  atoms: number;
  capacity: number;
  /** Per atom: its slot (≥ 0), −1 when absent, −2 while one thread fills it. */
  slots: Int32Array;
  /** [0]: slots handed out so far. */
  counter: Int32Array;
  /** capacity × atoms float32 values. */
  data: Float32Array;
}

export function createGramCache(atoms: number, bytes: number): SharedGramCache {
  const capacity = Math.max(0, Math.min(atoms, Math.floor(bytes / (atoms * 4))));
  let data: Float32Array;
  try {
    data = new Float32Array(new SharedArrayBuffer(capacity * atoms * 4));
  } catch (error) {
    throw new ModelLensError('usage', `cannot allocate a ${((capacity * atoms * 4) / 2 ** 30).toFixed(2)} GiB Gram cache (${String(error)})`, undefined, 'Lower gramCacheBytes.');
  }
  const slots = new Int32Array(new SharedArrayBuffer(atoms * 4));
  slots.fill(-1);
  return { atoms, capacity, slots, counter: new Int32Array(new SharedArrayBuffer(4)), data };
}

function cachedColumn(cache: SharedGramCache | undefined, atom: number): Float32Array | undefined {
  if (!cache) return undefined;
  const slot = Atomics.load(cache.slots, atom);
  return slot >= 0 ? cache.data.subarray(slot * cache.atoms, (slot + 1) * cache.atoms) : undefined;
}

/** Claims a slot for `atom`; returns it, or −1 when another thread has it or the cache is full. */
function reserveColumn(cache: SharedGramCache | undefined, atom: number): number {
  if (!cache || Atomics.load(cache.counter, 0) >= cache.capacity) return -1;
  if (Atomics.compareExchange(cache.slots, atom, -1, -2) !== -1) return -1;
  const slot = Atomics.add(cache.counter, 0, 1);
  if (slot >= cache.capacity) {
    Atomics.store(cache.slots, atom, -1);
    return -1;
  }
  return slot;
}

// ---------------------------------------------------------------------------------------------------------------
// The solver

export interface SolveControl {
  /** Polled between steps; the solve returns early (leaving later targets untouched) when it turns true. */
  shouldStop?: () => boolean;
  /** Called after each block with the number of targets it finished. */
  onTargetsDone?: (count: number) => void;
}

/** Euclidean norm of every dictionary row, float32. */
export function rowNorms(dictionary: Float32Array, rows: number, dim: number, out: Float32Array = new Float32Array(rows)): Float32Array {
  for (let r = 0; r < rows; r++) out[r] = Math.sqrt(dot64(dictionary, r * dim, dictionary, r * dim, dim));
  return out;
}

/**
 * Solves OMP for ranges of targets in the calling thread. One solver per thread; it reuses its scratch buffers
 * across calls. `dictionary` ([atoms, dim]) and `targets` ([count, dim]) may be SharedArrayBuffer views.
 */
export class BatchOmpSolver {
  readonly stats: OmpStats;
  private readonly inverseNorms: Float32Array | undefined;
  private readonly block: number;
  // per-block state
  private readonly y: Float32Array;
  private readonly yy: Float64Array;
  private readonly factor: Float64Array;
  private readonly z: Float64Array;
  private readonly gamma: Float64Array;
  private readonly gamma32: Float32Array;
  private readonly cross: Float64Array;
  private readonly selected: Int32Array;
  private readonly sizes: Int32Array;
  private readonly residual2: Float64Array;
  private readonly zz: Float64Array;
  private readonly exactResidual: Uint8Array;
  private readonly active: Uint8Array;
  private readonly next: Int32Array;
  // route 'gram'
  private alpha0: Float32Array = new Float32Array(0);
  private queries = new Float32Array(0);
  /** Current lockstep sub-block size (adapted to the Gram cache's miss rate). */
  private subBlock = 1;
  private panels: Float32Array = new Float32Array(0);
  /** The fused WebAssembly step (route 'gram'); it owns panels, alpha0, stepGamma and stepScale. */
  private readonly step: OmpStepKernel | undefined;
  private stepGamma: Float32Array = new Float32Array(0);
  /** 1/|a| with normalizeAtoms, else 1, per atom. */
  private stepScale: Float32Array = new Float32Array(0);
  private columnScratch = new Float32Array(0);
  // route 'residual'
  private residuals = new Float32Array(0);
  private bestIndex = new Int32Array(0);
  private bestValue = new Float32Array(0);
  private marks = new Uint8Array(0);
  private residualRow = new Float64Array(0);

  constructor(
    private readonly dictionary: Float32Array,
    readonly atoms: number,
    readonly dim: number,
    readonly options: ResolvedOmpOptions,
    private readonly kernels: OmpKernels,
    private readonly norms: Float32Array = rowNorms(dictionary, atoms, dim),
    private readonly gramCache?: SharedGramCache,
  ) {
    if (dictionary.length < atoms * dim) throw new ModelLensError('mismatch', `the dictionary has ${dictionary.length} values, fewer than ${atoms} × ${dim}`);
    const { k } = options;
    this.stats = { route: options.route, gramColumnsComputed: 0, gramColumnHits: 0, earlyStops: 0 };
    if (options.normalizeAtoms) this.inverseNorms = Float32Array.from(norms, (n) => (n > 0 ? 1 / n : 0));
    this.block =
      options.route === 'gram'
        ? Math.max(1, Math.min(options.blockSize, Math.floor(options.panelBudgetBytes / (k * atoms * 4))))
        : options.blockSize;
    const b = this.block;
    this.subBlock = b;
    this.y = new Float32Array(b * dim);
    this.yy = new Float64Array(b);
    this.factor = new Float64Array(b * k * k);
    this.z = new Float64Array(b * k);
    this.gamma = new Float64Array(k);
    this.gamma32 = new Float32Array(k);
    this.cross = new Float64Array(k);
    this.selected = new Int32Array(b * k);
    this.sizes = new Int32Array(b);
    this.residual2 = new Float64Array(b);
    this.zz = new Float64Array(b);
    this.exactResidual = new Uint8Array(b);
    this.active = new Uint8Array(b);
    this.next = new Int32Array(b);
    if (options.route === 'gram') {
      this.step = OmpStepKernel.create(b * k * atoms + b * atoms + atoms + k);
      if (this.step) {
        this.panels = this.step.allocate(b * k * atoms);
        this.alpha0 = this.step.allocate(b * atoms);
        this.stepScale = this.step.allocate(atoms);
        if (this.inverseNorms) this.stepScale.set(this.inverseNorms);
        else this.stepScale.fill(1);
        this.stepGamma = this.step.allocate(k);
      }
    }
  }

  /** Targets solved together (the lockstep block). */
  get blockSize(): number {
    return this.block;
  }

  /** Solves targets [first, last) of `targets`, writing rows [first, last) of `out`. */
  async solve(targets: Float32Array, first: number, last: number, out: OmpOutput, control: SolveControl = {}): Promise<void> {
    const stop = () => control.shouldStop?.() === true;
    for (let start = first; start < last; start += this.block) {
      if (stop()) return;
      const count = Math.min(this.block, last - start);
      if (this.options.route === 'residual') {
        await this.solveBlockResidual(targets, start, count, out, control);
        control.onTargetsDone?.(count);
        continue;
      }
      // α⁰ = Aᵀy for the whole block: one product. Then sub-blocks in lockstep, sized by how often the Gram cache
      // misses: while many columns are missing, large sub-blocks batch their products; once the cache holds what the
      // targets need, small sub-blocks keep each target's Gram panel in the CPU cache between steps (about 2× faster).
      await this.computeAlpha0(targets, start, count, stop);
      if (stop()) return;
      for (let sub = 0; sub < count; ) {
        if (stop()) return;
        const size = Math.min(this.subBlock, count - sub);
        const before = this.stats.gramColumnsComputed;
        const hitsBefore = this.stats.gramColumnHits;
        await this.solveBlockGram(targets, start + sub, size, sub, out, control);
        const computed = this.stats.gramColumnsComputed - before;
        const misses = computed / Math.max(1, computed + this.stats.gramColumnHits - hitsBefore);
        this.subBlock = misses > 0.25 ? this.block : misses > 0.05 ? Math.min(this.block, 16) : Math.min(this.block, 4);
        sub += size;
        control.onTargetsDone?.(size);
      }
    }
  }

  /**
   * Fills the Gram cache with the columns of atoms [first, last) (those not there yet), a block of atoms per product.
   * Run before solving when the whole Gram matrix fits the cache and the targets will use most of it.
   */
  async precomputeGram(first: number, last: number, shouldStop?: () => boolean): Promise<void> {
    const cache = this.gramCache;
    if (!cache) return;
    const { atoms: n, dim, dictionary } = this;
    const chunk = 64;
    const queries = new Float32Array(chunk * dim);
    for (let start = first; start < last; start += chunk) {
      if (shouldStop?.()) return;
      const atoms: number[] = [];
      const slots: number[] = [];
      for (let atom = start; atom < Math.min(last, start + chunk); atom++) {
        const slot = reserveColumn(cache, atom);
        if (slot < 0) continue;
        queries.set(dictionary.subarray(atom * dim, (atom + 1) * dim), atoms.length * dim);
        atoms.push(atom);
        slots.push(slot);
      }
      if (atoms.length === 0) continue;
      const m = atoms.length;
      try {
        await this.kernels.correlate(dictionary, dim, 0, n, queries, m, (from, rows, scores) => {
          for (let i = 0; i < m; i++) cache.data.set(scores.subarray(i * rows, (i + 1) * rows), slots[i] * n + from);
        }, shouldStop);
      } finally {
        const complete = !shouldStop?.();
        atoms.forEach((atom, i) => Atomics.store(cache.slots, atom, complete ? slots[i] : -1));
      }
      this.stats.gramColumnsComputed += m;
    }
  }

  private async computeAlpha0(targets: Float32Array, start: number, count: number, stop: () => boolean): Promise<void> {
    const { atoms: n, dim } = this;
    if (this.alpha0.length < this.block * n) this.alpha0 = new Float32Array(this.block * n);
    if (this.queries.length < this.block * dim) this.queries = new Float32Array(this.block * dim);
    this.queries.set(targets.subarray(start * dim, (start + count) * dim));
    const alpha0 = this.alpha0;
    await this.kernels.correlate(this.dictionary, dim, 0, n, this.queries, count, (from, rows, scores) => {
      for (let b = 0; b < count; b++) alpha0.set(scores.subarray(b * rows, (b + 1) * rows), b * n + from);
    }, stop);
  }

  private loadBlock(targets: Float32Array, start: number, count: number): void {
    const { dim } = this;
    this.y.set(targets.subarray(start * dim, (start + count) * dim));
    this.sizes.fill(0);
    this.selected.fill(-1);
    this.exactResidual.fill(0);
    this.zz.fill(0);
    for (let b = 0; b < count; b++) {
      const yy = dot64(this.y, b * dim, this.y, b * dim, dim);
      this.yy[b] = yy;
      this.residual2[b] = yy;
      this.active[b] = yy > 0 ? 1 : 0;
    }
    for (let b = count; b < this.block; b++) this.active[b] = 0;
  }

  /** |α_i| for ranking: divided by |a_i| with normalizeAtoms. */
  private rankValue(alpha: number, atom: number): number {
    const v = Math.abs(alpha);
    return this.inverseNorms ? v * this.inverseNorms[atom] : v;
  }

  /** The best unused atom of α (length atoms), ties to the lower index; −1 when every atom is used. */
  private argmaxUnused(alpha: Float32Array, offset: number, b: number): number {
    const { atoms, marks } = this;
    const size = this.sizes[b];
    const sel = this.selected;
    const base = b * this.options.k;
    for (let j = 0; j < size; j++) marks[sel[base + j]] = 1;
    let best = -1;
    let bestValue = -1;
    const inv = this.inverseNorms;
    for (let i = 0; i < atoms; i++) {
      const raw = alpha[offset + i];
      const v = inv ? (raw < 0 ? -raw : raw) * inv[i] : raw < 0 ? -raw : raw;
      if (v > bestValue && marks[i] === 0) {
        bestValue = v;
        best = i;
      }
    }
    for (let j = 0; j < size; j++) marks[sel[base + j]] = 0;
    return best;
  }

  /**
   * Adds atom `atom` to target b given its cross products with the selected atoms (this.cross) and |a|², and
   * ⟨y, a⟩. Returns false when the target is finished without it (dependent atom).
   */
  private appendAtom(b: number, atom: number, diagonal: number, yDotAtom: number): boolean {
    const { k } = this.options;
    const s = this.sizes[b];
    const factor = this.factor.subarray(b * k * k, (b + 1) * k * k);
    if (!choleskyAppend(factor, k, s, this.cross, diagonal, this.options.pivotTolerance)) return false;
    const zb = this.z.subarray(b * k, (b + 1) * k);
    const zNew = extendForward(factor, k, s, yDotAtom, zb);
    this.selected[b * k + s] = atom;
    this.sizes[b] = s + 1;
    this.zz[b] += zNew * zNew;
    this.residual2[b] = this.yy[b] - this.zz[b];
    return true;
  }

  /** γ for target b's current selection, into this.gamma (float64) and this.gamma32. */
  private solveCoefficients(b: number): number {
    const { k } = this.options;
    const s = this.sizes[b];
    solveUpperTransposed(this.factor.subarray(b * k * k, (b + 1) * k * k), k, s, this.z.subarray(b * k, (b + 1) * k), this.gamma);
    for (let j = 0; j < s; j++) this.gamma32[j] = this.gamma[j];
    return s;
  }

  /** ‖y − Σγ·a‖² computed directly (float64), using this.gamma; optionally keeps r in `into` (float32). */
  private directResidual(b: number, into?: Float32Array, intoOffset = 0): number {
    const { dim, dictionary } = this;
    const { k } = this.options;
    const s = this.sizes[b];
    if (this.residualRow.length < dim) this.residualRow = new Float64Array(dim);
    const r = this.residualRow;
    for (let d = 0; d < dim; d++) r[d] = this.y[b * dim + d];
    for (let j = 0; j < s; j++) {
      const g = this.gamma[j];
      const row = this.selected[b * k + j] * dim;
      for (let d = 0; d < dim; d++) r[d] -= g * dictionary[row + d];
    }
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += r[d] * r[d];
    if (into) for (let d = 0; d < dim; d++) into[intoOffset + d] = r[d];
    return sum;
  }

  /** Whether target b has converged: a negligible residual (checked exactly once the estimate gets small). */
  private converged(b: number): boolean {
    const yy = this.yy[b];
    const tolerance = this.options.residualTolerance * this.options.residualTolerance * yy;
    if (!this.exactResidual[b] && this.residual2[b] > EXACT_RESIDUAL_BELOW * yy) return false;
    this.exactResidual[b] = 1;
    this.solveCoefficients(b);
    this.residual2[b] = this.directResidual(b);
    return this.residual2[b] <= tolerance;
  }

  private finish(b: number, index: number, out: OmpOutput): void {
    const { k } = this.options;
    const s = this.sizes[b];
    if (s > 0) this.solveCoefficients(b);
    const row = index * out.k;
    for (let j = 0; j < out.k; j++) {
      out.atoms[row + j] = j < s ? this.selected[b * k + j] : -1;
      out.coefficients[row + j] = j < s ? this.gamma[j] : 0;
    }
    out.sizes[index] = s;
    const yy = this.yy[b];
    if (s > 0 && !this.exactResidual[b]) this.residual2[b] = this.directResidual(b);
    out.relativeResiduals[index] = yy > 0 ? Math.sqrt(Math.max(0, this.residual2[b]) / yy) : 0;
    if (s < k) this.stats.earlyStops++;
    this.active[b] = 0;
  }

  /** Whether the best atom's correlation is numerically zero: the residual is orthogonal to every atom. */
  private orthogonal(b: number, alpha: number, atom: number): boolean {
    const r = Math.sqrt(Math.max(0, this.residual2[b]));
    return !(Math.abs(alpha) > ORTHOGONALITY_TOLERANCE * r * this.norms[atom]);
  }

  // ----- route 'gram' (Batch-OMP) -------------------------------------------------------------------------------

  /** Targets [start, start + count) in lockstep; their α⁰ rows start at row `alphaRow` of this.alpha0. */
  private async solveBlockGram(targets: Float32Array, start: number, count: number, alphaRow: number, out: OmpOutput, control: SolveControl): Promise<void> {
    const { atoms: n, options, kernels } = this;
    const { k } = options;
    if (this.panels.length < this.block * k * n) this.panels = new Float32Array(this.block * k * n);
    this.loadBlock(targets, start, count);
    const alpha0 = this.alpha0.subarray(alphaRow * n, (alphaRow + count) * n);
    const stop = () => control.shouldStop?.() === true;

    for (let b = 0; b < count; b++) {
      if (!this.active[b]) {
        this.finish(b, start + b, out);
        continue;
      }
      if (this.marks.length < n) this.marks = new Uint8Array(n);
      // No atom is selected yet, so the best unused atom is the plain argmax of |α⁰|.
      const atom = this.step
        ? this.step.updateAndRank(this.stepGamma, 0, this.panels.subarray(0, 0), alpha0.subarray(b * n, (b + 1) * n), this.stepScale).index
        : this.argmaxUnused(alpha0, b * n, b);
      if (atom < 0 || this.orthogonal(b, alpha0[b * n + atom], atom)) this.finish(b, start + b, out);
      else this.next[b] = atom;
    }

    for (let step = 0; step < k; step++) {
      if (stop()) return;
      const columns = await this.gramColumns(count, stop);
      if (!columns) return;
      for (let b = 0; b < count; b++) {
        if (!this.active[b]) continue;
        const atom = this.next[b];
        const column = columns.get(atom)!;
        const s = this.sizes[b];
        for (let j = 0; j < s; j++) this.cross[j] = column[this.selected[b * k + j]];
        if (!this.appendAtom(b, atom, column[atom], alpha0[b * n + atom])) {
          this.finish(b, start + b, out);
          continue;
        }
        this.panels.set(column, (b * k + s) * n);
        if (this.sizes[b] === k || this.converged(b)) this.finish(b, start + b, out);
      }
      // Next correlations α = α⁰ − G_I γ and the best unused atom, per target.
      for (let b = 0; b < count; b++) {
        if (!this.active[b]) continue;
        if (stop()) return;
        const s = this.solveCoefficients(b);
        const panel = this.panels.subarray(b * k * n, (b * k + s) * n);
        let best: { value: number; index: number };
        if (this.step) {
          for (let j = 0; j < s; j++) this.stepGamma[j] = this.gamma[j];
          best = this.step.updateAndRank(this.stepGamma, s, panel, alpha0.subarray(b * n, (b + 1) * n), this.stepScale);
        } else best = await kernels.updateAndRank(this.gamma32.subarray(0, s), panel, alpha0.subarray(b * n, (b + 1) * n), this.inverseNorms);
        const atom = best.index;
        const alpha = this.inverseNorms ? best.value * this.norms[atom] : best.value;
        // A selected atom on top means every |α| is rounding noise: the residual is orthogonal to all atoms.
        if (this.isSelected(b, atom) || this.orthogonal(b, alpha, atom)) this.finish(b, start + b, out);
        else this.next[b] = atom;
      }
    }
    for (let b = 0; b < count; b++) if (this.active[b]) this.finish(b, start + b, out);
  }

  private isSelected(b: number, atom: number): boolean {
    const { k } = this.options;
    const s = this.sizes[b];
    for (let j = 0; j < s; j++) if (this.selected[b * k + j] === atom) return true;
    return false;
  }

  /** Gram columns of every active target's next atom: from the shared cache, else computed in one product. */
  private async gramColumns(count: number, stop: () => boolean): Promise<Map<number, Float32Array> | undefined> {
    const { atoms: n, dim, dictionary, kernels } = this;
    const columns = new Map<number, Float32Array>();
    const missing: number[] = [];
    for (let b = 0; b < count; b++) {
      if (!this.active[b]) continue;
      const atom = this.next[b];
      if (columns.has(atom) || missing.includes(atom)) continue;
      const cached = cachedColumn(this.gramCache, atom);
      if (cached) {
        columns.set(atom, cached);
        this.stats.gramColumnHits++;
      } else missing.push(atom);
    }
    if (missing.length === 0) return columns;
    const m = missing.length;
    if (this.columnScratch.length < m * n) this.columnScratch = new Float32Array(Math.max(m, this.block) * n);
    const queries = new Float32Array(m * dim);
    const destinations: Float32Array[] = [];
    const reserved: number[] = [];
    missing.forEach((atom, i) => {
      queries.set(dictionary.subarray(atom * dim, (atom + 1) * dim), i * dim);
      const slot = reserveColumn(this.gramCache, atom);
      reserved.push(slot);
      destinations.push(
        slot >= 0 ? this.gramCache!.data.subarray(slot * n, (slot + 1) * n) : this.columnScratch.subarray(i * n, (i + 1) * n),
      );
    });
    try {
      await kernels.correlate(dictionary, dim, 0, n, queries, m, (from, rows, scores) => {
        for (let i = 0; i < m; i++) destinations[i].set(scores.subarray(i * rows, (i + 1) * rows), from);
      }, stop);
    } finally {
      const complete = !stop();
      missing.forEach((atom, i) => {
        if (reserved[i] >= 0) Atomics.store(this.gramCache!.slots, atom, complete ? reserved[i] : -1);
      });
    }
    if (stop()) return undefined;
    this.stats.gramColumnsComputed += m;
    missing.forEach((atom, i) => columns.set(atom, destinations[i]));
    return columns;
  }

  // ----- route 'residual' (per-step correlation of the residuals, one product per step for the block) -----------

  private async solveBlockResidual(targets: Float32Array, start: number, count: number, out: OmpOutput, control: SolveControl): Promise<void> {
    const { atoms: n, dim, options, kernels, dictionary } = this;
    const { k } = options;
    const stop = () => control.shouldStop?.() === true;
    if (this.residuals.length < this.block * dim) this.residuals = new Float32Array(this.block * dim);
    if (this.bestIndex.length < this.block) {
      this.bestIndex = new Int32Array(this.block);
      this.bestValue = new Float32Array(this.block);
    }
    this.loadBlock(targets, start, count);
    this.residuals.set(this.y.subarray(0, count * dim));
    const order = new Int32Array(count);

    for (let step = 0; step < k; step++) {
      if (stop()) return;
      // Correlate the residuals of the active targets (packed) with every atom.
      let m = 0;
      for (let b = 0; b < count; b++) {
        if (!this.active[b]) continue;
        if (m !== b) this.residuals.copyWithin(m * dim, b * dim, (b + 1) * dim);
        order[m++] = b;
      }
      if (m === 0) break;
      // The best atom per target straight from ONNX Runtime (|α| and ArgMax fused into the product). A selected atom
      // scores ≈ 0 after the refit, so one on top means the residual is orthogonal to every atom.
      await kernels.bestRows(dictionary, dim, n, this.residuals, m, this.inverseNorms, this.bestIndex, this.bestValue, stop);
      if (stop()) return;
      for (let i = 0; i < m; i++) {
        const b = order[i];
        const atom = this.bestIndex[i];
        const alpha = atom >= 0 && this.inverseNorms ? this.bestValue[i] * this.norms[atom] : this.bestValue[i];
        if (atom < 0 || this.isSelected(b, atom) || this.orthogonal(b, alpha, atom)) {
          this.finish(b, start + b, out);
          continue;
        }
        const s = this.sizes[b];
        for (let j = 0; j < s; j++) this.cross[j] = dot64(dictionary, atom * dim, dictionary, this.selected[b * k + j] * dim, dim);
        const diagonal = dot64(dictionary, atom * dim, dictionary, atom * dim, dim);
        if (!this.appendAtom(b, atom, diagonal, dot64(this.y, b * dim, dictionary, atom * dim, dim))) {
          this.finish(b, start + b, out);
          continue;
        }
        this.solveCoefficients(b);
        this.exactResidual[b] = 1;
        this.residual2[b] = this.directResidual(b, this.residuals, b * dim);
        if (this.sizes[b] === k || this.residual2[b] <= options.residualTolerance * options.residualTolerance * this.yy[b]) {
          this.finish(b, start + b, out);
        }
      }
      // Residual rows were written at index b; the packing above moves them for the next product.
    }
    for (let b = 0; b < count; b++) if (this.active[b]) this.finish(b, start + b, out);
  }
}
