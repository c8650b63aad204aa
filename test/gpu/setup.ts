/** One Dawn device per test file (vitest forks), on whatever adapter the machine has. */
import { afterAll, beforeAll } from 'vitest';
import { requestNodeDevice, type NodeDevice } from '../../src/node/device.js';
import { dequantize } from '../../src/quantize/quantize.js';
import type { QuantizedMatrix } from '../../src/quantize/types.js';

export function useDevice(): { get: () => NodeDevice } {
  let nd: NodeDevice | undefined;
  const errors: string[] = [];
  beforeAll(async () => {
    nd = await requestNodeDevice();
    nd.device.addEventListener('uncapturederror', (e) => errors.push((e as GPUUncapturedErrorEvent).error.message));
  });
  afterAll(() => {
    nd?.device.destroy();
    // Any validation error the API let through is a bug, whatever the results were.
    if (errors.length) throw new Error(`uncaptured WebGPU errors:\n${errors.join('\n')}`);
  });
  return { get: () => nd! };
}

/**
 * max over rows of |y − ref| / Σ_k |w_k·x_k|. f32 accumulation over K terms errs by at most
 * ≈ K·2^−24 of Σ|w·x| (recursive summation) and typically ≈ √K·2^−24; 2e-5 sits above the
 * typical bound for K ≤ 16384 yet below the ≈ 1e-4 change one wrong index causes at K = 4096.
 */
export function maxScaledError(y: ArrayLike<number>, ref: ArrayLike<number>, absRowSums: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(y[i] - ref[i]) / (absRowSums[i] || 1e-30));
  return worst;
}

export const TOLERANCE = 2e-5;

/** Σ_k |w_k·x_k| per output [M, rows]: the scale of f32 rounding error. */
export function absRowSums(q: QuantizedMatrix, x: Float32Array): Float64Array {
  const w = dequantize(q);
  const { rows, cols } = q;
  const m = x.length / cols;
  const out = new Float64Array(m * rows);
  for (let v = 0; v < m; v++) for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let k = 0; k < cols; k++) s += Math.abs(w[r * cols + k] * x[v * cols + k]);
    out[v * rows + r] = s;
  }
  return out;
}
