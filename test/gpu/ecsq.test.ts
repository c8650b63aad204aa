import { describe, expect, it } from 'vitest';
import { decodeOnGpu, fusedMatVec, prepareMatVec, readStreamStatus, type MatVecMode } from '../../src/gpu/matvec.js';
import { internals, uploadMatrix } from '../../src/gpu/upload.js';
import { compressMatrix, type CompressedMatrix, type CompressOptions } from '../../src/pipeline.js';
import { packNibbles } from '../../src/quantize/import.js';
import { halfToF32, toF16Array } from '../../src/quantize/half.js';
import { F16_PRODUCT_TOLERANCE, F32_PRODUCT_TOLERANCE, maxRelativeError, referenceAbsProducts, referenceMatVec } from '../../src/reference.js';
import { firstMismatch, rng, weights, type Distribution } from '../helpers.js';
import { useDevice } from './setup.js';

const gpu = useDevice();

function compressEcsq(rows: number, cols: number, dist: Distribution, options: CompressOptions = {}): CompressedMatrix {
  const w = weights(rows * cols, dist, rows * 7 + cols);
  return compressMatrix({ name: `${rows}x${cols}`, rows, cols, kind: 'float', weights: w }, { quantizer: 'ecsq', ...options });
}

function randomX(n: number, seed: number): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** Indices bit-exact on the GPU, then y vs the CPU reference in f32 and f16 for each M. */
async function checkEcsq(c: CompressedMatrix, vectors: number[], maxBindingBytes?: number) {
  const { device } = gpu.get();
  const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { maxBindingBytes });
  try {
    const nibbles = await decodeOnGpu(device, m);
    expect(firstMismatch(nibbles, packNibbles(c.quantized.indices, c.quantized.rows, c.quantized.cols))).toBe(-1);
    for (const v of vectors) {
      const x = randomX(v * c.quantized.cols, v + 1);
      const y = await fusedMatVec(device, m, x);
      expect(maxRelativeError(y, referenceMatVec(c.quantized, x), referenceAbsProducts(c.quantized, x)), `M=${v}`).toBeLessThan(F32_PRODUCT_TOLERANCE);
      const bits = toF16Array(x), xh = halfToF32(bits, 'f16');
      const yh = await fusedMatVec(device, m, bits);
      expect(maxRelativeError(halfToF32(yh, 'f16'), referenceMatVec(c.quantized, xh), referenceAbsProducts(c.quantized, xh)), `M=${v} f16`).toBeLessThan(F16_PRODUCT_TOLERANCE);
    }
    const status = await readStreamStatus(device, m);
    expect(status.failedLanes).toBe(0);
    return internals(m).parts.length;
  } finally {
    m.destroy();
  }
}

describe('ecsq kernels on real WebGPU vs the CPU reference', () => {
  // 53×64 stacks rows with a short last block (the mirrored lane); 33×1000 cuts rows into
  // segments; 19×203 has odd segments (a pad that is not a weight, maybe the exception index).
  it.each<[number, number, Distribution]>([[53, 64, 'outliers'], [33, 1000, 'gaussian'], [19, 203, 'laplace'], [1, 7, 'uniform'], [64, 172, 'outliers']])(
    '%i×%i %s: indices bit-exact, y with exceptions, M = 1 and 3', async (rows, cols, dist) => {
      const c = compressEcsq(rows, cols, dist, { symbolsPerLane: 256 });
      await checkEcsq(c, [1, 3]);
    });

  it('streams split across bindings (one dispatch per part, lists addressed by global lane)', async () => {
    const c = compressEcsq(96, 512, 'outliers', { symbolsPerLane: 128, lanesPerTile: 64 });
    expect(await checkEcsq(c, [1], 8192)).toBeGreaterThanOrEqual(3);
  });

  it('heavy tails: most weights exceptions, some with long Exp-Golomb codes, M = 1 and 8', async () => {
    const c = compressEcsq(24, 320, 'laplace', { rate: { stepScale: 0.02 }, symbolsPerLane: 320 });
    expect(c.quantized.exceptions!.values.length).toBeGreaterThan(24 * 320 / 2);
    expect(Math.max(...c.quantized.exceptions!.values.map(Math.abs))).toBeGreaterThan(200); // a 15-bit excess code
    await checkEcsq(c, [1, 8]);
  });

  it('the clamped extremes as the most frequent indices (an odd segment is padded with one): still exact', async () => {
    const c = compressEcsq(9, 65, 'gaussian', { rate: { stepScale: 0.005 } });
    const counts = new Array(16).fill(0);
    for (const i of c.quantized.indices) counts[i]++;
    expect([0, 15]).toContain(counts.indexOf(Math.max(...counts)));
    await checkEcsq(c, [2]);
  });

  it('q4 and decode-then-q4 are MODE_UNAVAILABLE; auto runs fused; prepareMatVec compiles fused only', async () => {
    const { device } = gpu.get();
    const c = compressEcsq(16, 128, 'gaussian');
    expect(() => uploadMatrix(device, { params: c.quantized, encoded: c.encoded }, { q4: true })).toThrowError(expect.objectContaining({ code: 'MODE_UNAVAILABLE' }));
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    const x = randomX(128, 4);
    for (const mode of ['q4', 'decode-then-q4'] as MatVecMode[]) {
      expect(() => fusedMatVec(device, m, x, { mode })).toThrowError(expect.objectContaining({ code: 'MODE_UNAVAILABLE' }));
      await expect(prepareMatVec(device, m, { modes: [mode] })).rejects.toMatchObject({ code: 'MODE_UNAVAILABLE' });
    }
    await prepareMatVec(device, m, { modes: ['auto'] });
    expect(await fusedMatVec(device, m, x, { mode: 'auto' })).toEqual(await fusedMatVec(device, m, x));
    m.destroy();
  });

  it('reads bytes for steps and exception lists, not group parameters', () => {
    const { device } = gpu.get();
    const c = compressEcsq(64, 256, 'gaussian');
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    expect(m.bytes.params).toBe(4 * 64);
    const e = c.encoded.exceptions!;
    expect(m.bytes.streams).toBeGreaterThan(e.bits.byteLength + 4 * (e.counts.length + 1));
    expect(internals(m).rule).toBe('rows');
    m.destroy();
  });

  it('lists that do not parse are refused at upload; lists the GPU reads otherwise than the host fail the end-of-lane check', async () => {
    const { device } = gpu.get();
    const c = compressEcsq(32, 256, 'outliers', { rate: { stepScale: 0.2 }, symbolsPerLane: 256 });
    const e = c.encoded.exceptions!;
    const lane = e.counts.findIndex((n, l) => n > 0 && l + 1 < e.counts.length);
    const counts = e.counts.slice();
    counts[lane]--; counts[lane + 1]++; // the same total: every size check passes
    expect(() => uploadMatrix(device, { params: c.quantized, encoded: { ...c.encoded, exceptions: { ...e, counts } } })).toThrowError(expect.objectContaining({ code: 'BAD_EXCEPTIONS' }));
    // The kernel reading the lists with another gap order than they were written with (a bug the
    // host cannot see): lanes do not end where their lists do, and the status says so.
    const m = uploadMatrix(device, { params: c.quantized, encoded: c.encoded });
    (internals(m) as { exceptionGapBits: number }).exceptionGapBits = e.gapBits + 3;
    await fusedMatVec(device, m, randomX(256, 1));
    const status = await readStreamStatus(device, m);
    expect(status.failedLanes).toBeGreaterThan(0);
    m.destroy();
  });
});
