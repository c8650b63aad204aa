/**
 * Host-side 4-bit quantizers. Each returns one index per weight plus 16-bit parameters,
 * computed with the parameters already rounded to f16 so that dequantization reproduces
 * exactly what the quantizer assumed.
 */
import { ECSQ } from '../constants.js';
import { InvalidInputError } from '../errors.js';
import { chooseGeometry, type LayoutOptions } from '../rans/layout.js';
import { affineGroup } from './affine.js';
import { INDEX_MAX_VALUE, INDEX_MIN_VALUE } from '../rans/exceptions.js';
import { checkRateTarget, DEFAULT_RATE_TARGET, EcsqStats, rowStepCode, type RateTarget } from './ecsq.js';
import { e5m3Value, halfToF32, f16Round, f16Value } from './half.js';
import { GROUP_SIZES, QUANTIZERS, groupsPerRow, hasBiases, paramCount, type QuantizedMatrix, type QuantizerKind } from './types.js';

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /** Default `affine`. */
  quantizer?: QuantizerKind;
  /** 32, 64 or 128; default 64. For `ecsq`, only the stream layout's segment granularity. */
  groupSize?: number;
  /** `ecsq`: how to choose the step scale (default `{ match: 'q4-g64' }`: q4-g64's SQNR). */
  rate?: RateTarget;
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
 * Quantizes a row-major f32 matrix to 4-bit indices. `ecsq` also takes the layout options, as
 * a bits target counts the stream metadata of the layout the matrix will be coded in.
 *
 * @example
 * ```ts
 * const q = quantize(weights, 4096, 4096);                     // affine, g64
 * const q0 = quantize(weights, 4096, 4096, { quantizer: 'symmetric', groupSize: 32 });
 * const qe = quantize(weights, 4096, 4096, { quantizer: 'ecsq', rate: { bits: 3.8 } });
 * ```
 */
export function quantize(weights: ArrayLike<number>, rows: number, cols: number, options: QuantizeOptions & LayoutOptions = {}): QuantizedMatrix {
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
 * min/max first and `ecsq` its rate statistics: {@link MatrixQuantizer.scanRange} over every
 * block, then {@link addRows}). The
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
  /** `ecsq`: the step scale chosen (set when the first rows are added). */
  stepScale: number | null = null;
  private readonly indices: Uint8Array;
  private readonly scales: Uint16Array;
  private readonly biases: Uint16Array | null;
  private row = 0;
  private scanned = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private readonly rate: RateTarget;
  private readonly ecsqStats: EcsqStats | null = null;
  private readonly layout: LayoutOptions;
  private exceptionPositions = new Uint32Array(0);
  private exceptionValues = new Int32Array(0);
  private exceptionCount = 0;

  constructor(readonly rows: number, readonly cols: number, options: QuantizeOptions & LayoutOptions = {}) {
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
    this.rate = options.rate ?? DEFAULT_RATE_TARGET;
    if (options.rate !== undefined && quantizer !== 'ecsq') throw new InvalidInputError('BAD_RATE_TARGET', `a rate target needs the ecsq quantizer, not ${quantizer}`);
    checkRateTarget(this.rate);
    this.layout = options;
    if (quantizer === 'ecsq') {
      // Exception positions are u32 row-major indices (a container holds at most 2^32 − 1 indices too).
      if (rows * cols >= 2 ** 32) throw new InvalidInputError('TOO_LARGE', `ecsq takes matrices of fewer than 2^32 weights, got ${rows}×${cols}`);
      const match = 'match' in this.rate ? Number(this.rate.match.slice('q4-g'.length)) : null;
      this.ecsqStats = new EcsqStats(rows, cols, match);
    }
    const params = paramCount(quantizer, rows, cols, groupSize);
    this.indices = new Uint8Array(rows * cols);
    this.scales = new Uint16Array(params);
    this.biases = hasBiases(quantizer) ? new Uint16Array(params) : null;
  }

  /** True for `per-tensor` and `ecsq`, whose steps depend on every weight: scan all rows before adding them. */
  get needsRange(): boolean {
    return this.quantizer === 'per-tensor' || this.quantizer === 'ecsq';
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
    this.ecsqStats?.addRows(w, row0);
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
      case 'ecsq': this.ecsq(w, row0, n); break;
    }
    this.row += n;
  }

  /** The quantized matrix, once every row was added. */
  result(): QuantizedMatrix {
    if (this.row !== this.rows) throw new InvalidInputError('BAD_STATE', `${this.row} of ${this.rows} rows quantized`);
    const q: QuantizedMatrix = {
      rows: this.rows, cols: this.cols, quantizer: this.quantizer, groupSize: this.groupSize, paramType: this.quantizer === 'ecsq' ? 'e5m3' : 'f16',
      indices: this.indices, scales: this.scales, biases: this.biases,
    };
    if (this.quantizer === 'ecsq') {
      q.exceptions = { positions: this.exceptionPositions.slice(0, this.exceptionCount), values: this.exceptionValues.slice(0, this.exceptionCount) };
      q.stepScale = this.stepScale!;
    }
    return q;
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
      const g = affineGroup(w, start, end, lo, hi, indices, out + start);
      scales[p] = g.scaleBits;
      biases[p] = g.biasBits;
      this.signal += g.signal;
      this.noise += g.noise;
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

  /**
   * One E5M3 step per row, Δ_r = s·rms_r (s from the rate target, chosen once from the statistics
   * of the scan), v = round(w/Δ_r): index clamp(v, −8, 7) + 8, and every v beyond that range an
   * exception (position, v). A zero row has step 0 and every index 8 (v = 0).
   */
  private ecsq(w: ArrayLike<number>, row0: number, rows: number): void {
    const stats = this.ecsqStats!;
    if (this.stepScale === null) {
      const g = chooseGeometry(this.rows, this.cols, this.groupSize, this.layout);
      this.stepScale = stats.solve(this.rate, g).stepScale;
    }
    const { indices, cols } = this, s = this.stepScale;
    for (let r = 0; r < rows; r++) {
      let signal = 0, noise = 0; // per row, so that any block size sums the same
      const stepCode = rowStepCode(s, stats.rms[row0 + r]);
      this.scales[row0 + r] = stepCode;
      const step = e5m3Value(stepCode);
      for (let i = r * cols, o = (row0 + r) * cols; i < (r + 1) * cols; i++, o++) {
        const x = w[i];
        const v = step === 0 ? 0 : Math.round(x / step);
        indices[o] = Math.min(INDEX_MAX_VALUE, Math.max(INDEX_MIN_VALUE, v)) + ECSQ.ZERO_INDEX;
        if (v < INDEX_MIN_VALUE || v > INDEX_MAX_VALUE) this.pushException(o, v);
        const e = x - Math.fround(step * v);
        signal += x * x;
        noise += e * e;
      }
      this.signal += signal;
      this.noise += noise;
    }
  }

  private pushException(position: number, v: number): void {
    if (this.exceptionCount === this.exceptionValues.length) {
      const size = Math.max(1024, 2 * this.exceptionValues.length);
      const values = new Int32Array(size), positions = new Uint32Array(size);
      values.set(this.exceptionValues);
      positions.set(this.exceptionPositions);
      this.exceptionValues = values;
      this.exceptionPositions = positions;
    }
    this.exceptionPositions[this.exceptionCount] = position;
    this.exceptionValues[this.exceptionCount++] = v;
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
 * for every group quantizer. This is the form the q4 kernel consumes. `ecsq` has no such form
 * (exceptions): it throws `UNSUPPORTED_QUANTIZER`; use {@link dequantizeRows}.
 *
 * @example
 * ```ts
 * const { scale, offset } = groupAffineParams(q); // w = scale[g]·q + offset[g]
 * ```
 */
export function groupAffineParams(q: QuantizedMatrix): { scale: Float32Array; offset: Float32Array } {
  if (q.quantizer === 'ecsq') throw new InvalidInputError('UNSUPPORTED_QUANTIZER', 'ecsq weights are step·v with exceptions, not scale·q + offset per group');
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
 * Calls `visit(r, w)` for every row with its dequantized weights in f64 (`w` is reused): the
 * exact values of every quantizer's rule, from the f16/bf16 parameters. The one dequantizer
 * behind {@link dequantize} and the reference GEMV.
 *
 * @example
 * ```ts
 * dequantizeRows(q, (r, w) => { y[r] = w.reduce((a, v, c) => a + v * x[c], 0); });
 * ```
 */
export function dequantizeRows(q: QuantizedMatrix, visit: (row: number, weights: Float64Array) => void): void {
  const { rows, cols, indices } = q;
  const w = new Float64Array(cols);
  if (q.quantizer === 'ecsq') {
    const steps = halfToF32(q.scales, q.paramType), e = q.exceptions;
    if (!e) throw new InvalidInputError('SHAPE_MISMATCH', 'an ecsq matrix needs its exceptions');
    let k = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0, i = r * cols; c < cols; c++, i++) w[c] = steps[r] * (indices[i] - ECSQ.ZERO_INDEX);
      for (; k < e.positions.length && e.positions[k] < (r + 1) * cols; k++) {
        if (e.positions[k] < r * cols) throw new InvalidInputError('SHAPE_MISMATCH', `exception positions are not in row-major order at ${e.positions[k]}`);
        w[e.positions[k] - r * cols] = steps[r] * e.values[k];
      }
      visit(r, w);
    }
    if (k !== e.positions.length) throw new InvalidInputError('SHAPE_MISMATCH', `exception position ${e.positions[k]} lies outside the ${rows}×${cols} matrix`);
    return;
  }
  const { scale, offset } = groupAffineParams(q);
  const gpr = groupsPerRow(cols, q.groupSize);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const p = r * gpr + Math.floor(c / q.groupSize);
      w[c] = scale[p] * indices[r * cols + c] + offset[p];
    }
    visit(r, w);
  }
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
  const out = new Float32Array(q.rows * q.cols);
  dequantizeRows(q, (r, w) => out.set(w, r * q.cols));
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
