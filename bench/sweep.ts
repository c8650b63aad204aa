/**
 * Bytes per weight against quality for several quantizers, on stories260K's real weights:
 * the data of the report's "bytes per weight vs SQNR" and "bits per weight vs KL" charts. Plain
 * q4 pays 4 bits per index, rANS pays the coded bits; both pay the same scale/bias bits. KL is
 * `rans-gemv eval`'s measure on 8 seeded continuations of 128 tokens (a few seconds each).
 */
import { readFileSync } from 'node:fs';
import { llama2cMatrices } from '../src/io/llama2c.js';
import { evaluateModel } from '../src/llm/eval.js';
import { modelFromCheckpoint } from '../src/llm/model.js';
import { bundledModel } from '../src/paths.js';
import { compressMatrix, totalStats } from '../src/pipeline.js';
import type { QuantizerKind } from '../src/quantize/types.js';

export interface SweepPoint {
  label: string;
  quantizer: QuantizerKind;
  groupSize: number;
  sqnrDb: number;
  q4BytesPerWeight: number;
  ransBytesPerWeight: number;
  entropyBits: number;
  /** Mean KL(fp32 ‖ quantized) per token of the stories260K model ({@link SWEEP_EVAL}). */
  klDivergence: number;
}

/** How the sweep measures KL: fewer tokens than `rans-gemv eval`'s default, so a run stays short. */
export const SWEEP_EVAL = { sequences: 8, tokens: 128, seed: 1 };

const CONFIGS: [QuantizerKind, number][] = [['affine', 32], ['affine', 64], ['affine', 128], ['symmetric', 32], ['symmetric', 64], ['per-tensor', 64]];

export async function quantizerSweep(): Promise<SweepPoint[]> {
  const bin = new Uint8Array(readFileSync(bundledModel().model));
  const matrices = llama2cMatrices(bin);
  const points: SweepPoint[] = [];
  for (const [quantizer, groupSize] of CONFIGS) {
    const t = totalStats(matrices.map((m) => compressMatrix(m, { quantizer, groupSize })));
    const { klDivergence } = await evaluateModel(modelFromCheckpoint(bin, { quantizer, groupSize }), SWEEP_EVAL);
    points.push({
      label: quantizer === 'per-tensor' ? 'per-tensor' : `${quantizer} g${groupSize}`, quantizer, groupSize,
      sqnrDb: t.sqnrDb!, entropyBits: t.entropyBits, klDivergence,
      q4BytesPerWeight: (4 + t.scaleBitsPerWeight) / 8, ransBytesPerWeight: (t.bitsPerWeight + t.scaleBitsPerWeight) / 8,
    });
  }
  return points;
}
