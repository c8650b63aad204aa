/**
 * The host pipeline for one matrix: quantize (or take imported indices) → entropy-code → stats.
 */
import type { WeightMatrix } from './io/model.js';
import { dequantize, energyToDb, quantizationEnergy, quantize, type QuantizeOptions } from './quantize/quantize.js';
import { paramCount, type QuantizedMatrix } from './quantize/types.js';
import { encodedBytes, encodeIndices, type EncodedMatrix, type ProgressCallback } from './rans/codec.js';
import { entropyBits, histogram } from './rans/frequencies.js';
import type { LayoutOptions } from './rans/layout.js';

/** Size and quality figures of one compressed matrix (the `analyze --json` record). */
export interface MatrixStats {
  name: string;
  rows: number;
  cols: number;
  quantizer: string;
  groupSize: number;
  /** Shannon entropy of the indices, bits/weight. */
  entropyBits: number;
  /** Coded indices with all stream metadata (frequency table, lane states and lengths, padding), bits/weight. */
  bitsPerWeight: number;
  /** bitsPerWeight over entropy, in %. */
  overheadPct: number;
  /** f16/bf16 scales and biases, bits/weight. */
  scaleBitsPerWeight: number;
  /** SQNR of the quantizer in dB; null for imported (already quantized) weights. */
  sqnrDb: number | null;
  /** Count of each index value 0..15. */
  histogram: number[];
}

/** Options of {@link compressMatrix}. */
export type CompressOptions = QuantizeOptions & LayoutOptions;

/** A compressed matrix and its figures. */
export interface CompressedMatrix {
  name: string;
  quantized: QuantizedMatrix;
  encoded: EncodedMatrix;
  stats: MatrixStats;
  /** Σw² and Σ(w − ŵ)² of float input (null for imported indices), for pooled SQNR. */
  energy: { signal: number; noise: number } | null;
}

/**
 * Quantizes (float input) or takes the imported indices (quantized input), encodes, and measures.
 *
 * @example
 * ```ts
 * const c = compressMatrix({ name: 'wq', rows, cols, kind: 'float', weights }, { groupSize: 64 });
 * console.log(c.stats.bitsPerWeight, c.stats.sqnrDb);
 * ```
 */
export function compressMatrix(m: WeightMatrix, options: CompressOptions = {}, onProgress?: ProgressCallback): CompressedMatrix {
  const quantized = m.kind === 'float' ? quantize(m.weights, m.rows, m.cols, options) : m.quantized;
  const encoded = encodeIndices(quantized.indices, m.rows, m.cols, quantized.groupSize, options, onProgress);
  const weights = m.rows * m.cols;
  const counts = histogram(quantized.indices);
  const h = entropyBits(counts);
  const bpw = (encodedBytes(encoded) * 8) / weights;
  let energy: CompressedMatrix['energy'] = null;
  if (m.kind === 'float') {
    energy = quantizationEnergy(m.weights, dequantize(quantized));
  }
  const params = paramCount(quantized.quantizer, m.rows, m.cols, quantized.groupSize);
  return {
    name: m.name, quantized, encoded, energy,
    stats: {
      name: m.name, rows: m.rows, cols: m.cols, quantizer: quantized.quantizer, groupSize: quantized.groupSize,
      entropyBits: h, bitsPerWeight: bpw, overheadPct: h > 0 ? (bpw / h - 1) * 100 : Infinity,
      scaleBitsPerWeight: (params * (quantized.biases ? 2 : 1) * 16) / weights,
      sqnrDb: energy ? energyToDb(energy) : null,
      histogram: Array.from(counts),
    },
  };
}

/**
 * Totals over several matrices, with the same fields as one matrix's stats (`rows` is the total
 * weight count and `cols` 1). Entropy is the size-weighted mean of each matrix's own entropy,
 * as each matrix has its own frequency table; SQNR is Σ signal / Σ noise over all weights.
 *
 * @example
 * ```ts
 * const total = totalStats(matrices.map((m) => compressMatrix(m)));
 * console.log(total.bitsPerWeight, total.sqnrDb);
 * ```
 */
export function totalStats(all: CompressedMatrix[]): MatrixStats {
  const weights = all.reduce((n, c) => n + c.stats.rows * c.stats.cols, 0);
  const hist = new Array<number>(16).fill(0);
  let entropy = 0, coded = 0, scaleBits = 0, signal = 0, noise = 0;
  for (const { stats: s, energy } of all) {
    const n = s.rows * s.cols;
    entropy += s.entropyBits * n;
    coded += s.bitsPerWeight * n;
    scaleBits += s.scaleBitsPerWeight * n;
    s.histogram.forEach((c, i) => (hist[i] += c));
    signal += energy?.signal ?? NaN;
    noise += energy?.noise ?? NaN;
  }
  const h = entropy / weights, bpw = coded / weights;
  return {
    name: 'total', rows: weights, cols: 1, quantizer: all[0]?.stats.quantizer ?? '', groupSize: all[0]?.stats.groupSize ?? 0,
    entropyBits: h, bitsPerWeight: bpw, overheadPct: (bpw / h - 1) * 100, scaleBitsPerWeight: scaleBits / weights,
    sqnrDb: Number.isNaN(signal) ? null : energyToDb({ signal, noise }), histogram: hist,
  };
}
