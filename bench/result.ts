/** The benchmark's JSON output (schema: bench/result.schema.json) and how it is assembled. */
import type { Calibration, CalibrationEntry } from '../src/gpu/auto.js';
import { peakBandwidth, projectTokensPerSec, shapeMetrics, type ShapeMetrics } from './metrics.js';
import { KERNELS, type KernelId, type ShapeResult, type SuiteConfig } from './suite.js';
import type { SweepPoint } from './sweep.js';

export const RESULT_SCHEMA_ID = 'rans-gemv-bench/1';

export interface BenchResult {
  schema: typeof RESULT_SCHEMA_ID;
  date: string;
  runtime: 'browser' | 'node';
  preset: string;
  device: {
    description: string;
    /** True on SwiftShader: every figure is a software figure, not a GPU one. */
    software: boolean;
    /** How figures are labelled: "software (SwiftShader)" or the adapter description. */
    label: string;
    features: string[];
    peakGbps: number | null;
    peakSource: string;
  };
  config: Omit<SuiteConfig, 'shapes'>;
  shapes: ShapeMetrics[];
  projections: { kernel: KernelId; tokensPerSec: number | null; extrapolated: boolean }[];
  sweep: SweepPoint[];
  calibration: Calibration;
}

export function assembleResult(args: {
  runtime: 'browser' | 'node'; preset: string; description: string; software: boolean; features: string[];
  config: Omit<SuiteConfig, 'shapes'>; results: ShapeResult[]; sweep: SweepPoint[]; peakGbps?: number;
}): BenchResult {
  const peak = peakBandwidth(args.description, args.peakGbps);
  const shapes = args.results.map((r) => shapeMetrics(r, peak.gbps));
  const label = args.software ? 'software (SwiftShader)' : args.description;
  const entries = args.results.flatMap((r) => {
    const t = (k: KernelId) => r.kernels.find((x) => x.kernel === k)?.timing?.medianMs;
    const fusedMs = t('fused'), q4Ms = t('q4');
    return fusedMs && q4Ms ? [{ rows: r.shape.rows, cols: r.shape.cols, vectors: args.config.vectors, fusedMs, q4Ms, decodeMs: t('decode') }] : [];
  });
  return {
    schema: RESULT_SCHEMA_ID, date: new Date().toISOString(), runtime: args.runtime, preset: args.preset,
    device: { description: args.description, software: args.software, label, features: args.features, peakGbps: peak.gbps, peakSource: peak.source },
    config: args.config, shapes,
    projections: KERNELS.filter((k) => k !== 'decode').map((kernel) => ({ kernel, ...projectTokensPerSec(shapes, kernel) })),
    sweep: args.sweep,
    calibration: { device: label, entries },
  };
}

/**
 * A fresh calibration merged into the one already on disk for the same device: shapes measured
 * now (rows × cols × vectors) replace theirs, the others stay, so a small run does not erase a
 * full one. A file for another device is replaced.
 */
export function mergeCalibration(previous: Calibration | null, fresh: Calibration): Calibration {
  if (!previous || previous.device !== fresh.device) return fresh;
  const key = (e: CalibrationEntry) => `${e.rows}×${e.cols}×${e.vectors}`;
  const measured = new Set(fresh.entries.map(key));
  return { device: fresh.device, entries: [...previous.entries.filter((e) => !measured.has(key(e))), ...fresh.entries] };
}
