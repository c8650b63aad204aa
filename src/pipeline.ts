/**
 * The host pipeline for one matrix: quantize (or take imported indices) → entropy-code → stats.
 */
import { indexChecksum } from './container/container.js';
import { InvalidInputError } from './errors.js';
import { entryMatrix, entryRegions, floatRows, rowBytes, withRegions, type MatrixEntry, type WeightMatrix } from './io/model.js';
import type { ByteSource } from './io/source.js';
import { energyToDb, MatrixQuantizer, type QuantizeOptions } from './quantize/quantize.js';
import { parameterBits, type QuantizedMatrix } from './quantize/types.js';
import { encodedBytes, encodeIndices, type EncodedMatrix, type ProgressCallback } from './rans/codec.js';
import { exceptionBytes, laneExceptions } from './rans/exceptions.js';
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
  /** f16/bf16 scales and biases (`ecsq`: E5M3 row steps), bits/weight. */
  scaleBitsPerWeight: number;
  /** `ecsq`: exception lists (per-lane counts, positions and values), bits/weight, included in `bitsPerWeight`; 0 otherwise. */
  exceptionBitsPerWeight: number;
  /** `ecsq`: the step scale s (row step = s·RMS of the row); null otherwise. */
  stepScale: number | null;
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
  /** {@link indexChecksum} of the indices. */
  indexCrc32: number;
  stats: MatrixStats;
  /** Σw² and Σ(w − ŵ)² of float input (null for imported indices), for pooled SQNR. */
  energy: { signal: number; noise: number } | null;
  /** Things the user should know that are not errors (e.g. weights below f16's normal range). */
  warnings: string[];
}

/** The smallest normal f16: weights below it lose precision in f16 scales. */
const F16_MIN_NORMAL = 2 ** -14;

/** Encodes quantized indices and measures the result. */
function encodeAndMeasure(name: string, quantized: QuantizedMatrix, quantizer: MatrixQuantizer | null, options: CompressOptions, onProgress?: ProgressCallback): CompressedMatrix {
  const { rows, cols } = quantized;
  const counts = histogram(quantized.indices);
  const encoded = encodeIndices(quantized.indices, rows, cols, quantized.groupSize, options, onProgress, counts);
  if (quantized.quantizer === 'ecsq') encoded.exceptions = laneExceptions(encoded.geometry, quantized.exceptions ?? { positions: new Uint32Array(0), values: new Int32Array(0) });
  const weights = rows * cols;
  const h = entropyBits(counts);
  const bpw = (encodedBytes(encoded) * 8) / weights;
  const energy = quantizer ? { signal: quantizer.signal, noise: quantizer.noise } : null;
  const warnings = quantizer && quantizer.maxAbs > 0 && quantizer.maxAbs < F16_MIN_NORMAL
    ? [`${name}: every weight is below f16's normal range (max |w| = ${quantizer.maxAbs.toExponential(2)}); f16 scales keep little of it (SQNR ${energyToDb(energy!).toFixed(1)} dB)`]
    : [];
  return {
    name, quantized, encoded, energy, warnings, indexCrc32: indexChecksum(quantized.indices, rows, cols),
    stats: {
      name, rows, cols, quantizer: quantized.quantizer, groupSize: quantized.groupSize,
      entropyBits: h, bitsPerWeight: bpw, overheadPct: h > 0 ? (bpw / h - 1) * 100 : Infinity,
      scaleBitsPerWeight: parameterBits(quantized) / weights,
      exceptionBitsPerWeight: encoded.exceptions ? (exceptionBytes(encoded.exceptions) * 8) / weights : 0,
      stepScale: quantized.stepScale ?? null,
      sqnrDb: energy ? energyToDb(energy) : null,
      histogram: Array.from(counts),
    },
  };
}

/** Re-throws a library error with the tensor (and file) it concerns in front of its message. */
function naming<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InvalidInputError && !e.message.startsWith(what)) throw new InvalidInputError(e.code, `${what}: ${e.message}`);
    throw e;
  }
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
  return naming(m.name, () => {
    if (m.kind === 'quantized') return encodeAndMeasure(m.name, m.quantized, null, options, onProgress);
    const mq = new MatrixQuantizer(m.rows, m.cols, options);
    if (mq.needsRange) mq.scanRange(m.weights);
    mq.addRows(m.weights);
    return encodeAndMeasure(m.name, mq.result(), mq, options, onProgress);
  });
}

/** Bytes of file data a streaming compressor reads at a time (whole rows; at least one row). */
export const DEFAULT_CHUNK_BYTES = 8 << 20;

/**
 * {@link compressMatrix} for a matrix still in its file: reads it a block of rows at a time
 * (`chunkBytes`, default {@link DEFAULT_CHUNK_BYTES}), widening and quantizing each block, so
 * memory is the indices (1 byte/weight) and one block, never the f32 matrix. `onProgress` gets the
 * fraction of this matrix done. Errors name the file and the tensor.
 *
 * @example
 * ```ts
 * const reader = await openModel(fileSource('model.safetensors'));
 * const c = await compressEntry(reader.source, reader.matrices[0], { groupSize: 64 });
 * ```
 */
export async function compressEntry(
  source: ByteSource, entry: MatrixEntry, options: CompressOptions = {},
  onProgress?: (fraction: number) => void, chunkBytes = DEFAULT_CHUNK_BYTES,
): Promise<CompressedMatrix> {
  const what = `${source.name}: ${entry.name}`;
  if (entry.kind !== 'float') { // already 4-bit: imported whole (≈ 0.56 bytes/weight)
    const m = await withRegions(source, entryRegions(entry), (region) => entryMatrix(entry, region, source.name));
    return naming(what, () => compressMatrix(m, options, (done, total) => onProgress?.(done / total)));
  }
  const mq = naming(what, () => new MatrixQuantizer(entry.rows, entry.cols, options));
  const bytesPerRow = rowBytes(entry);
  const rowsPerBlock = Math.max(1, Math.floor(chunkBytes / bytesPerRow));
  const block = new Float32Array(Math.min(rowsPerBlock, entry.rows) * entry.cols);
  const raw = source.readInto ? new Uint8Array(Math.min(rowsPerBlock, entry.rows) * bytesPerRow) : null;
  const passes = mq.needsRange ? 2 : 1; // per-tensor: the global range first, then the indices
  // Quantization is counted as the first half of the work, encoding as the second.
  for (let pass = 0; pass < passes; pass++) {
    for (let r = 0; r < entry.rows; r += rowsPerBlock) {
      const n = Math.min(rowsPerBlock, entry.rows - r);
      const at = entry.data.offset + r * bytesPerRow;
      const bytes = raw ? await source.readInto!(at, raw.subarray(0, n * bytesPerRow)) : await source.read(at, n * bytesPerRow);
      const w = floatRows(bytes, entry.dtype, block);
      naming(what, () => (pass < passes - 1 ? mq.scanRange(w) : mq.addRows(w)));
      onProgress?.((0.5 * (pass * entry.rows + r + n)) / (passes * entry.rows));
    }
  }
  return naming(what, () => encodeAndMeasure(entry.name, mq.result(), mq, options, (done, total) => onProgress?.(0.5 + (0.5 * done) / total)));
}

/**
 * {@link compressEntry} over several matrices of one file, in order; `onProgress` gets the weights
 * done so far. Batching keeps the per-call cost of files with many tiny tensors low.
 *
 * @example
 * ```ts
 * const results = await compressEntries(reader.source, reader.matrices.slice(0, 8), { groupSize: 64 });
 * ```
 */
export async function compressEntries(
  source: ByteSource, entries: MatrixEntry[], options: CompressOptions = {},
  onProgress?: (weightsDone: number) => void, chunkBytes = DEFAULT_CHUNK_BYTES,
): Promise<CompressedMatrix[]> {
  const out: CompressedMatrix[] = [];
  let done = 0;
  for (const e of entries) {
    const n = e.rows * e.cols;
    out.push(await compressEntry(source, e, options, onProgress && ((f) => onProgress(done + f * n)), chunkBytes));
    done += n;
  }
  return out;
}

/** A compressed matrix without its indices: what a container keeps (their checksum is kept). */
export type EncodedResult = Omit<CompressedMatrix, 'quantized'> & { quantized: Omit<QuantizedMatrix, 'indices'> };

/**
 * Drops the indices of a compressed matrix (1 byte/weight) once coded.
 *
 * @example
 * ```ts
 * writer.addTensor(toEncodedTensor(dropIndices(compressMatrix(m))));
 * ```
 */
export function dropIndices(c: CompressedMatrix): EncodedResult {
  const { indices: _, ...params } = c.quantized;
  return { ...c, quantized: params };
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
export function totalStats(all: Pick<CompressedMatrix, 'stats' | 'energy'>[]): MatrixStats {
  const weights = all.reduce((n, c) => n + c.stats.rows * c.stats.cols, 0);
  const hist = new Array<number>(16).fill(0);
  let entropy = 0, coded = 0, scaleBits = 0, exceptionBits = 0, signal = 0, noise = 0;
  for (const { stats: s, energy } of all) {
    const n = s.rows * s.cols;
    entropy += s.entropyBits * n;
    coded += s.bitsPerWeight * n;
    scaleBits += s.scaleBitsPerWeight * n;
    exceptionBits += s.exceptionBitsPerWeight * n;
    s.histogram.forEach((c, i) => (hist[i] += c));
    signal += energy?.signal ?? NaN;
    noise += energy?.noise ?? NaN;
  }
  const h = entropy / weights, bpw = coded / weights;
  return {
    name: 'total', rows: weights, cols: 1, quantizer: all[0]?.stats.quantizer ?? '', groupSize: all[0]?.stats.groupSize ?? 0,
    entropyBits: h, bitsPerWeight: bpw, overheadPct: (bpw / h - 1) * 100, scaleBitsPerWeight: scaleBits / weights,
    exceptionBitsPerWeight: exceptionBits / weights, stepScale: null,
    sqnrDb: Number.isNaN(signal) ? null : energyToDb({ signal, noise }), histogram: hist,
  };
}
