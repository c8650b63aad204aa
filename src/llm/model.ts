/**
 * A llama2.c-architecture model with rANS-coded 4-bit matrices: loaded from a llama2.c
 * checkpoint (quantized on load) or from a container written by `rans-gemv encode`.
 */
import { decodeTensor, readContainerFile, type ContainerExtras } from '../container/container.js';
import { ContainerError, InvalidInputError } from '../errors.js';
import { isPlausibleConfig, llama2cMatrices, llama2cMatrixShapes, readLlama2c, type Llama2cConfig } from '../io/llama2c.js';
import { compressMatrix, type CompressedMatrix, type CompressOptions } from '../pipeline.js';
import { dequantize } from '../quantize/quantize.js';
import type { QuantizedMatrix } from '../quantize/types.js';
import type { EncodedMatrix } from '../rans/codec.js';

/** One coded weight matrix of the model. */
export interface ModelMatrix {
  quantized: QuantizedMatrix;
  encoded: EncodedMatrix;
  /** The unquantized weights, when the model came from a float checkpoint. */
  float: Float32Array | null;
}

export interface LlamaModel {
  config: Llama2cConfig;
  /** `tok_embeddings` (the classifier too when shared), `layers.N.{wq,wk,wv,wo,w1,w2,w3}`, `classifier` when not shared. */
  matrices: Map<string, ModelMatrix>;
  rmsAtt: Float32Array[];
  rmsFfn: Float32Array[];
  rmsFinal: Float32Array;
}

/** The classifier's matrix name. */
export function classifierName(c: Llama2cConfig): string {
  return c.sharedClassifier ? 'tok_embeddings' : 'classifier';
}

/**
 * Quantizes and encodes every matrix of a llama2.c checkpoint; `onCompressed` sees each result
 * (its figures: `totalStats` of them is the model's size and SQNR without compressing it again).
 *
 * @example
 * ```ts
 * const all: CompressedMatrix[] = [];
 * const model = modelFromCheckpoint(bin, { quantizer: 'ecsq', rate: { bits: 4.1 } }, (c) => all.push(c));
 * ```
 */
export function modelFromCheckpoint(bytes: Uint8Array, options: CompressOptions = {}, onCompressed?: (c: CompressedMatrix) => void): LlamaModel {
  const ck = readLlama2c(bytes);
  const matrices = new Map<string, ModelMatrix>();
  for (const m of llama2cMatrices(bytes)) {
    if (m.kind !== 'float') continue;
    const c = compressMatrix(m, options);
    onCompressed?.(c);
    matrices.set(m.name, { quantized: c.quantized, encoded: c.encoded, float: m.weights });
  }
  return { config: ck.config, matrices, rmsAtt: ck.rmsAtt, rmsFfn: ck.rmsFfn, rmsFinal: ck.rmsFinal };
}


/**
 * Loads a model from a container: decodes every matrix on the CPU (checksums verified) and
 * checks that the shapes match the stored config. Throws {@link ContainerError}.
 */
export function modelFromContainer(bytes: Uint8Array): LlamaModel {
  const file = readContainerFile(bytes);
  const desc = file.model as { format?: unknown; config?: Record<string, unknown> } | null;
  if (!desc || desc.format !== 'llama2c' || typeof desc.config !== 'object' || desc.config === null) {
    throw new ContainerError('NOT_A_MODEL', 'the container has no llama2c model description (encode a llama2.c checkpoint with rans-gemv encode)');
  }
  const k = desc.config;
  const int = (key: string) => (Number.isInteger(k[key]) && (k[key] as number) > 0 ? (k[key] as number) : (() => { throw new ContainerError('BAD_HEADER', `model config field ${key} is not a positive integer`); })());
  const config: Llama2cConfig = {
    dim: int('dim'), hiddenDim: int('hiddenDim'), nLayers: int('nLayers'), nHeads: int('nHeads'), nKvHeads: int('nKvHeads'),
    vocabSize: int('vocabSize'), seqLen: int('seqLen'), sharedClassifier: k.sharedClassifier !== false,
  };
  if (!isPlausibleConfig(config)) throw new ContainerError('BAD_HEADER', `model config ${JSON.stringify(config)} has inconsistent head counts or a count beyond any model`);
  const matrices = new Map<string, ModelMatrix>();
  for (const t of file.tensors) {
    const q = decodeTensor(t);
    matrices.set(t.header.name, { quantized: q, encoded: t.encoded, float: null });
  }
  const expect = (name: string, rows: number, cols: number) => {
    const m = matrices.get(name);
    if (!m || m.quantized.rows !== rows || m.quantized.cols !== cols) throw new ContainerError('BAD_SIZE', `matrix ${name} is missing or not ${rows}×${cols}`, name);
  };
  expect('tok_embeddings', config.vocabSize, config.dim);
  if (!config.sharedClassifier) expect('classifier', config.vocabSize, config.dim);
  const shapes = llama2cMatrixShapes(config);
  for (let l = 0; l < config.nLayers; l++) for (const [n, [r, c]] of Object.entries(shapes)) expect(`layers.${l}.${n}`, r, c);
  const raw = (name: string, length: number) => {
    const t = file.raw.get(name);
    if (!t || t.data.length !== length) throw new ContainerError('BAD_SIZE', `norm weights ${name} are missing or not ${length} values`, name);
    return t.data;
  };
  const att = raw('rms_att', config.nLayers * config.dim), ffn = raw('rms_ffn', config.nLayers * config.dim);
  const split = (a: Float32Array) => Array.from({ length: config.nLayers }, (_, l) => a.subarray(l * config.dim, (l + 1) * config.dim));
  return { config, matrices, rmsAtt: split(att), rmsFfn: split(ffn), rmsFinal: raw('rms_final', config.dim) };
}

/** A matrix of the model by name; throws for an unknown name. */
export function modelMatrix(model: LlamaModel, name: string): ModelMatrix {
  const m = model.matrices.get(name);
  if (!m) throw new InvalidInputError('UNKNOWN_MATRIX', `the model has no matrix ${name}`);
  return m;
}

/** The token embedding rows the runtime looks tokens up in: dequantized, or the float original. */
export function embeddingTable(model: LlamaModel, weights: 'quantized' | 'float'): Float32Array {
  const m = modelMatrix(model, 'tok_embeddings');
  if (weights === 'float') {
    if (!m.float) throw new InvalidInputError('NO_FLOAT_WEIGHTS', 'fp32 modes need a float checkpoint, not a container');
    return m.float;
  }
  return dequantize(m.quantized);
}
