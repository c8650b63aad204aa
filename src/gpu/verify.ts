/**
 * GPU self-check of one compressed matrix, the same in Node (`rans-gemv verify --gpu`) and in a
 * browser page: the decode kernel's indices compared bit-exactly with the CPU reference, then
 * `fusedMatVec` in every mode the matrix has (ecsq: fused only) for M = 1 and 4, with f32 and with
 * f16 activations, on deterministic x against the f64 CPU product.
 */
import { decodeOnGpu, fusedMatVec, readStreamStatus, type MatVecMode } from './matvec.js';
import { uploadMatrix } from './upload.js';
import { packNibbles } from '../quantize/import.js';
import type { QuantizedMatrix } from '../quantize/types.js';
import type { EncodedMatrix } from '../rans/codec.js';
import { halfToF32, toF16Array } from '../quantize/half.js';
import { F16_PRODUCT_TOLERANCE, F32_PRODUCT_TOLERANCE, maxRelativeError, referenceAbsProducts, referenceMatVec } from '../reference.js';
import type { ActivationType } from './kernels.js';

/** One check: the decode (mode `decode`, bit-exact or not) or one product (maxRelErr). */
export interface GpuCheck {
  tensor: string;
  mode: MatVecMode | 'decode';
  vectors: number;
  /** How x and y were stored (products only). */
  activations?: ActivationType;
  /** Max |y − ref| / Σ|w·x| over outputs; 0 for the decode check when bit-exact. */
  maxRelErr: number;
  ok: boolean;
  error?: string;
}

/** Deterministic activations in [−1, 1). */
function activations(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 31 - 1;
  });
}

/**
 * Runs every check on one tensor; failures are reported in the records, not thrown.
 *
 * @example
 * ```ts
 * const checks = await verifyTensorOnGpu(device, 'wq', q, encoded);
 * const ok = checks.every((c) => c.ok);
 * ```
 */
export async function verifyTensorOnGpu(device: GPUDevice, name: string, q: QuantizedMatrix, encoded: EncodedMatrix): Promise<GpuCheck[]> {
  const ecsq = q.quantizer === 'ecsq'; // no plain q4 form: fused only
  const m = uploadMatrix(device, { params: q, encoded }, { q4: !ecsq, label: name });
  const modes = ecsq ? ['fused'] as const : ['fused', 'decode-then-q4', 'q4'] as const;
  const out: GpuCheck[] = [];
  try {
    try {
      const gpuNibbles = await decodeOnGpu(device, m);
      const cpu = packNibbles(q.indices, q.rows, q.cols);
      let mismatches = 0;
      for (let i = 0; i < cpu.length; i++) if (cpu[i] !== gpuNibbles[i]) mismatches++;
      out.push({ tensor: name, mode: 'decode', vectors: 0, maxRelErr: mismatches ? 1 : 0, ok: mismatches === 0, error: mismatches ? `${mismatches} index words differ from the CPU reference` : undefined });
    } catch (e) {
      out.push({ tensor: name, mode: 'decode', vectors: 0, maxRelErr: 1, ok: false, error: (e as Error).message });
    }
    for (const vectors of [1, 4]) {
      const x = activations(vectors * q.cols, q.rows * 7 + vectors);
      const ref = referenceMatVec(q, x);
      const scale = referenceAbsProducts(q, x);
      // f16: the kernels multiply the f16-rounded x, so the reference does too.
      const xBits = toF16Array(x);
      const xHalf = halfToF32(xBits, 'f16');
      const refHalf = referenceMatVec(q, xHalf);
      const scaleHalf = referenceAbsProducts(q, xHalf);
      for (const mode of modes) {
        const err = maxRelativeError(await fusedMatVec(device, m, x, { mode }), ref, scale);
        out.push({ tensor: name, mode, vectors, activations: 'f32', maxRelErr: err, ok: err <= F32_PRODUCT_TOLERANCE });
        const yHalf = await fusedMatVec(device, m, xBits, { mode });
        const errHalf = maxRelativeError(halfToF32(yHalf, 'f16'), refHalf, scaleHalf);
        out.push({ tensor: name, mode, vectors, activations: 'f16', maxRelErr: errHalf, ok: errHalf <= F16_PRODUCT_TOLERANCE });
      }
    }
    // ecsq: the fused kernel checks that each lane read exactly its exception list.
    const status = await readStreamStatus(device, m);
    if (status.failedLanes) out.push({ tensor: name, mode: 'fused', vectors: 0, maxRelErr: 1, ok: false, error: `${status.failedLanes} lanes failed the end-of-lane check (first: lane ${status.firstFailedLane})` });
  } finally {
    m.destroy();
  }
  return out;
}

/**
 * For a tensor the CPU rejected (its indices are unknown): does the GPU decode reject it too?
 * `ok` when the decode kernel reports the stream corrupt (end-of-stream or tile check); a GPU
 * decode that accepts it is a failed check — the GPU path would use wrong indices.
 *
 * @example
 * ```ts
 * const check = await gpuRejects(device, 'layers.0.wq', t.params, t.encoded);
 * ```
 */
export async function gpuRejects(device: GPUDevice, name: string, params: Omit<QuantizedMatrix, 'indices'>, encoded: EncodedMatrix): Promise<GpuCheck> {
  const base = { tensor: name, mode: 'decode' as const, vectors: 0, maxRelErr: 0 };
  let m;
  try {
    m = uploadMatrix(device, { params, encoded });
    await decodeOnGpu(device, m);
    return { ...base, ok: false, error: 'the GPU decode accepted a stream the CPU rejected' };
  } catch (e) {
    return { ...base, ok: true, error: `rejected on the GPU too: ${(e as Error).message}` };
  } finally {
    m?.destroy();
  }
}