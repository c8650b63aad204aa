/**
 * Host-side 4-bit quantizers. Each returns one index per weight plus 16-bit parameters,
 * computed with the parameters already rounded to f16 so that dequantization reproduces
 * exactly what the quantizer assumed.
 */
import { InvalidInputError } from '../errors.js';
import { halfToF32, f16Round, f16Value } from './half.js';
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
  checkShape(weights.length, rows, cols);
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!(w >= -F16_MAX && w <= F16_MAX)) badWeight(Math.floor(i / cols), i % cols, w);
  }
}

/** The typed error for a weight that is not finite or beyond what f16 scales represent. */
function badWeight(row: number, col: number, v: number): never {
  const where = `weight [${row}, ${col}]`;
  if (!Number.isFinite(v)) throw new InvalidInputError('NON_FINITE_WEIGHT', `${where} is ${v}`);
  throw new InvalidInputError('WEIGHT_OUT_OF_RANGE', `${where} = ${v} exceeds the f16 range of the scales`);
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
  checkShape(weights.length, rows, cols);
  const mq = new MatrixQuantizer(rows, cols, options);
  if (mq.needsRange) mq.scanRange(weights);
  mq.addRows(weights);
  return mq.result();
}

function checkShape(length: number, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0) {
    throw new InvalidInputError('BAD_SHAPE', `shape must be positive integers, got ${rows}×${cols}`);
  }
  if (length !== rows * cols) {
    throw new InvalidInputError('SHAPE_MISMATCH', `shape ${rows}×${cols} needs ${rows * cols} weights, got ${length}`);
  }
}

/**
 * Quantizes a matrix a block of rows at a time, so a caller streaming a large tensor from a file
 * never holds it whole in f32. Each quantizer's rule is row-local (`per-tensor` needs its global
 * min/max first: {@link MatrixQuantizer.scanRange} over every block, then {@link addRows}). The
 * finiteness check, the SQNR energies and the indices are computed in the same pass; the result
 * equals {@link quantize} on the whole matrix bit for bit.
 *
 * @example
 * ```ts
 * const mq = new MatrixQuantizer(rows, cols, { groupSize: 64 });
 * for (const block of rowBlocks) mq.addRows(block); // Float32Array of k·cols weights each
 * const q = mq.result(); // mq.signal, mq.noise: Σw², Σ(w − ŵ)²
 * ```
 */
export class MatrixQuantizer {
  readonly quantizer: QuantizerKind;
  readonly groupSize: number;
  /** Σw² and Σ(w − ŵ)² over the rows added so far (ŵ the f32 dequantized weight). */
  signal = 0;
  noise = 0;
  /** Largest |w| seen (0 for an all-zero matrix). */
  maxAbs = 0;
  private readonly indices: Uint8Array;
  private readonly scales: Uint16Array;
  private readonly biases: Uint16Array | null;
  private row = 0;
  private scanned = 0;
  private lo = Infinity;
  private hi = -Infinity;

  constructor(readonly rows: number, readonly cols: number, options: QuantizeOptions = {}) {
    const quantizer = options.quantizer ?? 'affine';
    const groupSize = options.groupSize ?? 64;
    if (!QUANTIZERS.includes(quantizer)) {
      throw new InvalidInputError('BAD_QUANTIZER', `unknown quantizer '${quantizer}' (expected ${QUANTIZERS.join(', ')})`);
    }
    if (!GROUP_SIZES.includes(groupSize)) {
      throw new InvalidInputError('BAD_GROUP_SIZE', `group size must be one of ${GROUP_SIZES.join(', ')}, got ${groupSize}`);
    }
    checkShape(rows * cols, rows, cols);
    this.quantizer = quantizer;
    this.groupSize = groupSize;
    const params = quantizer === 'per-tensor' ? 1 : rows * groupsPerRow(cols, groupSize);
    this.indices = new Uint8Array(rows * cols);
    this.scales = new Uint16Array(params);
    this.biases = quantizer === 'symmetric' ? null : new Uint16Array(params);
  }

  /** True for `per-tensor`, whose step depends on every weight: scan all rows before adding them. */
  get needsRange(): boolean {
    return this.quantizer === 'per-tensor';
  }

  /** First pass of `per-tensor`: the global min/max (and the finiteness check) over a block of rows. */
  scanRange(w: ArrayLike<number>): void {
    const row0 = this.blockRows(w, this.scanned);
    let lo = this.lo, hi = this.hi;
    for (let i = 0; i < w.length; i++) {
      const v = w[i];
      if (!(v >= -F16_MAX && v <= F16_MAX)) this.badWeight(row0, i, v);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    this.lo = lo; this.hi = hi;
    this.maxAbs = Math.max(-lo, hi);
    this.scanned += w.length / this.cols;
  }

  /** Quantizes the next block of whole rows (row-major, a multiple of `cols` weights). */
  addRows(w: ArrayLike<number>): void {
    const row0 = this.blockRows(w, this.row);
    if (this.needsRange && this.scanned !== this.rows) {
      throw new InvalidInputError('BAD_STATE', 'per-tensor quantization needs scanRange over every row before addRows');
    }
    const n = w.length / this.cols;
    switch (this.quantizer) {
      case 'affine': this.affine(w, row0, n); break;
      case 'symmetric': this.symmetric(w, row0, n); break;
      case 'per-tensor': this.perTensor(w, row0); break;
    }
    this.row += n;
  }

  /** The quantized matrix, once every row was added. */
  result(): QuantizedMatrix {
    if (this.row !== this.rows) throw new InvalidInputError('BAD_STATE', `${this.row} of ${this.rows} rows quantized`);
    return {
      rows: this.rows, cols: this.cols, quantizer: this.quantizer, groupSize: this.groupSize, paramType: 'f16',
      indices: this.indices, scales: this.scales, biases: this.biases,
    };
  }

  private blockRows(w: ArrayLike<number>, at: number): number {
    if (w.length % this.cols !== 0 || at + w.length / this.cols > this.rows) {
      throw new InvalidInputError('SHAPE_MISMATCH', `a block of ${w.length} weights is not whole rows of ${this.cols} within the ${this.rows} rows (at row ${at})`);
    }
    return at;
  }

  private badWeight(row0: number, i: number, v: number): never {
    return badWeight(row0 + Math.floor(i / this.cols), i % this.cols, v);
  }

  /**
   * Calls `quantizeGroup(start, end, p)` for every group of a block of `rows` rows: weights
   * [start, end) of the block, parameter index p. A row's last group may be shorter.
   */
  private forEachGroup(row0: number, rows: number, quantizeGroup: (start: number, end: number, p: number) => void): void {
    const { cols, groupSize } = this;
    const gpr = groupsPerRow(cols, groupSize);
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < gpr; g++) {
        const start = r * cols + g * groupSize;
        quantizeGroup(start, Math.min(start + groupSize, (r + 1) * cols), (row0 + r) * gpr + g);
      }
    }
  }

  /** Min/max per group, f16 scale = (max − min)/15 and f16 bias = min. */
  private affine(w: ArrayLike<number>, row0: number, rows: number): void {
    const { indices, scales } = this;
    const biases = this.biases!;
    const out = row0 * this.cols;
    this.forEachGroup(row0, rows, (start, end, p) => {
      let lo = Infinity, hi = -Infinity;
      for (let i = start; i < end; i++) {
        const v = w[i];
        if (!(v >= -F16_MAX && v <= F16_MAX)) this.badWeight(row0, i, v);
        lo = Math.min(lo, v); // Math.min/max, not <: −0 and +0 order as they always did
        hi = Math.max(hi, v);
      }
      this.maxAbs = Math.max(this.maxAbs, -lo, hi);
      const scaleBits = f16Round((hi - lo) / 15), biasBits = f16Round(lo);
      scales[p] = scaleBits;
      biases[p] = biasBits;
      const scale = f16Value(scaleBits), bias = f16Value(biasBits);
      let signal = 0, noise = 0;
      if (scale === 0) { // a constant group: every index 0, w = bias
        for (let i = start; i < end; i++) { const v = w[i], e = v - bias; signal += v * v; noise += e * e; }
      } else {
        for (let i = start; i < end; i++) {
          const v = w[i];
          const r = Math.round((v - bias) / scale);
          const q = r < 0 ? 0 : r > 15 ? 15 : r;
          indices[out + i] = q;
          const e = v - Math.fround(scale * q + bias);
          signal += v * v;
          noise += e * e;
        }
      }
      this.signal += signal;
      this.noise += noise;
    });
  }

  /**
   * llama.cpp's Q4_0 rule: d = (the weight of largest magnitude) / −8, q = min(15, ⌊w/d + 8.5⌋),
   * with the unrounded 1/d exactly as `quantize_row_q4_0_ref` does, so indices match llama.cpp.
   */
  private symmetric(w: ArrayLike<number>, row0: number, rows: number): void {
    const { indices, scales } = this;
    const out = row0 * this.cols;
    this.forEachGroup(row0, rows, (start, end, p) => {
      let amax = 0, max = 0;
      for (let i = start; i < end; i++) {
        const v = w[i];
        if (!(v >= -F16_MAX && v <= F16_MAX)) this.badWeight(row0, i, v);
        if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
      }
      this.maxAbs = Math.max(this.maxAbs, amax);
      const d = Math.fround(max / -8);
      const id = d !== 0 ? Math.fround(1 / d) : 0;
      const scaleBits = f16Round(d);
      scales[p] = scaleBits;
      const scale = f16Value(scaleBits), offset = Math.fround(-8 * scale);
      let signal = 0, noise = 0;
      for (let i = start; i < end; i++) {
        const v = w[i];
        const q = Math.min(15, Math.floor(Math.fround(Math.fround(v * id) + 8.5)));
        indices[out + i] = q;
        const e = v - Math.fround(scale * q + offset);
        signal += v * v;
        noise += e * e;
      }
      this.signal += signal;
      this.noise += noise;
    });
  }

  /** One min/max for the whole matrix. Low quality: kept only to compare against. */
  private perTensor(w: ArrayLike<number>, row0: number): void {
    const scaleBits = f16Round((this.hi - this.lo) / 15), biasBits = f16Round(this.lo);
    this.scales[0] = scaleBits;
    this.biases![0] = biasBits;
    const scale = f16Value(scaleBits), bias = f16Value(biasBits);
    const { indices } = this, out = row0 * this.cols;
    let signal = this.signal, noise = this.noise;
    for (let i = 0; i < w.length; i++) {
      const v = w[i];
      const q = scale === 0 ? 0 : clampIndex(Math.round((v - bias) / scale));
      indices[out + i] = q;
      const e = v - Math.fround(scale * q + bias);
      signal += v * v;
      noise += e * e;
    }
    this.signal = signal; this.noise = noise;
  }
}

function clampIndex(v: number): number {
  return v < 0 ? 0 : v > 15 ? 15 : v;
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
  const s = halfToF32(q.scales, q.paramType);
  const b = q.biases ? halfToF32(q.biases, q.paramType) : null;
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
