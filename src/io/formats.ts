/**
 * The registry of model file formats. Each format recognizes its first bytes and reads its header
 * into a {@link ModelLayout}; readers then fetch tensor data a block of rows at a time. A new
 * format is one entry in {@link MODEL_FORMATS}.
 */
import { ContainerError, InvalidInputError } from '../errors.js';
import type { ContainerExtras } from '../container/container.js';
import { ggufLayout, isGgufHead } from './gguf.js';
import { llama2cModelLayout } from './llama2c.js';
import { isMlcCacheHead, mlcLayout } from './mlc.js';
import { containerExtras, entryMatrix, entryWeights, type ByteRegion, type ModelLayout, type WeightMatrix } from './model.js';
import { isSafetensorsHead, parseSafetensors, safetensorsHeaderBytes } from './safetensors.js';
import { bytesSource, type ByteSource } from './source.js';

/** One model file format. */
export interface ModelFormat {
  name: string;
  /** True when the file's first bytes (up to 64) are this format's. */
  detect(head: Uint8Array): boolean;
  /** The layout of a file of this format: reads its header, no tensor data. */
  layout(source: ByteSource, head: Uint8Array): Promise<ModelLayout>;
}

/** Formats in detection order; llama2.c has no magic number, so it is tried last. */
export const MODEL_FORMATS: readonly ModelFormat[] = [
  {
    name: 'safetensors', detect: isSafetensorsHead,
    async layout(source, head) {
      const n = safetensorsHeaderBytes(head, source.size, source.name);
      return parseSafetensors(n > head.length ? await source.read(0, n) : head, source.size, source.name);
    },
  },
  { name: 'gguf', detect: isGgufHead, layout: ggufLayout },
  { name: 'mlc', detect: isMlcCacheHead, layout: mlcLayout },
  {
    name: 'llama2c', detect: () => true,
    async layout(source, head) {
      try {
        return llama2cModelLayout(head, source.size, source.name);
      } catch (e) {
        // llama2.c is a guess (no magic): its faults mean "not a model file we know".
        if (e instanceof ContainerError) throw new ContainerError('UNKNOWN_FORMAT', `${source.name}: neither safetensors, GGUF nor a valid llama2.c checkpoint (${e.message})`);
        throw e;
      }
    },
  },
];

const HEAD_BYTES = 64;

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
  const layout = await format.layout(source, head);
  if (layout.matrices.length === 0) {
    const list = layout.skipped.slice(0, 8).map((t) => `${t.name} [${t.shape}] ${t.dtype}: ${t.reason}`).join('; ');
    throw new InvalidInputError('NO_MATRICES', `${source.name}: no 2-D F32/F16/BF16 or 4-bit tensor to encode (${layout.skipped.length} skipped${list ? `: ${list}` : ''})`);
  }
  return { ...layout, source, weights: layout.matrices.reduce((s, m) => s + entryWeights(m), 0) };
}

/**
 * Reads every 2-D weight matrix of a model file held in memory (small models, tests). Large
 * files go through {@link openModel} and a block of rows at a time instead.
 *
 * @example
 * ```ts
 * const matrices = await loadModelMatrices(new Uint8Array(fs.readFileSync('stories260K.bin')));
 * ```
 */
export async function loadModelMatrices(bytes: Uint8Array, file = 'model'): Promise<WeightMatrix[]> {
  return (await loadModel(bytes, file)).matrices;
}

/**
 * {@link loadModelMatrices} plus the layout and the container extras (norm weights, config).
 *
 * @example
 * ```ts
 * const { matrices, extras } = await loadModel(bytes, 'stories260K.bin');
 * ```
 */
export async function loadModel(bytes: Uint8Array, file = 'model'): Promise<{ layout: ModelLayout; matrices: WeightMatrix[]; extras: ContainerExtras }> {
  const layout = await openModel(bytesSource(bytes, file));
  const region = (r: ByteRegion) => bytes.subarray(r.offset, r.offset + r.length);
  return { layout, matrices: layout.matrices.map((e) => entryMatrix(e, region, file)), extras: containerExtras(layout, region, file) };
}
