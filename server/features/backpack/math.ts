/** Small numeric helpers shared by the Backpack features. */

/** Replaces `values` by softmax(values), stably (max subtracted); returns it. */
export function softmaxInPlace(values: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] = Math.exp(values[i] - max);
  for (let i = 0; i < values.length; i++) values[i] /= sum;
  return values;
}
