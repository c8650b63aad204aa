/**
 * Bytes per weight against quality for several quantizers, on stories260K's real weights:
 * the data of the report's "bytes per weight vs SQNR" chart. Plain q4 pays 4 bits per index,
 * rANS pays the coded bits; both pay the same scale/bias bits.
 */
import { readFileSync } from 'node:fs';
import { llama2cMatrices } from '../src/io/llama2c.js';
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
}

const CONFIGS: [QuantizerKind, number][] = [['affine', 32], ['affine', 64], ['affine', 128], ['symmetric', 32], ['symmetric', 64], ['per-tensor', 64]];

export function quantizerSweep(): SweepPoint[] {
  const matrices = llama2cMatrices(new Uint8Array(readFileSync(bundledModel().model)));
  return CONFIGS.map(([quantizer, groupSize]) => {
    const t = totalStats(matrices.map((m) => compressMatrix(m, { quantizer, groupSize })));
    return {
      label: quantizer === 'per-tensor' ? 'per-tensor' : `${quantizer} g${groupSize}`, quantizer, groupSize,
      sqnrDb: t.sqnrDb!, entropyBits: t.entropyBits,
      q4BytesPerWeight: (4 + t.scaleBitsPerWeight) / 8, ransBytesPerWeight: (t.bitsPerWeight + t.scaleBitsPerWeight) / 8,
    };
  });
}
