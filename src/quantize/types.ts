import { InvalidInputError } from '../errors.js';
import { paramBytes, type ParamType } from './half.js';
import type { Exceptions } from '../rans/exceptions.js';

/** Which 4-bit quantizer produced a matrix's indices. */
export type QuantizerKind = 'affine' | 'symmetric' | 'per-tensor' | 'ecsq';

/** Quantizers accepted by {@link quantize}, with `affine` the default. */
export const QUANTIZERS: readonly QuantizerKind[] = ['affine', 'symmetric', 'per-tensor', 'ecsq'];

/** Group sizes the quantizers accept. */
export const GROUP_SIZES: readonly number[] = [32, 64, 128];

/**
 * A matrix quantized to 4-bit indices, one byte per weight (value 0..15), row-major [rows, cols].
 *
 * Dequantization, per group g of row r (groups are `groupSize` columns; a row whose length is
 * not a multiple ends in a shorter group):
 * - `affine`:     w = scale[r,g] · q + bias[r,g]          (MLX convention)
 * - `symmetric`:  w = scale[r,g] · (q − 8)                (Q4_0 convention; `biases` is null)
 * - `per-tensor`: w = scale[0] · q + bias[0]              (one pair for the whole matrix)
 * - `ecsq`:       w = scale[r] · v, v = q − 8 except at the positions `exceptions` lists
 *                 (one E5M3 step per row; src/quantize/ecsq.ts)
 */
export interface QuantizedMatrix {
  rows: number;
  cols: number;
  quantizer: QuantizerKind;
  /** Columns per parameter group. For `per-tensor` and `ecsq` it only sets the stream layout (segments are multiples of it). */
  groupSize: number;
  /** Storage type of `scales` and `biases`. */
  paramType: ParamType;
  /** One 4-bit index per weight, row-major. */
  indices: Uint8Array;
  /** 16-bit scale patterns, [rows, groupsPerRow] (length 1 for `per-tensor`, `rows` for `ecsq`). */
  scales: Uint16Array;
  /** 16-bit bias patterns, same shape as `scales`; null for `symmetric` and `ecsq`. */
  biases: Uint16Array | null;
  /** `ecsq` only: the weights whose v lies beyond [−8, 7] (their index holds v clamped), row-major. */
  exceptions?: Exceptions;
  /** `ecsq` only: the step scale s the row steps were made with (steps are s·rms rounded to E5M3). */
  stepScale?: number;
}

/** Whether a quantizer has biases: every one but `symmetric` and `ecsq` (w = step·v). */
export function hasBiases(quantizer: QuantizerKind): boolean {
  return quantizer !== 'symmetric' && quantizer !== 'ecsq';
}

/**
 * Number of parameter groups in one row.
 *
 * @example
 * ```ts
 * groupsPerRow(6625, 128); // 52: the last group holds 97 columns
 * ```
 */
export function groupsPerRow(cols: number, groupSize: number): number {
  return Math.ceil(cols / groupSize);
}

/**
 * Stored scale (and bias) entries of a matrix: one per group, or one for `per-tensor`.
 *
 * @example
 * ```ts
 * paramCount('affine', 4096, 4096, 64); // 262144
 * ```
 */
export function paramCount(quantizer: QuantizerKind, rows: number, cols: number, groupSize: number): number {
  if (quantizer === 'ecsq') return rows;
  return quantizer === 'per-tensor' ? 1 : rows * groupsPerRow(cols, groupSize);
}

/**
 * Throws {@link InvalidInputError} `UNSUPPORTED_GROUP_SIZE` unless the GPU kernels can use the
 * group size: a positive multiple of 8, since they take a pair of weights (fused, decode) or a u32
 * of 8 nibbles (q4) from one group. Imports (MLX g1/g2/g4) and uploads check this.
 *
 * @example
 * ```ts
 * checkKernelGroupSize(64, 'MLX group size'); // ok; 4 throws
 * ```
 */
export function checkKernelGroupSize(groupSize: number, what = 'group size'): void {
  if (!Number.isInteger(groupSize) || groupSize < 8 || groupSize % 8 !== 0) {
    throw new InvalidInputError('UNSUPPORTED_GROUP_SIZE', `${what} ${groupSize}: the GPU kernels need a multiple of 8`);
  }
}

/**
 * Bits the stored quantization parameters take: scales and biases (ecsq: its row steps), at their
 * storage type's width. With the coded indices' bytes this is a matrix's all-in size.
 *
 * @example
 * ```ts
 * const allIn = (8 * encodedBytes(enc) + parameterBits(q)) / (q.rows * q.cols);
 * ```
 */
export function parameterBits(q: Pick<QuantizedMatrix, 'scales' | 'biases' | 'paramType'>): number {
  return 8 * paramBytes(q.paramType) * (q.scales.length + (q.biases?.length ?? 0));
}
