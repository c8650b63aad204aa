/**
 * The registry of model file formats. Each format says how many leading bytes it needs to parse
 * its header and turns them into a {@link ModelLayout}; readers then fetch tensor data a block of
 * rows at a time. A new format is one entry in {@link MODEL_FORMATS}.
 */
import { ContainerError, InvalidInputError } from '../errors.js';
import { LLAMA2C_HEADER_BYTES, llama2cModelLayout } from './llama2c.js';
import { containerExtras, entryMatrix, entryWeights, type ModelLayout, type WeightMatrix } from './model.js';
import { isSafetensorsHead, parseSafetensors, safetensorsHeaderBytes } from './safetensors.js';
import type { ByteSource } from './source.js';

/** One model file format. */
export interface ModelFormat {
  name: string;
  /** True when the file's first bytes (up to 64) are this format's. */
  detect(head: Uint8Array): boolean;
  /** Bytes from the start of the file that {@link parse} needs, from the first 64. */
  headerBytes(head: Uint8Array, size: number, file: string): number;
  /** The layout from the header bytes and the file size; reads no tensor data. */
  parse(header: Uint8Array, size: number, file: string): ModelLayout;
}

/** Formats in detection order; llama2.c has no magic number, so it is tried last. */
export const MODEL_FORMATS: readonly ModelFormat[] = [
  { name: 'safetensors', detect: isSafetensorsHead, headerBytes: safetensorsHeaderBytes, parse: parseSafetensors },
  { name: 'llama2c', detect: () => true, headerBytes: () => LLAMA2C_HEADER_BYTES, parse: llama2cModelLayout },
];

const HEAD_BYTES = 64;

function layoutOf(head: Uint8Array, size: number, file: string, header: (n: number) => Uint8Array): ModelLayout {
  const format = MODEL_FORMATS.find((f) => f.detect(head))!;
  let layout: ModelLayout;
  try {
    layout = format.parse(header(format.headerBytes(head, size, file)), size, file);
  } catch (e) {
    // Only llama2.c is a guess (no magic): its faults mean "not a model file we know".
    if (format.name === 'llama2c' && e instanceof ContainerError) throw new ContainerError('UNKNOWN_FORMAT', `${file}: neither safetensors nor a valid llama2.c checkpoint (${e.message})`);
    throw e;
  }
  if (layout.matrices.length === 0) {
    const list = layout.skipped.slice(0, 8).map((t) => `${t.name} [${t.shape}] ${t.dtype}: ${t.reason}`).join('; ');
    throw new InvalidInputError('NO_MATRICES', `${file}: no 2-D F32/F16/BF16 or MLX 4-bit tensor to encode (${layout.skipped.length} skipped${list ? `: ${list}` : ''})`);
  }
  return layout;
}

/** A model file opened for streaming: its layout and the source to read tensors from. */
export interface ModelReader extends ModelLayout {
  source: ByteSource;
  /** Total weights over every matrix. */
  weights: number;
}

/**
 * Opens a model file of any registered format and parses its header; no tensor data is read.
 * Throws {@link ContainerError} / {@link InvalidInputError} naming the file (and tensor).
 *
 * @example
 * ```ts
 * import { fileSource } from 'rans-gemv/node';
 * const reader = await openModel(fileSource('model.safetensors'));
 * for (const m of reader.matrices) console.log(m.name, m.rows, m.cols);
 * ```
 */
export async function openModel(source: ByteSource): Promise<ModelReader> {
  const head = await source.read(0, Math.min(HEAD_BYTES, source.size));
  const format = MODEL_FORMATS.find((f) => f.detect(head))!;
  // Read the header the format asks for (a failure here is reported by layoutOf, with context).
  let header = head;
  try { const n = format.headerBytes(head, source.size, source.name); if (n > head.length) header = await source.read(0, n); } catch { /* below */ }
  const layout = layoutOf(head, source.size, source.name, (n) => header.subarray(0, n));
  return { ...layout, source, weights: layout.matrices.reduce((s, m) => s + entryWeights(m), 0) };
}

/**
 * Reads every 2-D weight matrix of a model file held in memory (small models, tests, the
 * runtime). Large files go through {@link openModel} and a block of rows at a time instead.
 *
 * @example
 * ```ts
 * const matrices = loadModelMatrices(new Uint8Array(fs.readFileSync('stories260K.bin')));
 * ```
 */
export function loadModelMatrices(bytes: Uint8Array, file = 'model'): WeightMatrix[] {
  return loadModel(bytes, file).matrices;
}

/**
 * {@link loadModelMatrices} plus the layout and the container extras (norm weights, config).
 *
 * @example
 * ```ts
 * const { matrices, extras } = loadModel(bytes, 'stories260K.bin');
 * ```
 */
export function loadModel(bytes: Uint8Array, file = 'model'): { layout: ModelLayout; matrices: WeightMatrix[]; extras: ReturnType<typeof containerExtras> } {
  const layout = layoutOf(bytes.subarray(0, HEAD_BYTES), bytes.length, file, (n) => bytes.subarray(0, n));
  const region = (r: { offset: number; length: number }) => bytes.subarray(r.offset, r.offset + r.length);
  const matrices = layout.matrices.map((e) => entryMatrix(e, region, file));
  return { layout, matrices, extras: containerExtras(layout, region, file) };
}
