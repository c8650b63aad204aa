/**
 * Figures derived from raw suite results: bandwidth, the decode rate the fused kernel needs to
 * stay memory-bound, fused-vs-q4 verdicts and projected tokens/s for an 8B model.
 */
import { LLAMA_8B_STACK } from './presets.js';
import type { KernelId, ShapeResult, Spread } from './suite.js';

/** Peak DRAM bandwidth (GB/s) of Apple M-series chips, matched against the adapter description. */
export const APPLE_PEAK_GBPS: [RegExp, number][] = [
  [/m1 ultra/i, 800], [/m1 max/i, 400], [/m1 pro/i, 200], [/\bm1\b/i, 68],
  [/m2 ultra/i, 800], [/m2 max/i, 400], [/m2 pro/i, 200], [/\bm2\b/i, 100],
  [/m3 ultra/i, 819], [/m3 max/i, 400], [/m3 pro/i, 150], [/\bm3\b/i, 100],
  [/m4 max/i, 546], [/m4 pro/i, 273], [/\bm4\b/i, 120],
];

/** The device's peak bandwidth: `--peak-gbps`, else the Apple table, else unknown. */
export function peakBandwidth(description: string, override?: number): { gbps: number | null; source: string } {
  if (override) return { gbps: override, source: '--peak-gbps' };
  const hit = APPLE_PEAK_GBPS.find(([re]) => re.test(description));
  return hit ? { gbps: hit[1], source: `Apple table (${hit[0].source})` } : { gbps: null, source: 'not known: pass --peak-gbps' };
}

export interface KernelMetrics {
  kernel: KernelId;
  medianMs: number | null;
  p10Ms: number | null;
  p90Ms: number | null;
  timingSource: string | null;
  gbps: number | null;
  pctOfPeak: number | null;
  /** CPU ms of the process per product (Node on SwiftShader: its worker threads), or null. */
  cpuMedianMs: number | null;
  /** Host µs to record one product (mean of 200 in a row): the library's per-call cost on a runtime's path. */
  recordUs: number | null;
  /** time / time(dense-f32), round by round: median, min, max. */
  vsDense: Spread | null;
  /** time / time(q4), round by round. */
  vsQ4: Spread | null;
  /** time / time(fused), round by round (fused-ecsq against fused affine). */
  vsFused: Spread | null;
  verified: boolean;
  maxRelErr: number;
  skipped?: string;
}

export interface ShapeMetrics {
  name: string;
  rows: number;
  cols: number;
  entropyBits: number;
  /** Coded indices with all stream metadata, bits/weight. */
  bitsPerWeight: number;
  scaleBitsPerWeight: number;
  sqnrDb: number;
  /** The ecsq quantization fused-ecsq runs: all-in bits/weight, exception share, SQNR. */
  ecsq: ShapeResult['ecsq'];
  /** time(fused-ecsq) / time(fused), median of per-round ratios. */
  ecsqOverFused: number | null;
  kernels: KernelMetrics[];
  /** Symbols/s of the decode-only kernel. */
  decodeSymbolsPerSec: number | null;
  /** Symbols/s the decoder must reach to keep the fused kernel memory-bound: 8·BW / bits read per weight. */
  neededSymbolsPerSec: number | null;
  /** Which bandwidth `neededSymbolsPerSec` assumes: the peak, or the q4 kernel's measured GB/s. */
  neededRateBasis: string;
  /** Bytes the fused kernel reads less than q4 per product, % of q4's (negative: it reads more). */
  bytesSavedVsQ4: number | null;
  /** Decode-only throughput as a % of `neededSymbolsPerSec`: ≥ 100 keeps fused memory-bound. */
  decodeRateOfNeeded: number | null;
  /** time(fused) / time(q4), median of per-round ratios; < 1 means fused wins. */
  fusedOverQ4: number | null;
  decodeOverQ4: number | null;
  verdict: string;
}

const kernelOf = (r: ShapeResult, k: KernelId) => r.kernels.find((x) => x.kernel === k);

/**
 * Below this many bytes per product (q4's) a time is launch overhead, not the kernel: no verdict.
 * stories260K's matrices (≤ 512×64, ≤ 20 KB) took 5–11 µs for every kernel on an H200.
 */
export const MIN_VERDICT_BYTES = 1 << 20;

/**
 * Fused against q4 in words: a winner only when the sizes are large enough to time the kernels
 * rather than the launch, and when the two kernels' p10–p90 ranges do not overlap.
 */
export function verdict(r: ShapeResult, decodeRateOfNeeded: number | null): string {
  const fused = kernelOf(r, 'fused'), q4 = kernelOf(r, 'q4');
  const ratio = fused?.ratios?.vsQ4?.median;
  if (!fused?.timing || !q4?.timing || ratio === undefined) return 'not measured';
  if (q4.bytes < MIN_VERDICT_BYTES) return `no verdict: ${(q4.bytes / 1024).toFixed(1)} KiB per product is too small to time more than the launch`;
  if (fused.timing.p10Ms <= q4.timing.p90Ms && q4.timing.p10Ms <= fused.timing.p90Ms) return 'no verdict: fused and q4 p10–p90 times overlap';
  if (ratio <= 1) return `fused wins by ${((1 / ratio - 1) * 100).toFixed(0)} %`;
  return `fused loses by ${((ratio - 1) * 100).toFixed(0)} %${decodeRateOfNeeded !== null ? `: decode reaches ${decodeRateOfNeeded.toFixed(1)} % of the rate it needs` : ''}`;
}

/** Metrics for one shape. */
export function shapeMetrics(r: ShapeResult, peakGbps: number | null): ShapeMetrics {
  const weights = r.shape.rows * r.shape.cols;
  const kernels: KernelMetrics[] = r.kernels.map((k) => ({
    kernel: k.kernel, medianMs: k.timing?.medianMs ?? null, p10Ms: k.timing?.p10Ms ?? null, p90Ms: k.timing?.p90Ms ?? null,
    timingSource: k.timing?.source ?? null, gbps: k.gbps, pctOfPeak: k.gbps !== null && peakGbps ? (100 * k.gbps) / peakGbps : null,
    cpuMedianMs: k.timing?.cpuMedianMs ?? null, recordUs: k.recordUs ?? null, vsDense: k.ratios?.vsDense ?? null, vsQ4: k.ratios?.vsQ4 ?? null,
    vsFused: k.ratios?.vsFused ?? null, verified: k.verified, maxRelErr: k.maxRelErr, skipped: k.skipped,
  }));
  const fused = kernelOf(r, 'fused'), q4 = kernelOf(r, 'q4'), decode = kernelOf(r, 'decode');
  const decodeRate = decode?.timing ? weights / (decode.timing.medianMs / 1e3) : null;
  const basisGbps = peakGbps ?? q4?.gbps ?? null;
  const fusedBitsRead = fused ? (fused.bytes * 8) / weights : r.bitsPerWeight + r.scaleBitsPerWeight;
  const needed = basisGbps !== null ? (8 * basisGbps * 1e9) / fusedBitsRead : null;
  // Per-round ratios (interleaved timing) are steadier than a ratio of two medians.
  const fusedOverQ4 = fused?.ratios?.vsQ4?.median ?? null;
  const decodeOverQ4 = decode?.ratios?.vsQ4?.median ?? null;
  const decodeRateOfNeeded = decodeRate !== null && needed !== null ? (100 * decodeRate) / needed : null;
  const bytesSavedVsQ4 = fused && q4 && q4.bytes > 0 ? 100 * (1 - fused.bytes / q4.bytes) : null;
  return {
    name: r.shape.name, rows: r.shape.rows, cols: r.shape.cols, entropyBits: r.entropyBits, bitsPerWeight: r.bitsPerWeight,
    scaleBitsPerWeight: r.scaleBitsPerWeight, sqnrDb: r.sqnrDb, ecsq: r.ecsq ?? null,
    ecsqOverFused: kernelOf(r, 'fused-ecsq')?.ratios?.vsFused?.median ?? null, kernels, decodeSymbolsPerSec: decodeRate,
    neededSymbolsPerSec: needed, neededRateBasis: peakGbps ? 'peak bandwidth' : 'measured q4 bandwidth',
    bytesSavedVsQ4, decodeRateOfNeeded, fusedOverQ4, decodeOverQ4, verdict: verdict(r, decodeRateOfNeeded),
  };
}

/**
 * Projected tokens/s of an 8B Llama's weight reads (32 layers + vocabulary) per kernel: each
 * matrix of the stack takes the time measured for its shape, or, for shapes not measured, the
 * per-weight time of the largest measured synthetic shape (then `extrapolated` is true).
 */
export function projectTokensPerSec(shapes: ShapeMetrics[], kernel: KernelId): { tokensPerSec: number | null; extrapolated: boolean } {
  const timed = shapes.filter((s) => !s.name.startsWith('stories') && s.kernels.find((k) => k.kernel === kernel)?.medianMs);
  if (!timed.length) return { tokensPerSec: null, extrapolated: false };
  const ms = (s: ShapeMetrics) => s.kernels.find((k) => k.kernel === kernel)!.medianMs!;
  const largest = timed.reduce((a, b) => (a.rows * a.cols >= b.rows * b.cols ? a : b));
  let total = 0, extrapolated = false;
  for (const m of LLAMA_8B_STACK) {
    const exact = timed.find((s) => s.rows === m.rows && s.cols === m.cols);
    if (!exact) extrapolated = true;
    total += m.count * (exact ? ms(exact) : (ms(largest) * m.rows * m.cols) / (largest.rows * largest.cols));
  }
  return { tokensPerSec: 1000 / total, extrapolated };
}
