import { describe, expect, it } from 'vitest';
import { peakBandwidth, shapeMetrics } from '../bench/metrics.js';
import { mergeCalibration } from '../bench/result.js';
import type { KernelId, KernelResult, ShapeResult } from '../bench/suite.js';

/** A kernel timed at `ms` (p10–p90 = ms ± spread), reading `bytes` per product. */
function kernel(kernel: KernelId, ms: number, bytes: number, spread = 0.01, vsQ4 = 1): KernelResult {
  return {
    kernel, verified: true, maxRelErr: 0, bytes, gbps: bytes / ms / 1e6,
    timing: { medianMs: ms, p10Ms: ms - spread, p90Ms: ms + spread, source: 'timestamp', wallMedianMs: ms, cpuMedianMs: null },
    ratios: { vsDense: null, vsQ4: { median: vsQ4, min: vsQ4, max: vsQ4 } },
  };
}

function shape(rows: number, cols: number, fusedMs: number, q4Ms: number, spread = 0.01): ShapeResult {
  const q4Bytes = rows * cols * 0.5625, fusedBytes = rows * cols * 0.5375;
  return {
    shape: { name: `${rows}×${cols}`, rows, cols }, bitsPerWeight: 3.8, entropyBits: 3.75, scaleBitsPerWeight: 0.5, sqnrDb: 21, ecsq: null,
    kernels: [kernel('q4', q4Ms, q4Bytes, spread), kernel('fused', fusedMs, fusedBytes, spread, fusedMs / q4Ms), kernel('decode', fusedMs, fusedBytes, spread, fusedMs / q4Ms)],
  };
}

describe('benchmark verdicts and figures', () => {
  it('judges large shapes whose times are apart, and says how far the decoder is from what fused needs', () => {
    const m = shapeMetrics(shape(4096, 4096, 0.2, 0.05), 800);
    expect(m.verdict).toMatch(/^fused loses by 300 %: decode reaches [\d.]+ % of the rate it needs$/);
    expect(m.bytesSavedVsQ4).toBeCloseTo(100 * (1 - 0.5375 / 0.5625), 6);
    expect(m.decodeRateOfNeeded).toBeCloseTo((100 * (4096 * 4096) / 0.2e-3) / ((8 * 800e9) / (0.5375 * 8)), 6);
    expect(shapeMetrics(shape(4096, 4096, 0.02, 0.05), 800).verdict).toBe('fused wins by 150 %');
  });

  it('gives no verdict where launch overhead dominates or the p10–p90 ranges overlap', () => {
    expect(shapeMetrics(shape(172, 64, 0.1, 0.008), null).verdict).toMatch(/^no verdict: 6\.0 KiB per product is too small/);
    expect(shapeMetrics(shape(4096, 4096, 0.21, 0.2, 0.02), null).verdict).toBe('no verdict: fused and q4 p10–p90 times overlap');
  });

  it('names the missing peak once, and the source of a known one', () => {
    expect(peakBandwidth('nvidia / nvidia-h200')).toEqual({ gbps: null, source: 'not known: pass --peak-gbps' });
    expect(peakBandwidth('apple / m3 max')).toMatchObject({ gbps: 400 });
    expect(peakBandwidth('anything', 4800)).toEqual({ gbps: 4800, source: '--peak-gbps' });
  });

  it('merges calibrations per device: a small run replaces its shapes and keeps the others', () => {
    const e = (rows: number, fusedMs: number) => ({ rows, cols: 4096, vectors: 1, fusedMs, q4Ms: 1 });
    const full = { device: 'gpu', entries: [e(4096, 2), e(1024, 3), e(14336, 4)] };
    const small = { device: 'gpu', entries: [e(1024, 5)] };
    expect(mergeCalibration(full, small).entries).toEqual([e(4096, 2), e(14336, 4), e(1024, 5)]);
    expect(mergeCalibration(full, { ...small, device: 'other' })).toEqual({ ...small, device: 'other' });
    expect(mergeCalibration(null, small)).toBe(small);
  });
});
