/**
 * A Backpack ready to run: its config, its weights (one float32 copy), its tokenizer, its sense edits, and the ONNX
 * Runtime session of the graph built in code (backpackGraph.ts). An ONNX file that already has the three Backpack
 * outputs runs as it is (view only: its edits, if any, are baked in).
 *
 * onnxruntime-node runs a session on the calling thread, so the server runs all of this in the Backpack worker thread
 * (backpackWorker.ts); the CLI and the tests call it directly.
 */
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { badInput, unsupported } from '../../errors';
import type { OpenedModel } from '../../registry/types';
import type { TokenizerHandle } from '../../tokenization/tokenizer';
import { isBackpackConfig, parseBackpackConfig, type BackpackConfig } from './backpackConfig';
import { BACKPACK_OUTPUTS, buildBackpackGraph, buildSenseGraph, EDIT_DELTA, EDIT_INDEX, EDIT_SCALE, senseNetworkTensorNames } from './backpackGraph';
import { backpackTensorSpecs, loadBackpackWeights, WORD_EMBEDDING, type BackpackWeights } from './backpackWeights';
import { journalEdits, restoreJournaledEdits } from './editRecovery';
import { SenseEdits } from './senseEdits';

export interface BackpackOutputs {
  batch: number;
  length: number;
  /** [b, s, V] */
  logits: Float32Array;
  /** [b, senses, s, d] (edited) */
  senses: Float32Array;
  /** [b, senses, s, s]: α, rows sum to 1 over source positions */
  contextualization: Float32Array;
}

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 };

export class BackpackModel {
  private readonly weightFeeds: Record<string, ort.Tensor>;
  private editFeeds?: Record<string, ort.Tensor>;
  private journal: Promise<void> = Promise.resolve();
  private senseSession?: Promise<ort.InferenceSession>;
  /** True when unsaved edits from an earlier session were restored on open (see editRecovery.ts). */
  restoredUnsavedEdits = false;

  private constructor(
    readonly model: OpenedModel,
    readonly config: BackpackConfig,
    /** The tied embedding E [V, d]: scores senses and makes logits. */
    readonly embedding: Float32Array,
    readonly tokenizer: TokenizerHandle,
    private readonly session: ort.InferenceSession,
    /** The float32 weights; undefined for a view-only ONNX Backpack. */
    readonly weights: BackpackWeights | undefined,
    /** Undefined for a view-only ONNX Backpack. */
    readonly edits: SenseEdits | undefined,
  ) {
    this.weightFeeds = {};
    if (weights) {
      for (const spec of backpackTensorSpecs(config)) this.weightFeeds[spec.name] = new ort.Tensor('float32', weights.tensors.get(spec.name)!, spec.shape);
    }
  }

  /** Opens a backpack-gpt2 folder (safetensors) or an ONNX file with the three Backpack outputs. */
  static async open(model: OpenedModel): Promise<BackpackModel> {
    if (!model.tokenizer) throw badInput(model.path, 'has no tokenizer.json, which a Backpack needs to turn text into ids.', 'Put the GPT-2 tokenizer.json beside the model.');
    if (model.format === 'onnx') return BackpackModel.openOnnx(model, model.tokenizer);
    if (model.format !== 'huggingface' || !isBackpackConfig(model.config)) {
      throw unsupported(model.path, 'is not a Backpack language model (config.json has no model_type "backpack-gpt2").', 'Open a backpack-gpt2 folder, e.g. stanfordnlp/backpack-gpt2 converted to safetensors.');
    }
    const config = parseBackpackConfig(model.config!, path.join(model.path, 'config.json'));
    const weights = await loadBackpackWeights(model, config);
    const session = await ort.InferenceSession.create(buildBackpackGraph(config), SESSION_OPTIONS);
    const edits = new SenseEdits(config);
    edits.savedTo = model.path;
    await edits.load(model.path);
    const backpack = new BackpackModel(model, config, weights.tensors.get(WORD_EMBEDDING)!, model.tokenizer, session, weights, edits);
    backpack.restoredUnsavedEdits = await restoreJournaledEdits(model.path, edits);
    return backpack;
  }

  private static async openOnnx(model: OpenedModel, tokenizer: TokenizerHandle): Promise<BackpackModel> {
    const session = await ort.InferenceSession.create(model.path, SESSION_OPTIONS);
    const missing = BACKPACK_OUTPUTS.filter((name) => !session.outputNames.includes(name));
    if (missing.length > 0 || !session.inputNames.includes('input_ids')) {
      await session.release();
      throw unsupported(model.path, `is not a Backpack ONNX model (needs input_ids and outputs ${BACKPACK_OUTPUTS.join(', ')}; missing ${[...missing, ...(session.inputNames.includes('input_ids') ? [] : ['input_ids'])].join(', ')}).`, 'Export it with Model Lens (Export Edited Model…) or open the backpack-gpt2 safetensors folder.');
    }
    const embeddingInfo = model.embeddings.input;
    if (!embeddingInfo) throw badInput(model.path, 'has no token embedding Model Lens can find (the initializer feeding the first Gather on input_ids).');
    const embedding = await model.readTensor(embeddingInfo.name);
    const [vocabSize, hidden] = embeddingInfo.shape;
    const probe = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.of(0n), [1, 1]) });
    const sensesDims = probe.senses.dims;
    const config: BackpackConfig = {
      vocabSize, hidden, senses: Number(sensesDims[1]), layers: 0, heads: 0, positions: Number(model.config?.n_positions ?? 512),
      senseIntermediate: 0, mlpIntermediate: 0, layerNormEpsilon: 1e-5, scaleAttentionByLayer: true,
    };
    return new BackpackModel(model, config, embedding, tokenizer, session, undefined, undefined);
  }

  get editable(): boolean {
    return this.edits !== undefined;
  }

  /** Call after changing `edits`, so the next run sees them (and unsaved ones are journaled, one write at a time). */
  editsChanged(): void {
    this.editFeeds = undefined;
    const edits = this.edits;
    if (edits) this.journal = this.journal.then(() => journalEdits(this.model.path, edits)).catch(() => undefined);
  }

  /** Resolves when the journal has caught up with the latest change. */
  journaled(): Promise<void> {
    return this.journal;
  }

  private feedsForEdits(): Record<string, ort.Tensor> {
    if (!this.edits) return {};
    if (!this.editFeeds) {
      const tables = this.edits.tables();
      const { senses, hidden, vocabSize } = this.config;
      this.editFeeds = {
        [EDIT_INDEX]: new ort.Tensor('int64', tables.index, [vocabSize]),
        [EDIT_DELTA]: new ort.Tensor('float32', tables.delta, [tables.rows, senses * hidden]),
        [EDIT_SCALE]: new ort.Tensor('float32', tables.scale, [tables.rows, senses]),
      };
    }
    return this.editFeeds;
  }

  /** The sense-network weights and edit tables, as feeds for other graphs over the same tensors (sense search). */
  senseNetworkFeeds(names: readonly string[]): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of names) {
      const tensor = this.weightFeeds[name];
      if (!tensor) throw unsupported(this.model.path, 'is an ONNX Backpack, whose sense network cannot be run on its own.', 'Open the backpack-gpt2 safetensors folder for sense search.');
      feeds[name] = tensor;
    }
    const edits = this.feedsForEdits();
    feeds[EDIT_INDEX] = edits[EDIT_INDEX];
    feeds[EDIT_DELTA] = edits[EDIT_DELTA];
    return feeds;
  }

  /** Runs sequences of equal length (a batch) through the model. */
  async forward(sequences: readonly (readonly number[])[]): Promise<BackpackOutputs> {
    const batch = sequences.length;
    const length = sequences[0]?.length ?? 0;
    if (batch === 0 || length === 0) throw new RangeError('forward needs at least one token');
    if (length > this.config.positions) throw new RangeError(`sequence of ${length} tokens is longer than the model's ${this.config.positions} positions`);
    const ids = new BigInt64Array(batch * length);
    sequences.forEach((sequence, b) => {
      if (sequence.length !== length) throw new RangeError('sequences in one batch must have the same length');
      sequence.forEach((id, t) => {
        if (!Number.isSafeInteger(id) || id < 0 || id >= this.config.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary (${this.config.vocabSize})`);
        ids[b * length + t] = BigInt(id);
      });
    });
    const result = await this.session.run({ input_ids: new ort.Tensor('int64', ids, [batch, length]), ...this.weightFeeds, ...this.feedsForEdits() });
    return {
      batch,
      length,
      logits: result.logits.data as Float32Array,
      senses: result.senses.data as Float32Array,
      contextualization: result.contextualization.data as Float32Array,
    };
  }

  /** Logits for the token after `ids` (the last position), keeping the last `positions` tokens. */
  async nextTokenLogits(ids: readonly number[]): Promise<Float32Array> {
    const window = ids.slice(-this.config.positions);
    const out = await this.forward([window]);
    const V = this.config.vocabSize;
    return out.logits.slice((window.length - 1) * V, window.length * V);
  }

  /**
   * The (edited) sense vectors of each token: [n, senses, d]. The sense network alone runs, not the GPT-2 and the
   * vocabulary logits; a view-only ONNX Backpack has only its whole graph, run on one-token sequences.
   */
  async senseVectors(tokenIds: readonly number[]): Promise<Float32Array> {
    for (const id of tokenIds) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= this.config.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary (${this.config.vocabSize})`);
    }
    if (!this.weights) return (await this.forward(tokenIds.map((id) => [id]))).senses; // [n, senses, 1, d] is [n, senses, d]
    this.senseSession ??= ort.InferenceSession.create(buildSenseGraph(this.config), SESSION_OPTIONS);
    const session = await this.senseSession;
    const ids = BigInt64Array.from(tokenIds.map((id) => BigInt(id)));
    const out = await session.run({ ...this.senseNetworkFeeds(senseNetworkTensorNames(this.config)), token_ids: new ort.Tensor('int64', ids, [ids.length]) });
    return out.senses.data as Float32Array;
  }

  tokenText(id: number): string {
    return this.tokenizer.decode([id]);
  }

  async release(): Promise<void> {
    await (await this.senseSession)?.release();
    await this.session.release();
  }
}

const opened = new WeakMap<OpenedModel, Promise<BackpackModel>>();

/** The Backpack for an opened model, built once and shared by every feature. */
export function openBackpack(model: OpenedModel): Promise<BackpackModel> {
  let backpack = opened.get(model);
  if (!backpack) {
    backpack = BackpackModel.open(model);
    backpack.catch(() => opened.delete(model));
    opened.set(model, backpack);
  }
  return backpack;
}

/** Cheap check (config or ONNX outputs are not read here): could this opened model be a Backpack? */
export function looksLikeBackpack(model: OpenedModel): boolean {
  return model.format === 'huggingface' ? isBackpackConfig(model.config) : false;
}
