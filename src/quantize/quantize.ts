/**
 * Host-side 4-bit quantizers. Each returns one index per weight plus 16-bit parameters,
 * computed with the parameters already rounded to f16 so that dequantization reproduces
 * exactly what the quantizer assumed.
 */
import { InvalidInputError } from '../errors.js';
import { decodeParams, fromF16Bits, toF16Bits } from './half.js';
import { GROUP_SIZES, QUANTIZERS, groupsPerRow, type QuantizedMatrix, type QuantizerKind } from './types.js';

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /** Default `affine`. */
  quantizer?: QuantizerKind;
  /** 32, 64 or 128; default 64. */
  groupSize?: number;
}

const F16_MAX = 65504;

/**
 * Checks a row-major f32 matrix: positive shape that matches the data, finite values that f16
 * scales can represent. Throws {@link InvalidInputError} naming the first bad element.
 *
 * @example
 * ```ts
 * checkMatrix(weights, rows, cols); // throws InvalidInputError NON_FINITE_WEIGHT, SHAPE_MISMATCH, …
 * ```
 */
export function checkMatrix(weights: ArrayLike<number>, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0) {
    throw new InvalidInputError('BAD_SHAPE', `shape must be positive integers, got ${rows}×${cols}`);
  }
  if (weights.length !== rows * cols) {
    throw new InvalidInputError('SHAPE_MISMATCH', `shape ${rows}×${cols} needs ${rows * cols} weights, got ${weights.length}`);
  }
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!Number.isFinite(w)) {
      throw new InvalidInputError('NON_FINITE_WEIGHT', `weight [${Math.floor(i / cols)}, ${i % cols}] is ${w}`);
    }
    if (Math.abs(w) > F16_MAX) {
      throw new InvalidInputError('WEIGHT_OUT_OF_RANGE', `weight [${Math.floor(i / cols)}, ${i % cols}] = ${w} exceeds the f16 range of the scales`);
    }
  }
}

/**
 * Quantizes a row-major f32 matrix to 4-bit indices.
 *
 * @example
 * ```ts
 * const q = quantize(weights, 4096, 4096);                     // affine, g64
 * const q0 = quantize(weights, 4096, 4096, { quantizer: 'symmetric', groupSize: 32 });
 * ```
 */
export function quantize(weights: ArrayLike<number>, rows: number, cols: number, options: QuantizeOptions = {}): QuantizedMatrix {
  const quantizer = options.quantizer ?? 'affine';
  const groupSize = options.groupSize ?? 64;
  if (!QUANTIZERS.includes(quantizer)) {
    throw new InvalidInputError('BAD_QUANTIZER', `unknown quantizer '${quantizer}' (expected ${QUANTIZERS.join(', ')})`);
  }
  if (!GROUP_SIZES.includes(groupSize)) {
    throw new InvalidInputError('BAD_GROUP_SIZE', `group size must be one of ${GROUP_SIZES.join(', ')}, got ${groupSize}`);
  }
  checkMatrix(weights, rows, cols);
  switch (quantizer) {
    case 'affine': return quantizeAffine(weights, rows, cols, groupSize);
    case 'symmetric': return quantizeSymmetric(weights, rows, cols, groupSize);
    case 'per-tensor': return quantizePerTensor(weights, rows, cols, groupSize);
  }
}

function clampIndex(v: number): number {
  return v < 0 ? 0 : v > 15 ? 15 : v;
}

/** Min/max per group, f16 scale = (max − min)/15 and f16 bias = min. */
function quantizeAffine(w: ArrayLike<number>, rows: number, cols: number, groupSize: number): QuantizedMatrix {
  const gpr = groupsPerRow(cols, groupSize);
  const indices = new Uint8Array(rows * cols);
  const scales = new Uint16Array(rows * gpr);
  const biases = new Uint16Array(rows * gpr);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < gpr; g++) {
      const start = r * cols + g * groupSize;
      const end = Math.min(start + groupSize, (r + 1) * cols);
      let lo = Infinity, hi = -Infinity;
      for (let i = start; i < end; i++) { lo = Math.min(lo, w[i]); hi = Math.max(hi, w[i]); }
      const scaleBits = toF16Bits((hi - lo) / 15);
      const biasBits = toF16Bits(lo);
      scales[r * gpr + g] = scaleBits;
      biases[r * gpr + g] = biasBits;
      const scale = fromF16Bits(scaleBits), bias = fromF16Bits(biasBits);
      // A zero scale (constant group) leaves every index at 0: w = bias.
      if (scale === 0) continue;
      for (let i = start; i < end; i++) indices[i] = clampIndex(Math.round((w[i] - bias) / scale));
    }
  }
  return { rows, cols, quantizer: 'affine', groupSize, paramType: 'f16', indices, scales, biases };
}

/**
 * llama.cpp's Q4_0 rule: d = (the weight of largest magnitude) / −8, q = min(15, ⌊w/d + 8.5⌋),
 * with the unrounded 1/d exactly as `quantize_row_q4_0_ref` does, so indices match llama.cpp.
 */
function quantizeSymmetric(w: ArrayLike<number>, rows: number, cols: number, groupSize: number): QuantizedMatrix {
  const gpr = groupsPerRow(cols, groupSize);
  const indices = new Uint8Array(rows * cols);
  const scales = new Uint16Array(rows * gpr);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < gpr; g++) {
      const start = r * cols + g * groupSize;
      const end = Math.min(start + groupSize, (r + 1) * cols);
      let amax = 0, max = 0;
      for (let i = start; i < end; i++) if (Math.abs(w[i]) > amax) { amax = Math.abs(w[i]); max = w[i]; }
      const d = Math.fround(max / -8);
      const id = d !== 0 ? Math.fround(1 / d) : 0;
      scales[r * gpr + g] = toF16Bits(d);
      for (let i = start; i < end; i++) indices[i] = Math.min(15, Math.floor(Math.fround(Math.fround(w[i] * id) + 8.5)));
    }
  }
  return { rows, cols, quantizer: 'symmetric', groupSize, paramType: 'f16', indices, scales, biases: null };
}

/** One min/max for the whole matrix. Low quality: kept only to compare against. */
function quantizePerTensor(w: ArrayLike<number>, rows: number, cols: number, groupSize: number): QuantizedMatrix {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < w.length; i++) { lo = Math.min(lo, w[i]); hi = Math.max(hi, w[i]); }
  const scaleBits = toF16Bits((hi - lo) / 15), biasBits = toF16Bits(lo);
  const scale = fromF16Bits(scaleBits), bias = fromF16Bits(biasBits);
  const indices = new Uint8Array(rows * cols);
  if (scale !== 0) for (let i = 0; i < w.length; i++) indices[i] = clampIndex(Math.round((w[i] - bias) / scale));
  return {
    rows, cols, quantizer: 'per-tensor', groupSize, paramType: 'f16', indices,
    scales: Uint16Array.of(scaleBits), biases: Uint16Array.of(biasBits),
  };
}

/**
 * Per-group f32 (scale, offset) such that w = scale·q + offset, expanded to [rows, groupsPerRow]
 * for every quantizer. This is the form the kernels and the reference GEMV consume.
 *
 * @example
 * ```ts
 * const { scale, offset } = groupAffineParams(q); // w = scale[g]·q + offset[g]
 * ```
 */
export function groupAffineParams(q: QuantizedMatrix): { scale: Float32Array; offset: Float32Array } {
  const gpr = groupsPerRow(q.cols, q.groupSize);
  const n = q.rows * gpr;
  const s = decodeParams(q.scales, q.paramType);
  const b = q.biases ? decodeParams(q.biases, q.paramType) : null;
  const scale = new Float32Array(n), offset = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = q.quantizer === 'per-tensor' ? 0 : i;
    scale[i] = s[p];
    offset[i] = b ? b[p] : -8 * s[p];
  }
  return { scale, offset };
}

/**
 * Dequantizes to a row-major f32 matrix.
 *
 * @example
 * ```ts
 * const approx = dequantize(quantize(w, rows, cols));
 * ```
 */
export function dequantize(q: QuantizedMatrix): Float32Array {
  const { scale, offset } = groupAffineParams(q);
  const gpr = groupsPerRow(q.cols, q.groupSize);
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const p = r * gpr + Math.floor(c / q.groupSize);
      out[r * q.cols + c] = scale[p] * q.indices[r * q.cols + c] + offset[p];
    }
  }
  return out;
}

/**
 * Σw² (signal) and Σ(w − ŵ)² (noise) of a reconstruction.
 *
 * @example
 * ```ts
 * const { signal, noise } = quantizationEnergy(w, dequantize(q));
 * ```
 */
export function quantizationEnergy(original: ArrayLike<number>, reconstructed: ArrayLike<number>): { signal: number; noise: number } {
  let signal = 0, noise = 0;
  for (let i = 0; i < original.length; i++) {
    signal += original[i] * original[i];
    const e = original[i] - reconstructed[i];
    noise += e * e;
  }
  return { signal, noise };
}

/**
 * SQNR in dB from energies: 10·log10(signal / noise); Infinity when the noise is zero.
 *
 * @example
 * ```ts
 * energyToDb({ signal: 100, noise: 1 }); // 20
 * ```
 */
export function energyToDb({ signal, noise }: { signal: number; noise: number }): number {
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}

/**
 * Signal-to-quantization-noise ratio in dB: 10·log10(Σw² / Σ(w − ŵ)²). Infinity when exact.
 *
 * @example
 * ```ts
 * sqnrDb(w, dequantize(quantize(w, rows, cols))); // ≈ 21 dB for Gaussian g64
 * ```
 */
export function sqnrDb(original: ArrayLike<number>, reconstructed: ArrayLike<number>): number {
  return energyToDb(quantizationEnergy(original, reconstructed));
}
