/**
 * CPU reference GEMV: the oracle for every GPU result. Dequantizes with the f32 group
 * parameters the kernels use and accumulates in f64.
 */
import { InvalidInputError } from './errors.js';
import { groupAffineParams } from './quantize/quantize.js';
import { groupsPerRow, type QuantizedMatrix } from './quantize/types.js';

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
  const { rows, cols, groupSize, indices } = q;
  if (x.length === 0 || x.length % cols !== 0) {
    throw new InvalidInputError('SHAPE_MISMATCH', `x has ${x.length} elements, not a multiple of ${cols} columns`);
  }
  const m = x.length / cols;
  const { scale, offset } = groupAffineParams(q);
  const gpr = groupsPerRow(cols, groupSize);
  const y = new Float64Array(m * rows);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < m; v++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) {
        const p = r * gpr + Math.floor(c / groupSize);
        acc += (scale[p] * indices[r * cols + c] + offset[p]) * x[v * cols + c];
      }
      y[v * rows + r] = acc;
    }
  }
  return y;
}
