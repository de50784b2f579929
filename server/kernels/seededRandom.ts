/**
 * Seeded pseudo-random numbers for reproducible experiments (network initialisation, permutations, sampled test sets,
 * prompts). Not cryptographic. The generator is mulberry32 (32-bit state, period 2^32); seeds for sub-streams
 * (member b of an ensemble, cell (k, shots) of a probe) are mixed with a splitmix-style hash, so stream b does not
 * depend on how many other streams exist or the order they are drawn in.
 */

/** A 32-bit integer hash of several integers (splitmix32 finaliser over a running mix). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
    // fold in the high bits of large (non-32-bit) seeds, too
    const high = Math.floor(part / 4294967296) >>> 0;
    if (high) h = Math.imul(h ^ high, 0x27d4eb2f) >>> 0;
  }
  return h >>> 0;
}

export class SeededRandom {
  private state: number;
  private spareNormal: number | undefined;

  constructor(seed: number) {
    this.state = mixSeed(seed) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const value = this.spareNormal;
      this.spareNormal = undefined;
      return value;
    }
    let u = this.next();
    while (u <= 0) u = this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }

  /** Fills `target` with N(0, sd²) values. */
  fillNormal(target: Float32Array | Float64Array, sd: number, start = 0, end = target.length): void {
    for (let i = start; i < end; i++) target[i] = sd * this.normal();
  }

  /** A uniformly random permutation of 0…n−1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  /** `count` distinct indices of 0…n−1, in random order. */
  sample(n: number, count: number): number[] {
    if (count > n) throw new RangeError(`cannot sample ${count} distinct items out of ${n}`);
    if (count * 4 > n) return this.permutation(n).slice(0, count);
    const chosen = new Set<number>();
    const order: number[] = [];
    while (order.length < count) {
      const i = this.int(n);
      if (!chosen.has(i)) {
        chosen.add(i);
        order.push(i);
      }
    }
    return order;
  }
}
