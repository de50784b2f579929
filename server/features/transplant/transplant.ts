/**
 * Tokenizer transplantation: give a base model the tokenizer of a donor model without training.
 *
 *   runTransplant({ base, donor, out, method: 'omp', k: 64 }, { onProgress, signal }) → TransplantReport
 *
 * 1. open: both Hugging Face folders (config, tokenizer, safetensors headers), then their embedding matrices;
 * 2. match: shared tokens (matchVocabularies.ts), which become the anchors;
 * 3. self-check: hold out a fraction of the shared tokens and rebuild them with each method (selfCheck.ts);
 * 4. approximate: a row for every new donor token, per matrix (input embedding; output head unless the base is
 *    tied), with the chosen method (methods/);
 * 5. write: a new folder with every base tensor byte-identical except the embedding and head, which get the donor's
 *    vocabulary (rows copied from the base for shared tokens, made for new ones, dtype preserved); config.json with
 *    the donor's vocab_size and special-token ids; the donor's tokenizer files; transplant-report.json. It is built
 *    in a temporary folder beside the output and renamed into place at the end, so a cancelled or failed run leaves
 *    nothing behind, and an existing folder (or an input) is never overwritten.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelLensError } from '../../errors';
import { readSafetensorsHeader, decodeToFloat32, encodeFloat32, type EncodableDtype } from '../../loaders/safetensors';
import { embeddingDimsFromConfig } from '../../loaders/embeddingDiscovery';
import { ModelRegistry } from '../../registry/registry';
import type { OpenedModel, TensorInfo } from '../../registry/types';
import type { TokenizerHandle } from '../../tokenization/tokenizer';
import { DEFAULT_MAX_SHARD_BYTES, writeSafetensorsShards, type TensorToWrite } from './checkpointWriter';
import { compareDigitSplitting } from './digits';
import { matchVocabulariesAsync, rolesFromConfig } from './matchVocabularies';
import { createMethod, isMethodName, METHOD_NAMES, type MatrixKind, type MatrixSpace, type MethodName, type MethodOptions, type TokenRecipe } from './methods';
import {
  TRANSPLANT_REPORT_FILE,
  TRANSPLANT_REPORT_VERSION,
  type MatrixReport,
  type ModelSummary,
  type TokenProvenance,
  type TransplantProgress,
  type TransplantReport,
  type TransplantStage,
} from './report';
import { runSelfCheck } from './selfCheck';

export interface TransplantOptions {
  /** The model whose weights are kept: a Hugging Face folder with safetensors weights and tokenizer.json. */
  base: string;
  /** The model whose tokenizer is adopted; its embeddings define donor space (omp and knn need them). */
  donor: string;
  /** The new folder. It must not exist yet and must not be inside an input. Not needed with compareOnly. */
  out?: string;
  /** How new tokens are made (default 'omp'). */
  method?: MethodName;
  /** k of the methods that have one: omp (default 64), knn (8), aux (10). */
  k?: number;
  /** Which base matrices the method fills (default both); new rows of the other get the base mean. */
  matrices?: MatrixKind[];
  /** Match <0xNN> byte tokens with byte-level tokens (default true). */
  byteTokens?: boolean;
  /** A token with no match copies its longest proper prefix's row (default false). */
  prefixFallback?: boolean;
  /** Fraction of the shared tokens held out for the self-check (default 0.05; 0 skips it). */
  selfCheck?: number;
  /** Methods compared side by side in the self-check (default: the chosen method). */
  compare?: MethodName[];
  /** Run the self-check only; write nothing. */
  compareOnly?: boolean;
  /** OMP: rank atoms as unit vectors (default false, as the reference). */
  normalizeAtoms?: boolean;
  ompRoute?: 'auto' | 'gram' | 'residual';
  /** Worker threads for OMP and kNN. */
  workers?: number;
  subwordCombine?: MethodOptions['subwordCombine'];
  /** aux: word-vector file (default: the GloVe package). */
  auxVectors?: string;
  auxWeighting?: MethodOptions['auxWeighting'];
  /** Shard the weights once they pass this many bytes (default 5 GiB). */
  maxShardBytes?: number;
  /** Parts listed per token recipe (default 8). */
  recipeParts?: number;
  /** Seed of the self-check's held-out draw (default 0). */
  seed?: number;
}

export interface TransplantControl {
  onProgress?: (progress: TransplantProgress) => void;
  signal?: AbortSignal;
  /** Open models through this registry (the server's, so open tokenizers are reused); default a private one. */
  registry?: ModelRegistry;
}

const STAGE_WEIGHTS: Record<TransplantStage, number> = { open: 0.08, match: 0.04, 'self-check': 0.18, approximate: 0.5, write: 0.2 };

/** Tokenizer files taken from the donor (the base's are left out). */
const TOKENIZER_FILES = new Set([
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
  'chat_template.json',
  'vocab.txt',
  'spiece.model',
  'sentencepiece.bpe.model',
  'tokenizer.tiktoken',
]);
/** Base files never copied: weights in any format (they hold the old vocabulary) and old reports. */
const WEIGHT_FILE = /\.(safetensors|bin|pt|pth|ckpt|gguf|onnx|h5|msgpack|npz|mlvec)$|\.index\.json$/i;
const ENCODABLE: readonly string[] = ['F32', 'F16', 'BF16'];

function cancelled(): ModelLensError {
  return new ModelLensError('cancelled', 'the transplant was cancelled');
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw cancelled();
}

async function statOrUndefined(file: string) {
  return fsp.stat(file).catch(() => undefined);
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** Checks the paths before any work: inputs are folders, the output is new and outside both inputs. */
async function checkPaths(options: TransplantOptions): Promise<{ base: string; donor: string; out?: string }> {
  const base = path.resolve(options.base);
  const donor = path.resolve(options.donor);
  for (const [what, folder] of [['base', base], ['donor', donor]] as const) {
    const stat = await statOrUndefined(folder);
    if (!stat) throw new ModelLensError('not-found', `the ${what} folder does not exist`, folder, 'Check the path.');
    if (!stat.isDirectory()) throw new ModelLensError('usage', `the ${what} must be a Hugging Face model folder, not a file`, folder, 'Pass the folder that holds config.json, tokenizer.json and the safetensors weights.');
  }
  if (options.compareOnly) return { base, donor };
  if (!options.out) throw new ModelLensError('usage', 'an output folder is needed', undefined, 'Pass --out DIR (a folder that does not exist yet), or use --compare for the self-check alone.');
  const out = path.resolve(options.out);
  for (const [what, folder] of [['base', base], ['donor', donor]] as const) {
    if (isInside(out, folder)) {
      throw new ModelLensError('usage', `the output folder must not be the ${what} folder or inside it`, out, 'Choose a new folder outside the inputs; inputs are never overwritten.');
    }
  }
  if (await statOrUndefined(out)) throw new ModelLensError('usage', 'the output folder already exists', out, 'Choose a new folder; Model Lens never overwrites one.');
  const parent = path.dirname(out);
  const parentStat = await statOrUndefined(parent);
  if (!parentStat?.isDirectory()) throw new ModelLensError('not-found', 'the folder to create the output in does not exist', parent, 'Create it first.');
  return { base, donor, out };
}

/** Reads a tensor's raw bytes (only its range), checked against the file size. */
async function readTensorBytes(info: TensorInfo): Promise<Uint8Array> {
  const handle = await fsp.open(info.file, 'r');
  try {
    const size = (await handle.stat()).size;
    if (info.offset + info.byteLength > size) throw new ModelLensError('bad-input', `tensor "${info.name}" runs past the end of the file`, info.file, 'The checkpoint is truncated; copy it again.');
    const bytes = new Uint8Array(info.byteLength);
    for (let at = 0; at < bytes.byteLength; ) {
      const { bytesRead } = await handle.read(bytes, at, Math.min(bytes.byteLength - at, 1 << 30), info.offset + at);
      if (bytesRead <= 0) throw new ModelLensError('bad-input', `tensor "${info.name}" ends early`, info.file, 'The checkpoint is truncated; copy it again.');
      at += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

interface LoadedMatrix {
  info: TensorInfo;
  rows: number;
  dim: number;
  raw: Uint8Array;
  values: Float32Array;
}

async function loadMatrix(info: TensorInfo): Promise<LoadedMatrix> {
  if (info.shape.length !== 2) throw new ModelLensError('bad-input', `tensor "${info.name}" has shape [${info.shape.join(', ')}], not [vocab, hidden]`, info.file);
  const raw = await readTensorBytes(info);
  return { info, rows: info.shape[0], dim: info.shape[1], raw, values: decodeToFloat32(raw, info.dtype, info.file, `tensor "${info.name}"`) };
}

function tokenizerOf(model: OpenedModel, what: string): TokenizerHandle {
  if (!model.tokenizer) throw new ModelLensError('not-found', `the ${what} folder has no tokenizer.json`, model.path, 'Save the tokenizer with transformers (tokenizer.save_pretrained) into the folder.');
  return model.tokenizer;
}

function maxTokenId(tokenizer: TokenizerHandle): number {
  return tokenizer.facts.maxTokenId ?? tokenizer.facts.vocabSize - 1;
}

function summarise(model: OpenedModel, tokenizer: TokenizerHandle, input?: LoadedMatrix, output?: LoadedMatrix): ModelSummary {
  return {
    path: model.path,
    name: model.name,
    tokenizerSize: tokenizer.facts.vocabSize,
    maxTokenId: maxTokenId(tokenizer),
    tokenizerStyle: tokenizer.facts.style,
    ...(input
      ? {
          embeddingRows: input.rows,
          hiddenSize: input.dim,
          dtype: input.info.dtype,
          tied: model.embeddings.tied || output === undefined,
          inputTensor: input.info.name,
          ...(output && output !== input ? { outputTensor: output.info.name } : {}),
        }
      : {}),
  };
}

/** config.json with the donor's vocabulary size and special-token ids, wherever the base keeps those keys. */
export function transplantConfig(
  baseConfig: Record<string, unknown>,
  donorIds: Record<string, number | number[] | undefined>,
  rows: number,
  /** Add the ids the base config lacks (config.json) or only replace the ones it has (generation_config.json). */
  addMissing = true,
): Record<string, unknown> {
  const config = structuredClone(baseConfig);
  const nested = typeof config.text_config === 'object' && config.text_config !== null && !Array.isArray(config.text_config) ? (config.text_config as Record<string, unknown>) : undefined;
  const places = [config, ...(nested ? [nested] : [])];
  let vocabPlaced = false;
  for (const place of places) {
    if ('vocab_size' in place) {
      place.vocab_size = rows;
      vocabPlaced = true;
    }
  }
  if (!vocabPlaced && addMissing) config.vocab_size = rows;
  for (const role of ['bos', 'eos', 'pad', 'unk']) {
    const key = `${role}_token_id`;
    const value = donorIds[role];
    let placed = false;
    for (const place of places) {
      if (!(key in place)) continue;
      placed = true;
      if (value === undefined) delete place[key];
      else place[key] = value;
    }
    if (!placed && addMissing && value !== undefined) config[key] = value;
  }
  return config;
}

/** The donor's special-token ids: from its config.json, else from its tokenizer's roles. */
function donorSpecialIds(donor: OpenedModel, tokenizer: TokenizerHandle): Record<string, number | number[] | undefined> {
  const ids: Record<string, number | number[] | undefined> = {};
  const config = donor.config ?? {};
  const nested = typeof config.text_config === 'object' && config.text_config !== null ? (config.text_config as Record<string, unknown>) : {};
  for (const role of ['bos', 'eos', 'pad', 'unk']) {
    const value = config[`${role}_token_id`] ?? nested[`${role}_token_id`];
    if (typeof value === 'number' || (Array.isArray(value) && value.every((v) => typeof v === 'number'))) {
      ids[role] = value as number | number[];
      continue;
    }
    const special = tokenizer.facts.specialTokens.find((s) => (s.roles ?? (s.role ? [s.role] : [])).includes(role));
    if (special) ids[role] = special.id;
  }
  return ids;
}

interface StageClock {
  stage: TransplantStage;
  started: number;
}

export async function runTransplant(options: TransplantOptions, control: TransplantControl = {}): Promise<TransplantReport> {
  const { signal, onProgress } = control;
  const startedAt = performance.now();
  checkAborted(signal);
  const method: MethodName = options.method ?? 'omp';
  if (!isMethodName(method)) throw new ModelLensError('usage', `unknown transplant method "${String(method)}"`, undefined, `Use one of: ${METHOD_NAMES.join(', ')}.`);
  const compare = options.compare && options.compare.length > 0 ? options.compare : [method];
  for (const name of compare) if (!isMethodName(name)) throw new ModelLensError('usage', `unknown method "${String(name)}" in the comparison`, undefined, `Use: ${METHOD_NAMES.join(', ')}.`);
  const matrices = options.matrices ?? ['input', 'output'];
  for (const m of matrices) if (m !== 'input' && m !== 'output') throw new ModelLensError('usage', `unknown matrix "${String(m)}"; use input, output or both`);
  const selfCheck = options.selfCheck ?? 0.05;
  if (!(selfCheck >= 0 && selfCheck < 1)) throw new ModelLensError('usage', `the self-check fraction must be in [0, 1), not ${selfCheck}`);
  if (options.compareOnly && selfCheck === 0) throw new ModelLensError('usage', 'a comparison runs the self-check, so its fraction must be above 0');
  if (options.k !== undefined && (!Number.isSafeInteger(options.k) || options.k < 1)) throw new ModelLensError('usage', `k must be a whole number ≥ 1, not ${options.k}`);
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(maxShardBytes > 0)) throw new ModelLensError('usage', `the shard size must be positive, not ${maxShardBytes}`);
  const seed = options.seed ?? 0;
  const methodOptions: MethodOptions = {
    k: options.k,
    knnK: options.k,
    auxK: options.k,
    normalizeAtoms: options.normalizeAtoms,
    ompRoute: options.ompRoute,
    workers: options.workers,
    subwordCombine: options.subwordCombine,
    auxVectors: options.auxVectors,
    auxWeighting: options.auxWeighting,
  };
  const chosen = createMethod(method, methodOptions);
  const compared = compare.map((name) => (name === method ? chosen : createMethod(name, methodOptions)));

  // ---- progress and stage timings
  const timings: { stage: TransplantStage; seconds: number }[] = [];
  const stages: TransplantStage[] = ['open', 'match', ...(selfCheck > 0 ? (['self-check'] as const) : []), ...(options.compareOnly ? [] : (['approximate', 'write'] as const))];
  const totalWeight = stages.reduce((s, stage) => s + STAGE_WEIGHTS[stage], 0);
  let doneWeight = 0;
  let clock: StageClock | undefined;
  let message = '';
  const report = (stageFraction: number, line = message) => {
    if (!clock || !onProgress) return;
    message = line;
    const fraction = Math.min(1, (doneWeight + STAGE_WEIGHTS[clock.stage] * Math.min(1, Math.max(0, stageFraction))) / totalWeight);
    const elapsed = (performance.now() - startedAt) / 1000;
    onProgress({ stage: clock.stage, fraction, stageFraction, etaSeconds: fraction > 0.02 ? (elapsed * (1 - fraction)) / fraction : undefined, message: line });
  };
  const enter = (stage: TransplantStage, line: string) => {
    if (clock) {
      timings.push({ stage: clock.stage, seconds: (performance.now() - clock.started) / 1000 });
      doneWeight += STAGE_WEIGHTS[clock.stage];
    }
    clock = { stage, started: performance.now() };
    report(0, line);
  };
  const leave = () => {
    if (!clock) return;
    report(1);
    timings.push({ stage: clock.stage, seconds: (performance.now() - clock.started) / 1000 });
    doneWeight += STAGE_WEIGHTS[clock.stage];
    clock = undefined;
  };

  // ---- open
  const paths = await checkPaths(options);
  enter('open', 'opening the base and donor models');
  const registry = control.registry ?? new ModelRegistry();
  const [baseModel, donorModel] = await Promise.all([registry.open(paths.base), registry.open(paths.donor)]);
  checkAborted(signal);
  const baseTokenizer = tokenizerOf(baseModel, 'base');
  const donorTokenizer = tokenizerOf(donorModel, 'donor');
  if (baseModel.format !== 'huggingface' || !baseModel.embeddings.input) {
    throw new ModelLensError(
      'bad-input',
      baseModel.tensors.length === 0 ? 'the base folder has no safetensors weights' : 'no input embedding tensor was found among the base weights',
      baseModel.path,
      'The base must be a Hugging Face folder with safetensors weights that include the token embedding (e.g. model.embed_tokens.weight).',
    );
  }
  const warnings: string[] = [];
  const baseInputInfo = baseModel.embeddings.input;
  const baseTied = baseModel.embeddings.tied || !baseModel.embeddings.output;
  if (!baseModel.embeddings.tied && !baseModel.embeddings.output) warnings.push('The base has no output head and says it is untied; only the input embedding was transplanted.');
  for (const info of [baseInputInfo, ...(baseTied ? [] : [baseModel.embeddings.output!])]) {
    if (!ENCODABLE.includes(info.dtype)) throw new ModelLensError('unsupported', `tensor "${info.name}" is ${info.dtype}; Model Lens writes F32, F16 and BF16 embeddings`, info.file, 'Convert the base checkpoint to F32, F16 or BF16 first.');
  }
  const baseInput = await loadMatrix(baseInputInfo);
  report(0.4);
  const baseOutput = baseTied ? undefined : await loadMatrix(baseModel.embeddings.output!);
  report(0.6);
  for (const matrix of [baseInput, ...(baseOutput ? [baseOutput] : [])]) {
    if (maxTokenId(baseTokenizer) >= matrix.rows) {
      throw new ModelLensError(
        'mismatch',
        `the base tokenizer has ids up to ${maxTokenId(baseTokenizer)} but its tensor "${matrix.info.name}" has only ${matrix.rows} rows`,
        baseModel.path,
        'The tokenizer and the weights do not belong together; use the tokenizer saved with these weights.',
      );
    }
  }
  if (baseOutput && baseOutput.dim !== baseInput.dim) warnings.push(`The base's input embedding (${baseInput.dim}) and head (${baseOutput.dim}) differ in width; each is handled on its own.`);

  const donorHasWeights = donorModel.format === 'huggingface' && donorModel.embeddings.input !== undefined;
  const needsDonor = [...new Set([...(options.compareOnly ? [] : [chosen]), ...compared].filter((m) => m.needsDonorEmbeddings).map((m) => m.name))];
  if (!donorHasWeights && needsDonor.length > 0) {
    throw new ModelLensError(
      'bad-input',
      `the donor folder has no embedding weights, which ${needsDonor.join(' and ')} need${needsDonor.length === 1 ? 's' : ''}`,
      donorModel.path,
      'Use a donor checkpoint with safetensors weights, or a method that needs only its tokenizer: subword, aux, mean or zero.',
    );
  }
  let donorInput: LoadedMatrix | undefined;
  let donorOutput: LoadedMatrix | undefined;
  if (donorHasWeights) {
    donorInput = await loadMatrix(donorModel.embeddings.input!);
    donorOutput = donorModel.embeddings.output ? await loadMatrix(donorModel.embeddings.output) : donorInput;
    if (!donorModel.embeddings.output && !donorModel.embeddings.tied) warnings.push('The donor has no output head and says it is untied; its input embedding stands in for its head.');
    for (const matrix of new Set([donorInput, donorOutput])) {
      if (maxTokenId(donorTokenizer) >= matrix.rows) {
        throw new ModelLensError(
          'mismatch',
          `the donor tokenizer has ids up to ${maxTokenId(donorTokenizer)} but its tensor "${matrix.info.name}" has only ${matrix.rows} rows`,
          donorModel.path,
          'The tokenizer and the weights do not belong together; use the tokenizer saved with these weights.',
        );
      }
    }
  }
  const donorRows = donorInput?.rows ?? Math.max(embeddingDimsFromConfig(donorModel.config).vocabSize ?? 0, maxTokenId(donorTokenizer) + 1);
  leave();
  checkAborted(signal);

  // ---- match
  enter('match', 'matching the vocabularies');
  const match = await matchVocabulariesAsync(
    { tokenizer: baseTokenizer, rows: baseInput.rows, configRoles: rolesFromConfig(baseModel.config) },
    { tokenizer: donorTokenizer, rows: donorRows, configRoles: rolesFromConfig(donorModel.config) },
    { byteTokens: options.byteTokens, prefixFallback: options.prefixFallback },
    signal,
  );
  if (match.anchorDonorIds.length === 0) {
    throw new ModelLensError('mismatch', 'the base and donor vocabularies share no tokens', undefined, 'Transplantation needs shared tokens as anchors; check that the right folders were chosen.');
  }
  const digits = compareDigitSplitting(baseTokenizer, donorTokenizer);
  if (digits.differs) warnings.push(digits.note);
  leave();
  checkAborted(signal);

  const spaceOf = (matrix: MatrixKind): MatrixSpace => {
    const base = matrix === 'input' ? baseInput : baseOutput!;
    const donor = matrix === 'input' ? donorInput : donorOutput;
    return { matrix, base: base.values, baseRows: base.rows, baseDim: base.dim, donor: donor?.values, donorRows: donor?.rows ?? donorRows, donorDim: donor?.dim ?? 0 };
  };
  const present: MatrixKind[] = baseTied ? ['input'] : ['input', 'output'];
  if (baseTied && matrices.includes('output') && !matrices.includes('input')) warnings.push('The base is tied (one matrix serves as embedding and head); "output" means its input embedding here.');
  const methodMatrices = present.filter((m) => matrices.includes(m) || (baseTied && matrices.includes('output')));

  // ---- self-check
  let selfCheckReport: TransplantReport['selfCheck'] = null;
  if (selfCheck > 0) {
    enter('self-check', `self-check: rebuilding ${Math.round(selfCheck * 100)}% of the shared tokens with ${compare.join(', ')}`);
    selfCheckReport = await runSelfCheck(
      { match, spaces: methodMatrices.map(spaceOf), methods: compared, baseTokenizer, donorTokenizer, fraction: selfCheck, seed },
      { signal, onProgress: (f) => report(f) },
    );
    leave();
  }

  const summary = {
    base: summarise(baseModel, baseTokenizer, baseInput, baseOutput),
    donor: summarise(donorModel, donorTokenizer, donorInput, donorOutput),
  };
  const resolvedOptions: TransplantReport['options'] = {
    method,
    ...(options.k !== undefined ? { k: options.k } : method === 'omp' ? { k: 64 } : {}),
    matrices: methodMatrices,
    byteTokens: options.byteTokens !== false,
    prefixFallback: options.prefixFallback === true,
    selfCheck,
    compare,
    normalizeAtoms: options.normalizeAtoms === true,
    subwordCombine: options.subwordCombine ?? 'mean',
    seed,
    maxShardBytes,
  };
  const matching: TransplantReport['matching'] = {
    rows: match.rows,
    anchors: match.anchorDonorIds.length,
    approximated: match.approximatedIds.length,
    counts: match.counts,
    examples: match.examples,
    unified: match.unified,
    specialTokens: match.specialTokens,
  };
  const finishReport = (output: TransplantReport['output'], matrixReports: MatrixReport[], provenance: TokenProvenance[]): TransplantReport => ({
    version: TRANSPLANT_REPORT_VERSION,
    createdAt: new Date().toISOString(),
    compareOnly: options.compareOnly === true,
    ...summary,
    output,
    options: resolvedOptions,
    matching,
    matrices: matrixReports,
    selfCheck: selfCheckReport,
    digits,
    timings,
    totalSeconds: (performance.now() - startedAt) / 1000,
    provenance,
    warnings,
  });
  if (options.compareOnly) return finishReport(null, [], []);
  checkAborted(signal);

  // ---- approximate
  enter('approximate', `approximating ${match.approximatedIds.length.toLocaleString('en')} new tokens with ${method}`);
  const recipes = new Map<MatrixKind, TokenRecipe[]>();
  const replaced = new Map<string, { matrix: MatrixKind; data: Uint8Array; info: TensorInfo }>();
  const matrixReports: MatrixReport[] = [];
  const fallback = createMethod('mean');
  for (let i = 0; i < present.length; i++) {
    const matrix = present[i];
    const space = spaceOf(matrix);
    const loaded = matrix === 'input' ? baseInput : baseOutput!;
    const useChosen = methodMatrices.includes(matrix);
    const filler = useChosen ? chosen : fallback;
    const made = await filler.approximate(
      {
        space,
        anchorDonorIds: match.anchorDonorIds,
        anchorBaseIds: match.anchorBaseIds,
        targetDonorIds: match.approximatedIds,
        baseTokenizer,
        donorTokenizer,
        recipes: useChosen,
        recipeParts: options.recipeParts,
      },
      { signal, onProgress: (f) => report((i + f) / present.length, `approximating ${match.approximatedIds.length.toLocaleString('en')} new ${matrix} rows with ${filler.name}`) },
    );
    checkAborted(signal);
    if (made.recipes) recipes.set(matrix, made.recipes);
    // The new tensor: copied rows byte for byte, made rows encoded in the base dtype, unused rows zero.
    const dtype = loaded.info.dtype as EncodableDtype;
    const elementBytes = loaded.raw.byteLength / (loaded.rows * loaded.dim);
    const rowBytes = loaded.dim * elementBytes;
    const data = new Uint8Array(match.rows * rowBytes);
    let copied = 0;
    for (let id = 0; id < match.rows; id++) {
      const baseId = match.baseIdOf[id];
      if (baseId < 0) continue;
      data.set(loaded.raw.subarray(baseId * rowBytes, (baseId + 1) * rowBytes), id * rowBytes);
      copied++;
    }
    const encoded = encodeFloat32(made.rows, dtype);
    match.approximatedIds.forEach((id, t) => data.set(encoded.subarray(t * rowBytes, (t + 1) * rowBytes), id * rowBytes));
    replaced.set(loaded.info.name, { matrix, data, info: loaded.info });
    matrixReports.push({
      matrix,
      method: filler.name,
      baseTensor: loaded.info.name,
      ...((matrix === 'input' ? donorInput : donorOutput) ? { donorTensor: (matrix === 'input' ? donorInput : donorOutput)!.info.name } : {}),
      copiedRows: copied,
      madeRows: match.approximatedIds.length,
      zeroRows: match.rows - copied - match.approximatedIds.length,
      ...(made.details ? { details: made.details } : {}),
    });
  }
  const provenance: TokenProvenance[] = Array.from(match.approximatedIds, (id, t) => {
    const entry: TokenProvenance = { id, token: donorTokenizer.idToToken(id) ?? '' };
    const input = recipes.get('input')?.[t];
    const output = recipes.get('output')?.[t];
    if (input) entry.input = input;
    if (output) entry.output = output;
    return entry;
  });
  leave();
  checkAborted(signal);

  // ---- write
  enter('write', `writing ${path.basename(paths.out!)}`);
  const out = paths.out!;
  let temp: string;
  try {
    temp = await fsp.mkdtemp(path.join(path.dirname(out), `.${path.basename(out)}.transplant-`));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelLensError('usage', `cannot create the output folder here (${code ?? String(error)})`, path.dirname(out), 'Choose a folder you can write to.');
  }
  try {
    const tensors: TensorToWrite[] = baseModel.tensors.map((info) => {
      const replacement = replaced.get(info.name);
      if (replacement) return { name: info.name, dtype: info.dtype, shape: [match.rows, info.shape[1]], byteLength: replacement.data.byteLength, source: { data: replacement.data } };
      return { name: info.name, dtype: info.dtype, shape: info.shape, byteLength: info.byteLength, source: { file: info.file, offset: info.offset } };
    });
    const metadata = (await readSafetensorsHeader(baseInputInfo.file)).metadata;
    const weights = await writeSafetensorsShards(temp, tensors, {
      maxShardBytes,
      metadata: Object.keys(metadata).length > 0 ? metadata : { format: 'pt' },
      signal,
      onProgress: (done, total) => report((0.9 * done) / Math.max(1, total)),
    });
    checkAborted(signal);
    const files = [...weights.files];
    const donorIds = donorSpecialIds(donorModel, donorTokenizer);
    await fsp.writeFile(path.join(temp, 'config.json'), `${JSON.stringify(transplantConfig(baseModel.config ?? {}, donorIds, match.rows), null, 2)}\n`);
    files.push('config.json');
    // Other base files (generation config, README, …), then the donor's tokenizer files.
    for (const entry of await fsp.readdir(paths.base, { withFileTypes: true })) {
      const name = entry.name;
      if (name === 'config.json' || name === TRANSPLANT_REPORT_FILE || name.startsWith('.') || TOKENIZER_FILES.has(name) || WEIGHT_FILE.test(name)) continue;
      if (!entry.isFile()) {
        if (entry.isDirectory()) warnings.push(`The base's sub-folder "${name}" was not copied (it may hold weights for the old vocabulary).`);
        continue;
      }
      if (name === 'generation_config.json') {
        const generation = JSON.parse(await fsp.readFile(path.join(paths.base, name), 'utf8')) as Record<string, unknown>;
        const updated = transplantConfig(generation, donorIds, match.rows, false);
        await fsp.writeFile(path.join(temp, name), `${JSON.stringify(updated, null, 2)}\n`);
      } else {
        await fsp.copyFile(path.join(paths.base, name), path.join(temp, name), fsConstants.COPYFILE_EXCL);
      }
      files.push(name);
    }
    for (const entry of await fsp.readdir(paths.donor, { withFileTypes: true })) {
      if (!entry.isFile() || !TOKENIZER_FILES.has(entry.name)) continue;
      await fsp.copyFile(path.join(paths.donor, entry.name), path.join(temp, entry.name), fsConstants.COPYFILE_EXCL);
      files.push(entry.name);
    }
    checkAborted(signal);
    files.push(TRANSPLANT_REPORT_FILE);
    files.sort();
    leave();
    const result = finishReport({ path: out, rows: match.rows, tied: baseTied, sharded: weights.sharded, files, weightBytes: weights.weightBytes }, matrixReports, provenance);
    await fsp.writeFile(path.join(temp, TRANSPLANT_REPORT_FILE), `${JSON.stringify(result)}\n`);
    await fsp.chmod(temp, 0o755); // mkdtemp makes the folder private
    checkAborted(signal);
    if (await statOrUndefined(out)) throw new ModelLensError('usage', 'the output folder appeared while the transplant ran', out, 'Choose a new folder; Model Lens never overwrites one.');
    await fsp.rename(temp, out);
    return result;
  } catch (error) {
    await fsp.rm(temp, { recursive: true, force: true });
    if (signal?.aborted && !(error instanceof ModelLensError && error.code === 'cancelled')) throw cancelled();
    throw error;
  }
}
