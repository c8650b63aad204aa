/**
 * The affine (MLX) rule for one group, shared by the affine quantizer and by `ecsq`'s
 * `match: 'q4-gN'` rate target, which needs the noise affine q4 would leave.
 */
import { f16Round, f16Value } from './half.js';

/**
 * Quantizes w[start, end) with f16 scale = (hi − lo)/15 and f16 bias = lo (lo, hi: the group's
 * min and max), writing indices to `indices[at + i − start]` unless `indices` is null.
 * Returns the parameter patterns and the group's Σw² and Σ(w − ŵ)², ŵ the f32 dequantized weight.
 *
 * @example
 * ```ts
 * const { noise } = affineGroup(w, 0, 64, min, max, null, 0); // what q4-g64 loses on the group
 * ```
 */
export function affineGroup(
  w: ArrayLike<number>, start: number, end: number, lo: number, hi: number, indices: Uint8Array | null, at: number,
): { scaleBits: number; biasBits: number; signal: number; noise: number } {
  const scaleBits = f16Round((hi - lo) / 15), biasBits = f16Round(lo);
  const scale = f16Value(scaleBits), bias = f16Value(biasBits);
  let signal = 0, noise = 0;
  if (scale === 0) { // a constant group: every index 0, w = bias
    for (let i = start; i < end; i++) { const v = w[i], e = v - bias; signal += v * v; noise += e * e; }
  } else {
    for (let i = start; i < end; i++) {
      const v = w[i];
      const r = Math.round((v - bias) / scale);
      const q = r < 0 ? 0 : r > 15 ? 15 : r;
      if (indices) indices[at + i - start] = q;
      const e = v - Math.fround(scale * q + bias);
      signal += v * v;
      noise += e * e;
    }
  }
  return { scaleBits, biasBits, signal, noise };
}
