/**
 * CPU reference GEMV: the oracle for every GPU result. Dequantizes with the f16/bf16
 * parameters the kernels use (dequantizeRows) and accumulates in f64.
 */
import { InvalidInputError } from './errors.js';
import { dequantizeRows } from './quantize/quantize.js';
import type { QuantizedMatrix } from './quantize/types.js';

/** Σ_k W[r, k]·x[m, k] (or Σ_k |W[r, k]·x[m, k]|) for every row r and vector m, in f64. */
function products(q: QuantizedMatrix, x: ArrayLike<number>, absolute: boolean): Float64Array {
  const { rows, cols } = q;
  if (x.length === 0 || x.length % cols !== 0) {
    throw new InvalidInputError('SHAPE_MISMATCH', `x has ${x.length} elements, not a multiple of ${cols} columns`);
  }
  const m = x.length / cols;
  const y = new Float64Array(m * rows);
  dequantizeRows(q, (r, w) => {
    for (let v = 0; v < m; v++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) {
        const t = w[c] * x[v * cols + c];
        acc += absolute ? Math.abs(t) : t;
      }
      y[v * rows + r] = acc;
    }
  });
  return y;
}

/**
 * y[m, r] = Σ_k W[r, k] · x[m, k] for M = x.length / cols vectors, in f64.
 *
 * @example
 * ```ts
 * const y = referenceMatVec(q, x);              // one vector: y.length === q.rows
 * const y4 = referenceMatVec(q, x4);            // x4 holds 4 vectors back to back
 * ```
 */
export function referenceMatVec(q: QuantizedMatrix, x: ArrayLike<number>): Float64Array {
  return products(q, x, false);
}

/**
 * Σ_k |W[r, k]·x[m, k]| for every output: the magnitude f32 rounding error scales with.
 * Used to judge GPU results: see {@link F32_PRODUCT_TOLERANCE}.
 *
 * @example
 * ```ts
 * const err = maxRelativeError(y, referenceMatVec(q, x), referenceAbsProducts(q, x));
 * ```
 */
export function referenceAbsProducts(q: QuantizedMatrix, x: ArrayLike<number>): Float64Array {
  return products(q, x, true);
}

/**
 * Largest |y − ref| / Σ|w·x| over all outputs: the relative error of a GPU product, scaled so
 * that cancellation in ref does not inflate it.
 *
 * @example
 * ```ts
 * expect(maxRelativeError(gpuY, referenceMatVec(q, x), referenceAbsProducts(q, x))).toBeLessThan(F32_PRODUCT_TOLERANCE);
 * ```
 */
export function maxRelativeError(y: ArrayLike<number>, ref: ArrayLike<number>, absProducts: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(y[i] - ref[i]) / (absProducts[i] || Number.MIN_VALUE));
  return worst;
}

/**
 * Accepted {@link maxRelativeError} of an f32 GPU product. f32 accumulation over K terms errs by
 * at most ≈ K·2^−24 of Σ|w·x| (recursive summation) and typically ≈ √K·2^−24; 2e-5 lies above the
 * typical bound for K ≤ 16384, yet below the ≈ 1e-4 change a single wrong index makes at K = 4096.
 */
export const F32_PRODUCT_TOLERANCE = 2e-5;

/**
 * Accepted {@link maxRelativeError} of a product with f16 activations, judged against the f64
 * product of the *f16-rounded* x (what the kernels multiply). The kernels accumulate in f32 as
 * with f32 activations ({@link F32_PRODUCT_TOLERANCE}) and round y to f16 once at the end: half
 * an f16 ulp, ≤ 2^−11·|y| ≤ 2^−11·Σ|w·x|. Both add up.
 *
 * @example
 * ```ts
 * expect(maxRelativeError(f16ToF32(yBits), referenceMatVec(q, xRounded), sums)).toBeLessThan(F16_PRODUCT_TOLERANCE);
 * ```
 */
export const F16_PRODUCT_TOLERANCE = F32_PRODUCT_TOLERANCE + 2 ** -11;
