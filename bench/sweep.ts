/**
 * Bits per weight against quality for several quantizers: the data of the report's quantizer
 * charts. On stories260K's real weights: SQNR, and KL of the model (`rans-gemv eval`'s measure on
 * 8 seeded continuations of 128 tokens, a few seconds each); on a synthetic Gaussian matrix:
 * SQNR. Plain q4 pays 4 bits per index, rANS pays the coded bits (with exception lists for ecsq);
 * both pay the same scale/bias (or row-step) bits. ecsq has no plain q4 form.
 */
import { readFileSync } from 'node:fs';
import { evaluateModel } from '../src/llm/eval.js';
import { modelFromCheckpoint } from '../src/llm/model.js';
import { bundledModel } from '../src/paths.js';
import { compressMatrix, totalStats, type CompressedMatrix, type CompressOptions } from '../src/pipeline.js';
import type { QuantizerKind } from '../src/quantize/types.js';
import { gaussianWeights } from './synthetic.js';

export interface SweepPoint {
  label: string;
  quantizer: QuantizerKind;
  groupSize: number;
  sqnrDb: number;
  /** Plain q4 (4-bit indices + scales), bytes/weight; null for ecsq, which has no plain q4 form. */
  q4BytesPerWeight: number | null;
  ransBytesPerWeight: number;
  entropyBits: number;
  /** Mean KL(fp32 ‖ quantized) per token of the stories260K model ({@link SWEEP_EVAL}). */
  klDivergence: number;
  /** The same quantizer on {@link SWEEP_GAUSSIAN}: all-in rANS bits/weight and SQNR. */
  gaussian: { bitsPerWeight: number; sqnrDb: number };
}

/** How the sweep measures KL: fewer tokens than `rans-gemv eval`'s default, so a run stays short. */
export const SWEEP_EVAL = { sequences: 8, tokens: 128, seed: 1 };

/** The synthetic matrix of the SQNR chart: wide rows, as in a 7B model. */
export const SWEEP_GAUSSIAN = { rows: 512, cols: 4096, seed: 4097 };

const CONFIGS: [string, CompressOptions][] = [
  ['affine g32', { groupSize: 32 }], ['affine g64', { groupSize: 64 }], ['affine g128', { groupSize: 128 }],
  ['symmetric g32', { quantizer: 'symmetric', groupSize: 32 }], ['symmetric g64', { quantizer: 'symmetric', groupSize: 64 }],
  ['per-tensor', { quantizer: 'per-tensor', groupSize: 64 }],
  ...[3.6, 3.8, 4.0, 4.2, 4.5].map((bits): [string, CompressOptions] => [`ecsq ${bits} b/w`, { quantizer: 'ecsq', rate: { bits } }]),
];

export async function quantizerSweep(): Promise<SweepPoint[]> {
  const bin = new Uint8Array(readFileSync(bundledModel().model));
  const { rows, cols, seed } = SWEEP_GAUSSIAN;
  const gaussian = { name: 'gaussian', rows, cols, kind: 'float' as const, weights: gaussianWeights(rows * cols, seed) };
  const points: SweepPoint[] = [];
  for (const [label, options] of CONFIGS) {
    const compressed: CompressedMatrix[] = [];
    const model = modelFromCheckpoint(bin, options, (c) => compressed.push(c)); // its matrices' figures too
    const t = totalStats(compressed);
    const g = compressMatrix(gaussian, options).stats;
    const { klDivergence } = await evaluateModel(model, SWEEP_EVAL);
    const quantizer = options.quantizer ?? 'affine';
    points.push({
      label, quantizer, groupSize: options.groupSize ?? 64,
      sqnrDb: t.sqnrDb!, entropyBits: t.entropyBits, klDivergence,
      q4BytesPerWeight: quantizer === 'ecsq' ? null : (4 + t.scaleBitsPerWeight) / 8, ransBytesPerWeight: (t.bitsPerWeight + t.scaleBitsPerWeight) / 8,
      gaussian: { bitsPerWeight: g.bitsPerWeight + g.scaleBitsPerWeight, sqnrDb: g.sqnrDb! },
    });
  }
  return points;
}
