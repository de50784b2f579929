/**
 * The Backpack forward pass as an ONNX graph, built in code from the config (REFERENCES §2), so a backpack-gpt2
 * folder runs in onnxruntime-node with no Python step.
 *
 * Inputs: `input_ids` [b, s] int64, and three edit tables that let sense edits change without rebuilding anything:
 * - `sense_edit_index` [V] int64: 0 for an unedited word, else its row in the two tables below;
 * - `sense_edit_delta` [rows, senses·d]: added to the word's sense vectors (row 0 is zeros);
 * - `sense_edit_scale` [rows, senses]: multiplies the word's sense contributions to the output, i.e. α at the
 *   positions holding it (row 0 is ones).
 * Outputs: `logits` [b, s, V], `senses` [b, senses, s, d] (with deltas), `contextualization` [b, senses, s, s].
 *
 * Weights are either graph inputs (the live model: one float32 copy in the server, which ONNX Runtime reads in place)
 * or initializers in an external data file (an exported model that runs anywhere with `input_ids` alone).
 */
import { buildOnnxModel, float, int, ints, OnnxType, type OnnxInitializer, type OnnxNode, type OnnxValueInfo } from '../../kernels/onnxGraph';
import type { BackpackConfig } from './backpackConfig';
import { backpackTensorSpecs, WORD_EMBEDDING } from './backpackWeights';

export const EDIT_INDEX = 'sense_edit_index';
export const EDIT_DELTA = 'sense_edit_delta';
export const EDIT_SCALE = 'sense_edit_scale';
export const BACKPACK_OUTPUTS = ['logits', 'senses', 'contextualization'] as const;

/** Where the weights and edit tables come from. */
export type BackpackGraphConstants =
  | { kind: 'inputs' }
  | {
      kind: 'external';
      /** The data file's name, relative to the .onnx file. */
      location: string;
      /** Byte ranges of each weight and edit table in that file. */
      ranges: ReadonlyMap<string, { offset: number; length: number }>;
      /** Rows of the edit tables. */
      editRows: number;
    };

/** Emits nodes with fresh value names; each method returns the output name(s). */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  op(op: string, inputs: readonly string[], attributes?: OnnxNode['attributes'], outputCount = 1): string[] {
    const outputs = Array.from({ length: outputCount }, () => `${op.toLowerCase()}_${this.counter++}`);
    this.nodes.push({ op, inputs, outputs, attributes });
    return outputs;
  }

  one(op: string, inputs: readonly string[], attributes?: OnnxNode['attributes']): string {
    return this.op(op, inputs, attributes)[0];
  }

  int64(values: readonly number[], scalar = false): string {
    const key = `i:${scalar}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.counter++}`;
      this.initializers.push({ name, dims: scalar ? [] : [values.length], int64: values });
      this.constants.set(key, name);
    }
    return name;
  }

  scalar(value: number): string {
    const key = `f:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `const_${this.counter++}`;
      this.initializers.push({ name, dims: [], float32: Float32Array.of(value) });
      this.constants.set(key, name);
    }
    return name;
  }

  layerNorm(x: string, prefix: string, epsilon: number): string {
    return this.one('LayerNormalization', [x, `${prefix}.weight`, `${prefix}.bias`], { axis: int(-1), epsilon: float(epsilon) });
  }

  /** x·W + b for a GPT-2 Conv1D ([in, out] weight). */
  conv1d(x: string, prefix: string): string {
    return this.one('Add', [this.one('MatMul', [x, `${prefix}.weight`]), `${prefix}.bias`]);
  }

  /** gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  geluNew(x: string): string {
    const cube = this.one('Mul', [this.one('Mul', [x, x]), x]);
    const inner = this.one('Mul', [this.one('Add', [x, this.one('Mul', [cube, this.scalar(0.044715)])]), this.scalar(Math.sqrt(2 / Math.PI))]);
    const gate = this.one('Add', [this.one('Tanh', [inner]), this.scalar(1)]);
    return this.one('Mul', [this.one('Mul', [x, gate]), this.scalar(0.5)]);
  }

  mlp(x: string, prefix: string): string {
    return this.conv1d(this.geluNew(this.conv1d(x, `${prefix}.c_fc`)), `${prefix}.c_proj`);
  }
}

/** The causal self-attention helpers for a sequence of `ids` ([b, s]): masked softmax(q·kᵀ·scale)·v. */
function emitCausalAttention(g: GraphBuilder, ids: string) {
  // Sizes known only at run time, and the causal mask bias: 0 on and below the diagonal, −10000 above.
  const idsShape = g.one('Shape', [ids]);
  const seqLength = g.one('Gather', [idsShape, g.int64([1], true)], { axis: int(0) });
  const seqLength1d = g.one('Unsqueeze', [seqLength, g.int64([0])]);
  const square = g.one('Concat', [seqLength1d, seqLength1d], { axis: int(0) });
  const lower = g.one('Trilu', [g.one('Expand', [g.scalar(1), square])], { upper: int(0) });
  const maskBias = g.one('Mul', [g.one('Sub', [lower, g.scalar(1)]), g.scalar(10000)]);
  const attention = (q: string, kT: string, v: string | undefined, scale: number): string => {
    const scores = g.one('Add', [g.one('Mul', [g.one('MatMul', [q, kT]), g.scalar(scale)]), maskBias]);
    const probs = g.one('Softmax', [scores], { axis: int(-1) });
    return v === undefined ? probs : g.one('MatMul', [probs, v]);
  };
  return { idsShape, seqLength, attention };
}

/**
 * A GPT-2 over `ids` with its tensors under `prefix` (`{prefix}.wte.weight`, `.wpe`, `.h.{i}.…`, `.ln_f`): the Backpack's
 * contextualiser, and a plain GPT-2 language model (for test fixtures). Returns the final-norm hidden states.
 */
export function emitGpt2(g: GraphBuilder, config: Pick<BackpackConfig, 'hidden' | 'heads' | 'layers' | 'layerNormEpsilon' | 'scaleAttentionByLayer'>, prefix: string, ids: string) {
  const d = config.hidden;
  const headSize = d / config.heads;
  const { idsShape, seqLength, attention } = emitCausalAttention(g, ids);
  const positions = g.one('Range', [g.int64([0], true), seqLength, g.int64([1], true)]);
  const tokenEmbeddings = g.one('Gather', [`${prefix}.wte.weight`, ids], { axis: int(0) });
  let x = g.one('Add', [tokenEmbeddings, g.one('Gather', [`${prefix}.wpe.weight`, positions], { axis: int(0) })]);
  const splitHeads = g.int64([0, 0, config.heads, headSize]);
  for (let layer = 0; layer < config.layers; layer++) {
    const p = `${prefix}.h.${layer}`;
    const qkv = g.conv1d(g.layerNorm(x, `${p}.ln_1`, config.layerNormEpsilon), `${p}.attn.c_attn`);
    const [q, k, v] = g.op('Split', [qkv, g.int64([d, d, d])], { axis: int(2) }, 3).map((part) => g.one('Reshape', [part, splitHeads]));
    const scale = 1 / (Math.sqrt(headSize) * (config.scaleAttentionByLayer ? layer + 1 : 1));
    const context = attention(
      g.one('Transpose', [q], { perm: ints([0, 2, 1, 3]) }),
      g.one('Transpose', [k], { perm: ints([0, 2, 3, 1]) }),
      g.one('Transpose', [v], { perm: ints([0, 2, 1, 3]) }),
      scale,
    );
    const merged = g.one('Reshape', [g.one('Transpose', [context], { perm: ints([0, 2, 1, 3]) }), g.int64([0, 0, d])]);
    x = g.one('Add', [x, g.conv1d(merged, `${p}.attn.c_proj`)]);
    x = g.one('Add', [x, g.mlp(g.layerNorm(x, `${p}.ln_2`, config.layerNormEpsilon), `${p}.mlp`)]);
  }
  return { idsShape, attention, tokenEmbeddings, contextual: g.layerNorm(x, `${prefix}.ln_f`, config.layerNormEpsilon) };
}

/** The sense network on token embeddings [.., d] plus the edit deltas gathered by id: [.., senses·d]. */
function emitSenseNetwork(g: GraphBuilder, config: BackpackConfig, tokenEmbeddings: string, ids = 'input_ids'): { editedFlat: string; editRow: string } {
  const eps = config.layerNormEpsilon;
  // Context-free: the token embedding alone, no positions.
  const senseResidual = g.one('Add', [g.layerNorm(tokenEmbeddings, 'backpack.sense_network.ln', eps), tokenEmbeddings]);
  const blockOut = g.one('Add', [senseResidual, g.mlp(g.layerNorm(senseResidual, 'backpack.sense_network.block.ln_1', eps), 'backpack.sense_network.block.mlp')]);
  const senseFlat = g.mlp(g.layerNorm(blockOut, 'backpack.sense_network.block.ln_2', eps), 'backpack.sense_network.final_mlp');
  const editRow = g.one('Gather', [EDIT_INDEX, ids], { axis: int(0) });
  return { editedFlat: g.one('Add', [senseFlat, g.one('Gather', [EDIT_DELTA, editRow], { axis: int(0) })]), editRow };
}

export function valueInfo(name: string, type: OnnxValueInfo['type'], dims: OnnxValueInfo['dims']): OnnxValueInfo {
  return { name, type, dims };
}

/** The ONNX model bytes for a Backpack of this shape. */
export function buildBackpackGraph(config: BackpackConfig, constants: BackpackGraphConstants = { kind: 'inputs' }): Uint8Array {
  const g = new GraphBuilder();
  const d = config.hidden;
  const senseHeadSize = d / config.senses;

  const { idsShape, attention, contextual, tokenEmbeddings } = emitGpt2(g, config, 'backpack.gpt2_model', 'input_ids');

  // --- Weight network: 16 heads of query·key over the contextual states, softmax over source positions
  const weightNetWeightT = g.one('Transpose', ['backpack.sense_weight_net.c_attn.weight'], { perm: ints([1, 0]) });
  const queriesKeys = g.one('Add', [g.one('MatMul', [contextual, weightNetWeightT]), 'backpack.sense_weight_net.c_attn.bias']);
  const perSense = g.one('Reshape', [queriesKeys, g.int64([0, 0, 2, config.senses, senseHeadSize])]);
  const senseQueries = g.one('Gather', [perSense, g.int64([0], true)], { axis: int(2) });
  const senseKeys = g.one('Gather', [perSense, g.int64([1], true)], { axis: int(2) });
  g.nodes.push({
    op: 'Identity',
    inputs: [
      attention(
        g.one('Transpose', [senseQueries], { perm: ints([0, 2, 1, 3]) }),
        g.one('Transpose', [senseKeys], { perm: ints([0, 2, 3, 1]) }),
        undefined,
        1 / Math.sqrt(senseHeadSize),
      ),
    ],
    outputs: ['contextualization'],
  });

  const { editedFlat, editRow } = emitSenseNetwork(g, config, tokenEmbeddings);
  const senses = g.one('Reshape', [editedFlat, g.int64([0, 0, config.senses, d])]);
  g.nodes.push({ op: 'Transpose', inputs: [senses], outputs: ['senses'], attributes: { perm: ints([0, 2, 1, 3]) } });
  const scale = g.one('Unsqueeze', [g.one('Transpose', [g.one('Gather', [EDIT_SCALE, editRow], { axis: int(0) })], { perm: ints([0, 2, 1]) }), g.int64([3])]);

  // --- Output: o_i = Σ_ℓ Σ_j α[ℓ,i,j]·C(x_j)_ℓ, logits = E·o_i with the tied embedding
  const perSenseOut = g.one('MatMul', ['contextualization', g.one('Mul', ['senses', scale])]);
  const summed = g.one('ReduceSum', [perSenseOut, g.int64([1])], { keepdims: int(0) });
  const flatLogits = g.one('Gemm', [g.one('Reshape', [summed, g.int64([-1, d])]), WORD_EMBEDDING], { transB: int(1) });
  const logitsShape = g.one('Concat', [idsShape, g.int64([-1])], { axis: int(0) });
  g.nodes.push({ op: 'Reshape', inputs: [flatLogits, logitsShape], outputs: ['logits'] });

  const batch = 'batch';
  const seq = 'sequence';
  const outputs = [
    valueInfo('logits', OnnxType.float, [batch, seq, config.vocabSize]),
    valueInfo('senses', OnnxType.float, [batch, config.senses, seq, d]),
    valueInfo('contextualization', OnnxType.float, [batch, config.senses, seq, seq]),
  ];
  const constantInfos: OnnxValueInfo[] = [
    ...backpackTensorSpecs(config).map((spec) => valueInfo(spec.name, OnnxType.float, spec.shape)),
    valueInfo(EDIT_INDEX, OnnxType.int64, [config.vocabSize]),
    valueInfo(EDIT_DELTA, OnnxType.float, ['edit_rows', config.senses * d]),
    valueInfo(EDIT_SCALE, OnnxType.float, ['edit_rows', config.senses]),
  ];
  const inputs = [valueInfo('input_ids', OnnxType.int64, [batch, seq])];
  if (constants.kind === 'inputs') {
    inputs.push(...constantInfos);
  } else {
    for (const info of constantInfos) {
      const range = constants.ranges.get(info.name);
      if (!range) throw new Error(`no data range for ${info.name}`);
      const dims = info.dims.map((dim) => (typeof dim === 'number' ? dim : constants.editRows));
      g.initializers.push({ name: info.name, dims, type: info.type, external: { location: constants.location, ...range } });
    }
  }
  return buildOnnxModel({ name: 'backpack', inputs, outputs, nodes: g.nodes, initializers: g.initializers, opset: 17 });
}

/** The sense-network tensors (and E) the search graph reads. */
export function senseNetworkTensorNames(config: BackpackConfig): string[] {
  return backpackTensorSpecs(config)
    .map((spec) => spec.name)
    .filter((name) => name === WORD_EMBEDDING || name.startsWith('backpack.sense_network.'));
}

/**
 * The sense network alone, for a batch of words: their (edited) sense vectors, without the GPT-2 and the vocabulary
 * logits a full forward pass would compute. Inputs: `token_ids` [n], the sense-network weights, the edit tables.
 * Output: `senses` [n, senses, d].
 *
 * With `screen`, it also scores the senses for sense search: for a query embedding q, how far q·C stands above the
 * vocabulary's mean score, in standard deviations, z = (q·C − ē·C) / √(Cᵀ Σ_E C), where ē and Σ_E are the mean and
 * covariance of E's rows. A word ranks near the top of a sense exactly when its z is large, so z screens all (word,
 * sense) pairs without scoring the whole vocabulary against each. Extra inputs `query` [d], `mean` [d],
 * `covariance` [d, d]; extra outputs `z` and `raw` (q·C) [n, senses].
 */
export function buildSenseGraph(config: BackpackConfig, options: { screen?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder();
  const d = config.hidden;
  const tokenEmbeddings = g.one('Gather', [WORD_EMBEDDING, 'token_ids'], { axis: int(0) });
  const { editedFlat } = emitSenseNetwork(g, config, tokenEmbeddings, 'token_ids');
  g.nodes.push({ op: 'Reshape', inputs: [editedFlat, g.int64([0, config.senses, d])], outputs: ['senses'] });
  const specs = new Map(backpackTensorSpecs(config).map((spec) => [spec.name, spec.shape]));
  const inputs: OnnxValueInfo[] = [
    valueInfo('token_ids', OnnxType.int64, ['n']),
    ...senseNetworkTensorNames(config).map((name) => valueInfo(name, OnnxType.float, specs.get(name)!)),
    valueInfo(EDIT_INDEX, OnnxType.int64, [config.vocabSize]),
    valueInfo(EDIT_DELTA, OnnxType.float, ['edit_rows', config.senses * d]),
  ];
  const outputs = [valueInfo('senses', OnnxType.float, ['n', config.senses, d])];
  if (options.screen) {
    g.nodes.push({ op: 'MatMul', inputs: ['senses', 'query'], outputs: ['raw'] });
    const meanScore = g.one('MatMul', ['senses', 'mean']);
    const spread = g.one('ReduceSum', [g.one('Mul', [g.one('MatMul', ['senses', 'covariance']), 'senses']), g.int64([2])], { keepdims: int(0) });
    const std = g.one('Sqrt', [g.one('Add', [spread, g.scalar(1e-12)])]);
    g.nodes.push({ op: 'Div', inputs: [g.one('Sub', ['raw', meanScore]), std], outputs: ['z'] });
    inputs.push(valueInfo('query', OnnxType.float, [d]), valueInfo('mean', OnnxType.float, [d]), valueInfo('covariance', OnnxType.float, [d, d]));
    outputs.push(valueInfo('z', OnnxType.float, ['n', config.senses]), valueInfo('raw', OnnxType.float, ['n', config.senses]));
  }
  return buildOnnxModel({ name: options.screen ? 'sense-search' : 'senses', inputs, outputs, nodes: g.nodes, initializers: g.initializers, opset: 17 });
}
