/**
 * What a model reader finds in a file: where each 2-D weight matrix lies and how it is stored.
 * Entries are plain data (offsets, not bytes), so a worker thread can read its own matrix.
 */
import type { ContainerExtras } from '../container/container.js';
import { ContainerError, InvalidInputError, RansGemvError } from '../errors.js';
import { halfToF32, type ParamType } from '../quantize/half.js';
import { importMlcQ4, importMlx, importQ4_0, importQ4_1 } from '../quantize/import.js';
import type { QuantizedMatrix } from '../quantize/types.js';
import type { ByteSource } from './source.js';

/**
 * A 2-D weight matrix in memory: either float weights to quantize, or weights that were already
 * 4-bit quantized (imported losslessly).
 */
export type WeightMatrix =
  | { name: string; rows: number; cols: number; kind: 'float'; weights: Float32Array }
  | { name: string; rows: number; cols: number; kind: 'quantized'; quantized: QuantizedMatrix };

/** Bytes [offset, offset + length) of the file. */
export interface ByteRegion { offset: number; length: number }

/** Float storage types a matrix may have in a file. */
export type FloatDType = 'F32' | 'F16' | 'BF16';

/** Bytes per element of each {@link FloatDType}. */
export const FLOAT_DTYPE_BYTES: Record<FloatDType, number> = { F32: 4, F16: 2, BF16: 2 };

/**
 * Where a matrix lies in a file: row-major floats, an MLX 4-bit triple, GGUF Q4_0/Q4_1 blocks or
 * an MLC q4f16_1 pair (the 4-bit kinds imported losslessly).
 */
export type MatrixEntry =
  | { kind: 'float'; name: string; rows: number; cols: number; dtype: FloatDType; data: ByteRegion }
  | { kind: 'mlx'; name: string; rows: number; cols: number; groupSize: number; paramType: ParamType; weight: ByteRegion; scales: ByteRegion; biases: ByteRegion }
  | { kind: 'blocks'; name: string; rows: number; cols: number; blockType: 'Q4_0' | 'Q4_1'; data: ByteRegion }
  | { kind: 'mlc'; name: string; rows: number; cols: number; groupSize: number; weight: ByteRegion; scales: ByteRegion };

/** The byte regions an entry's data occupies. */
export function entryRegions(e: MatrixEntry): ByteRegion[] {
  return e.kind === 'mlx' ? [e.weight, e.scales, e.biases] : e.kind === 'mlc' ? [e.weight, e.scales] : [e.data];
}

/** An f32 vector or array the model needs besides its matrices (norm weights). */
export interface RawEntry { name: string; shape: number[]; data: ByteRegion }

/** A tensor of the file that is not encoded, and why. */
export interface SkippedTensor { name: string; shape: number[]; dtype: string; reason: string }

/** Everything a format's header says about a file; nothing of the tensor data is read yet. */
export interface ModelLayout {
  /** Registry name of the format, e.g. `safetensors`. */
  format: string;
  matrices: MatrixEntry[];
  /** Tensors stored beside the matrices in a container (f32). */
  raw: RawEntry[];
  skipped: SkippedTensor[];
  /** Model description stored in the container header (e.g. a llama2.c config). */
  model?: Record<string, unknown>;
}

/**
 * The first two regions that share a byte (sorted by offset), or null. Empty regions hold no
 * byte and overlap nothing. Every reader checks its file's regions with it.
 *
 * @example
 * ```ts
 * const clash = firstOverlap(tensors); // [earlier, later] | null
 * ```
 */
export function firstOverlap<T extends ByteRegion>(regions: T[]): [T, T] | null {
  const sorted = regions.filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].length) return [sorted[i - 1], sorted[i]];
  }
  return null;
}

/** Weights of a matrix entry. */
export function entryWeights(e: MatrixEntry): number {
  return e.rows * e.cols;
}

/** Bytes one row of a float entry occupies in the file. */
export function rowBytes(e: Extract<MatrixEntry, { kind: 'float' }>): number {
  return e.cols * FLOAT_DTYPE_BYTES[e.dtype];
}

/**
 * Converts one block of rows read from the file to f32 (into `out` when given). F32 is copied,
 * F16 and BF16 widened exactly ({@link halfToF32}).
 *
 * @example
 * ```ts
 * const w = floatRows(await source.read(e.data.offset, rowBytes(e) * 16), e.dtype);
 * ```
 */
export function floatRows(bytes: Uint8Array, dtype: FloatDType, out?: Float32Array): Float32Array {
  const n = bytes.length / FLOAT_DTYPE_BYTES[dtype];
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (dtype === 'F32') {
    const src = new Float32Array(aligned.buffer, aligned.byteOffset, n);
    if (!out) return src; // a view of the caller's bytes
    out.set(src);
    return out.subarray(0, n);
  }
  return halfToF32(new Uint16Array(aligned.buffer, aligned.byteOffset, n), dtype === 'F16' ? 'f16' : 'bf16', out?.subarray(0, n));
}

/**
 * The in-memory matrix of an entry, from a reader of byte regions: floats widened to f32, MLX
 * triples imported losslessly (errors name the file and tensor).
 *
 * @example
 * ```ts
 * const m = entryMatrix(entry, (r) => bytes.subarray(r.offset, r.offset + r.length), 'model.safetensors');
 * ```
 */
export function entryMatrix(e: MatrixEntry, region: (r: ByteRegion) => Uint8Array, file: string): WeightMatrix {
  if (e.kind === 'float') return { name: e.name, rows: e.rows, cols: e.cols, kind: 'float', weights: floatRows(region(e.data), e.dtype).slice() };
  const aligned = (r: ByteRegion) => { const b = region(r); return b.byteOffset % 4 === 0 ? b : b.slice(); };
  const u16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
  try {
    if (e.kind === 'blocks') {
      const importBlocks = e.blockType === 'Q4_0' ? importQ4_0 : importQ4_1;
      return { name: e.name, rows: e.rows, cols: e.cols, kind: 'quantized', quantized: importBlocks(region(e.data), e.rows, e.cols) };
    }
    const w = aligned(e.weight);
    if (e.kind === 'mlc') {
      const quantized = importMlcQ4({ rows: e.rows, cols: e.cols, groupSize: e.groupSize, weight: new Uint32Array(w.buffer, w.byteOffset, w.length / 4), scales: u16(aligned(e.scales)) });
      return { name: e.name, rows: e.rows, cols: e.cols, kind: 'quantized', quantized };
    }
    const quantized = importMlx({
      rows: e.rows, cols: e.cols, groupSize: e.groupSize, paramType: e.paramType,
      weight: new Uint32Array(w.buffer, w.byteOffset, w.length / 4), scales: u16(aligned(e.scales)), biases: u16(aligned(e.biases)),
    });
    return { name: e.name, rows: e.rows, cols: e.cols, kind: 'quantized', quantized };
  } catch (err) {
    if (err instanceof RansGemvError) throw new ContainerError(err.code, err.message, e.name, file);
    throw err;
  }
}

/**
 * Reads the regions of a model held by a source, then calls `use` with a reader over them.
 *
 * @example
 * ```ts
 * const q = await withRegions(source, [e.weight, e.scales, e.biases], (region) => entryMatrix(e, region, source.name));
 * ```
 */
export async function withRegions<T>(source: ByteSource, regions: ByteRegion[], use: (region: (r: ByteRegion) => Uint8Array) => T): Promise<T> {
  const bytes = new Map<ByteRegion, Uint8Array>();
  for (const r of regions) bytes.set(r, await source.read(r.offset, r.length));
  return use((r) => bytes.get(r)!);
}

/**
 * A model's raw f32 tensors and description for the container ({@link ContainerExtras}), from
 * a reader of byte regions. Non-finite values (a NaN norm weight) throw {@link InvalidInputError}
 * `NON_FINITE_WEIGHT` naming the file and tensor.
 *
 * @example
 * ```ts
 * const extras = containerExtras(layout, (r) => bytes.subarray(r.offset, r.offset + r.length), 'stories260K.bin');
 * ```
 */
export function containerExtras(layout: ModelLayout, region: (r: ByteRegion) => Uint8Array, file: string): ContainerExtras {
  const raw = layout.raw.map((r) => {
    const data = floatRows(region(r.data), 'F32').slice();
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InvalidInputError('NON_FINITE_WEIGHT', `${file}: ${r.name}: value [${bad}] is ${data[bad]}`);
    return { name: r.name, shape: r.shape, data };
  });
  return { ...(layout.model ? { model: layout.model } : {}), ...(raw.length ? { raw } : {}) };
}

/**
 * {@link containerExtras} read from a source (the raw tensors are small: norm vectors).
 *
 * @example
 * ```ts
 * const extras = await readExtras(source, layout);
 * ```
 */
export function readExtras(source: ByteSource, layout: ModelLayout): Promise<ContainerExtras> {
  return withRegions(source, layout.raw.map((r) => r.data), (region) => containerExtras(layout, region, source.name));
}
