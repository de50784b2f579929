/**
 * A plain TypeScript Backpack forward pass (REFERENCES §2), written loop by loop from the architecture with no ONNX,
 * used only by tests as the reference the ONNX graph must agree with. One sequence at a time, float64 accumulation.
 */
import type { BackpackWeights } from '../../server/features/backpack/backpackWeights';

export interface ReferenceEdits {
  /** Added to C(x)_ℓ: token id → [senses·d]. */
  delta?: ReadonlyMap<number, Float32Array>;
  /** Multiplies the contribution of C(x)_ℓ: token id → [senses]. */
  scale?: ReadonlyMap<number, Float32Array>;
}

export interface ReferenceOutputs {
  /** [s, V] */
  logits: Float64Array;
  /** [senses, s, d] */
  senses: Float64Array;
  /** [senses, s, s] */
  contextualization: Float64Array;
}

type Rows = Float64Array<ArrayBufferLike>; // [n, width], row-major

function get(weights: BackpackWeights, name: string): Float32Array {
  const w = weights.tensors.get(name);
  if (!w) throw new Error(`missing ${name}`);
  return w;
}

function layerNorm(x: Rows, n: number, width: number, gain: Float32Array, bias: Float32Array, eps: number): Rows {
  const out = new Float64Array(n * width);
  for (let r = 0; r < n; r++) {
    let mean = 0;
    for (let c = 0; c < width; c++) mean += x[r * width + c];
    mean /= width;
    let variance = 0;
    for (let c = 0; c < width; c++) variance += (x[r * width + c] - mean) ** 2;
    variance /= width;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < width; c++) out[r * width + c] = (x[r * width + c] - mean) * inv * gain[c] + bias[c];
  }
  return out;
}

/** x [n, in] · W [in, out] + b */
function affine(x: Rows, n: number, inWidth: number, w: Float32Array, b: Float32Array, outWidth: number): Rows {
  const out = new Float64Array(n * outWidth);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < outWidth; o++) out[r * outWidth + o] = b[o];
    for (let i = 0; i < inWidth; i++) {
      const xi = x[r * inWidth + i];
      for (let o = 0; o < outWidth; o++) out[r * outWidth + o] += xi * w[i * outWidth + o];
    }
  }
  return out;
}

const geluNew = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

function mlp(weights: BackpackWeights, prefix: string, x: Rows, n: number, width: number, inner: number, outWidth: number): Rows {
  const hidden = affine(x, n, width, get(weights, `${prefix}.c_fc.weight`), get(weights, `${prefix}.c_fc.bias`), inner).map(geluNew);
  return affine(hidden, n, inner, get(weights, `${prefix}.c_proj.weight`), get(weights, `${prefix}.c_proj.bias`), outWidth);
}

function add(a: Rows, b: Rows): Rows {
  return a.map((v, i) => v + b[i]);
}

/** Causal softmax attention of one head: scores q_i·k_j · scale, j ≤ i. */
function causalSoftmax(s: number, score: (i: number, j: number) => number): Float64Array {
  const probs = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    let max = -Infinity;
    for (let j = 0; j <= i; j++) max = Math.max(max, score(i, j));
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += probs[i * s + j] = Math.exp(score(i, j) - max);
    for (let j = 0; j <= i; j++) probs[i * s + j] /= sum;
  }
  return probs;
}

export function referenceBackpackForward(weights: BackpackWeights, ids: readonly number[], edits: ReferenceEdits = {}): ReferenceOutputs {
  const c = weights.config;
  const d = c.hidden;
  const s = ids.length;
  const eps = c.layerNormEpsilon;
  const wte = get(weights, 'backpack.gpt2_model.wte.weight');
  const wpe = get(weights, 'backpack.gpt2_model.wpe.weight');
  const tokens = new Float64Array(s * d);
  ids.forEach((id, t) => {
    for (let k = 0; k < d; k++) tokens[t * d + k] = wte[id * d + k];
  });

  // GPT-2
  let x: Rows = tokens.map((v, i) => v + wpe[Math.floor(i / d) * d + (i % d)]);
  const headSize = d / c.heads;
  for (let layer = 0; layer < c.layers; layer++) {
    const p = `backpack.gpt2_model.h.${layer}`;
    const a = layerNorm(x, s, d, get(weights, `${p}.ln_1.weight`), get(weights, `${p}.ln_1.bias`), eps);
    const qkv = affine(a, s, d, get(weights, `${p}.attn.c_attn.weight`), get(weights, `${p}.attn.c_attn.bias`), 3 * d);
    const merged = new Float64Array(s * d);
    const scale = 1 / (Math.sqrt(headSize) * (c.scaleAttentionByLayer ? layer + 1 : 1));
    for (let h = 0; h < c.heads; h++) {
      const at = (t: number, part: number, k: number) => qkv[t * 3 * d + part * d + h * headSize + k];
      const probs = causalSoftmax(s, (i, j) => {
        let dot = 0;
        for (let k = 0; k < headSize; k++) dot += at(i, 0, k) * at(j, 1, k);
        return dot * scale;
      });
      for (let i = 0; i < s; i++) {
        for (let k = 0; k < headSize; k++) {
          let sum = 0;
          for (let j = 0; j <= i; j++) sum += probs[i * s + j] * at(j, 2, k);
          merged[i * d + h * headSize + k] = sum;
        }
      }
    }
    x = add(x, affine(merged, s, d, get(weights, `${p}.attn.c_proj.weight`), get(weights, `${p}.attn.c_proj.bias`), d));
    const m = layerNorm(x, s, d, get(weights, `${p}.ln_2.weight`), get(weights, `${p}.ln_2.bias`), eps);
    x = add(x, mlp(weights, `${p}.mlp`, m, s, d, c.mlpIntermediate, d));
  }
  const contextual = layerNorm(x, s, d, get(weights, 'backpack.gpt2_model.ln_f.weight'), get(weights, 'backpack.gpt2_model.ln_f.bias'), eps);

  // Weight network: nn.Linear [out, in]; out = [q | k], each split into `senses` heads
  const wn = get(weights, 'backpack.sense_weight_net.c_attn.weight');
  const wnBias = get(weights, 'backpack.sense_weight_net.c_attn.bias');
  const qk = new Float64Array(s * 2 * d);
  for (let t = 0; t < s; t++) {
    for (let o = 0; o < 2 * d; o++) {
      let sum = wnBias[o];
      for (let i = 0; i < d; i++) sum += contextual[t * d + i] * wn[o * d + i];
      qk[t * 2 * d + o] = sum;
    }
  }
  const senseHead = d / c.senses;
  const contextualization = new Float64Array(c.senses * s * s);
  for (let l = 0; l < c.senses; l++) {
    const probs = causalSoftmax(s, (i, j) => {
      let dot = 0;
      for (let k = 0; k < senseHead; k++) dot += qk[i * 2 * d + l * senseHead + k] * qk[j * 2 * d + d + l * senseHead + k];
      return dot / Math.sqrt(senseHead);
    });
    contextualization.set(probs, l * s * s);
  }

  // Sense network
  const p = 'backpack.sense_network';
  const h0 = layerNorm(tokens, s, d, get(weights, `${p}.ln.weight`), get(weights, `${p}.ln.bias`), eps);
  const r1 = add(h0, tokens);
  const h1 = layerNorm(r1, s, d, get(weights, `${p}.block.ln_1.weight`), get(weights, `${p}.block.ln_1.bias`), eps);
  const r2 = add(r1, mlp(weights, `${p}.block.mlp`, h1, s, d, c.mlpIntermediate, d));
  const h2 = layerNorm(r2, s, d, get(weights, `${p}.block.ln_2.weight`), get(weights, `${p}.block.ln_2.bias`), eps);
  const flat = mlp(weights, `${p}.final_mlp`, h2, s, d, c.senseIntermediate, c.senses * d); // [s, senses·d]
  const senses = new Float64Array(c.senses * s * d);
  for (let t = 0; t < s; t++) {
    const delta = edits.delta?.get(ids[t]);
    for (let l = 0; l < c.senses; l++) {
      for (let k = 0; k < d; k++) senses[(l * s + t) * d + k] = flat[t * c.senses * d + l * d + k] + (delta ? delta[l * d + k] : 0);
    }
  }

  // Output and tied logits
  const logits = new Float64Array(s * c.vocabSize);
  const o = new Float64Array(d);
  for (let i = 0; i < s; i++) {
    o.fill(0);
    for (let l = 0; l < c.senses; l++) {
      for (let j = 0; j <= i; j++) {
        const weight = contextualization[(l * s + i) * s + j] * (edits.scale?.get(ids[j])?.[l] ?? 1);
        for (let k = 0; k < d; k++) o[k] += weight * senses[(l * s + j) * d + k];
      }
    }
    for (let v = 0; v < c.vocabSize; v++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += wte[v * d + k] * o[k];
      logits[i * c.vocabSize + v] = dot;
    }
  }
  return { logits, senses, contextualization };
}
