/**
 * llama2.c checkpoints (legacy export, version 0): 7 int32 header fields then f32 arrays.
 * The layout is in fixtures/stories260K/README.md.
 */
import { ContainerError } from '../errors.js';
import { entryMatrix, type ByteRegion, type MatrixEntry, type ModelLayout, type WeightMatrix } from './model.js';

/** Model hyper-parameters from the checkpoint header. */
export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** True when the classifier is the token embedding (vocab_size was positive in the file). */
  sharedClassifier: boolean;
}

/** All arrays of a checkpoint, by llama2.c name; matrices are [out, in] row-major. */
export interface Llama2cCheckpoint {
  config: Llama2cConfig;
  tokenEmbedding: Float32Array;
  rmsAtt: Float32Array[];
  wq: Float32Array[]; wk: Float32Array[]; wv: Float32Array[]; wo: Float32Array[];
  rmsFfn: Float32Array[];
  w1: Float32Array[]; w2: Float32Array[]; w3: Float32Array[];
  rmsFinal: Float32Array;
  /** [vocab, dim]; the token embedding itself when shared. */
  classifier: Float32Array;
}

/** Bytes of the header: 7 little-endian int32 fields. */
export const LLAMA2C_HEADER_BYTES = 28;

/** Upper bounds on the header fields, far above any real model, that keep every size exact in f64. */
const LIMITS = { dim: 1 << 16, hiddenDim: 1 << 18, nLayers: 1 << 10, nHeads: 1 << 12, nKvHeads: 1 << 12, vocabSize: 1 << 22, seqLen: 1 << 22 };

/**
 * True when every count of a config is a positive integer within {@link LIMITS} and the head
 * counts are consistent. Checked for checkpoints and for configs stored in containers, since the
 * runtime allocates by them (the KV cache holds seqLen × kvDim × nLayers values).
 *
 * @example
 * ```ts
 * if (!isPlausibleConfig(config)) throw new ContainerError('BAD_HEADER', 'implausible config');
 * ```
 */
export function isPlausibleConfig(c: Llama2cConfig): boolean {
  const inRange = Object.entries(LIMITS).every(([k, max]) => { const v = c[k as keyof typeof LIMITS]; return Number.isInteger(v) && v > 0 && v <= max; });
  return inRange && c.dim % c.nHeads === 0 && c.nHeads % c.nKvHeads === 0 && (c.dim / c.nHeads) % 2 === 0;
}

/** Where every array of a checkpoint lies: name → regions (one per layer for per-layer arrays). */
export interface Llama2cLayout {
  config: Llama2cConfig;
  arrays: Record<string, ByteRegion[]>;
}

/**
 * Parses the 28-byte header of a llama2.c checkpoint of `size` bytes into its config and the
 * region of every array. The header must agree with the file size exactly, and every field is
 * range-checked: a file that disagrees throws {@link ContainerError} before anything is read.
 *
 * @example
 * ```ts
 * const { config, arrays } = llama2cLayout(head, fileSize, 'stories260K.bin');
 * ```
 */
export function llama2cLayout(head: Uint8Array, size: number, file = 'checkpoint'): Llama2cLayout {
  if (head.length < LLAMA2C_HEADER_BYTES || size < LLAMA2C_HEADER_BYTES) throw new ContainerError('TRUNCATED', `${file}: a llama2.c checkpoint needs a ${LLAMA2C_HEADER_BYTES}-byte header, the file has ${size} bytes`);
  const dv = new DataView(head.buffer, head.byteOffset, LLAMA2C_HEADER_BYTES);
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h;
  const config: Llama2cConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabRaw), seqLen, sharedClassifier: vocabRaw > 0 };
  if (!isPlausibleConfig(config)) throw new ContainerError('BAD_HEADER', `${file}: implausible llama2.c header [${h.join(', ')}]`);
  const headSize = dim / nHeads, kvDim = (dim * nKvHeads) / nHeads;
  const sizes: [string, number, number][] = [ // name, count, elements each
    ['tokenEmbedding', 1, config.vocabSize * dim], ['rmsAtt', nLayers, dim],
    ['wq', nLayers, dim * dim], ['wk', nLayers, kvDim * dim], ['wv', nLayers, kvDim * dim], ['wo', nLayers, dim * dim],
    ['rmsFfn', nLayers, dim], ['w1', nLayers, hiddenDim * dim], ['w2', nLayers, dim * hiddenDim], ['w3', nLayers, hiddenDim * dim],
    ['rmsFinal', 1, dim], ['freqCis', 1, seqLen * headSize],
  ];
  if (!config.sharedClassifier) sizes.push(['classifier', 1, config.vocabSize * dim]);
  const floats = sizes.reduce((n, [, count, each]) => n + count * each, 0);
  if (LLAMA2C_HEADER_BYTES + floats * 4 !== size) {
    throw new ContainerError('BAD_SIZE', `${file}: llama2.c header [${h.join(', ')}] implies ${LLAMA2C_HEADER_BYTES + floats * 4} bytes, the file has ${size}`);
  }
  let at = LLAMA2C_HEADER_BYTES;
  const arrays: Record<string, ByteRegion[]> = {};
  for (const [name, count, each] of sizes) {
    arrays[name] = Array.from({ length: count }, () => { const r = { offset: at, length: each * 4 }; at += each * 4; return r; });
  }
  return { config, arrays };
}

/**
 * Parses a llama2.c checkpoint held in memory (the runtime's path; encoders stream the file
 * through {@link llama2cModelLayout} instead).
 *
 * @example
 * ```ts
 * const ck = readLlama2c(new Uint8Array(readFileSync('stories260K.bin')));
 * ```
 */
export function readLlama2c(bytes: Uint8Array, file = 'checkpoint'): Llama2cCheckpoint {
  const { config, arrays } = llama2cLayout(bytes, bytes.length, file);
  const all = new Float32Array(bytes.slice(LLAMA2C_HEADER_BYTES).buffer);
  const out: Record<string, Float32Array[]> = {};
  for (const [name, regions] of Object.entries(arrays)) {
    out[name] = regions.map((r) => all.subarray((r.offset - LLAMA2C_HEADER_BYTES) / 4, (r.offset - LLAMA2C_HEADER_BYTES + r.length) / 4));
  }
  return {
    config,
    tokenEmbedding: out.tokenEmbedding[0], rmsAtt: out.rmsAtt,
    wq: out.wq, wk: out.wk, wv: out.wv, wo: out.wo, rmsFfn: out.rmsFfn,
    w1: out.w1, w2: out.w2, w3: out.w3, rmsFinal: out.rmsFinal[0],
    classifier: config.sharedClassifier ? out.tokenEmbedding[0] : out.classifier[0],
  };
}

/**
 * The {@link ModelLayout} of a checkpoint: its matrices (`tok_embeddings`,
 * `layers.N.{wq,…,w3}`, `classifier` when not shared), the norm weights stored raw
 * (`rms_att`, `rms_ffn`, `rms_final`) and the config as the model description.
 *
 * @example
 * ```ts
 * const layout = llama2cModelLayout(head, fileSize, 'stories260K.bin');
 * ```
 */
export function llama2cModelLayout(head: Uint8Array, size: number, file: string): ModelLayout {
  const { config: c, arrays } = llama2cLayout(head, size, file);
  const float = (name: string, rows: number, cols: number, data: ByteRegion): MatrixEntry => ({ kind: 'float', name, rows, cols, dtype: 'F32', data });
  const matrices = [float('tok_embeddings', c.vocabSize, c.dim, arrays.tokenEmbedding[0])];
  const shapes = llama2cMatrixShapes(c);
  for (let l = 0; l < c.nLayers; l++) {
    for (const [k, [rows, cols]] of Object.entries(shapes)) matrices.push(float(`layers.${l}.${k}`, rows, cols, arrays[k][l]));
  }
  if (!c.sharedClassifier) matrices.push(float('classifier', c.vocabSize, c.dim, arrays.classifier[0]));
  // Layers' norm vectors are adjacent in the file, so each stack is one region.
  const stack = (rs: ByteRegion[]): ByteRegion => ({ offset: rs[0].offset, length: rs.length * rs[0].length });
  return {
    format: 'llama2c', matrices, skipped: [], // freq_cis is recomputed by the runtime: not a tensor to list
    raw: [
      { name: 'rms_att', shape: [c.nLayers, c.dim], data: stack(arrays.rmsAtt) },
      { name: 'rms_ffn', shape: [c.nLayers, c.dim], data: stack(arrays.rmsFfn) },
      { name: 'rms_final', shape: [c.dim], data: arrays.rmsFinal[0] },
    ],
    model: { format: 'llama2c', config: { ...c } },
  };
}

/** Names of the per-layer matrices, in file order, with their [rows, cols]. */
export function llama2cMatrixShapes(c: Llama2cConfig): Record<'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'w3', [number, number]> {
  const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
  return { wq: [c.dim, c.dim], wk: [kvDim, c.dim], wv: [kvDim, c.dim], wo: [c.dim, c.dim], w1: [c.hiddenDim, c.dim], w2: [c.dim, c.hiddenDim], w3: [c.hiddenDim, c.dim] };
}

/**
 * The matrices of a llama2.c checkpoint held in memory, synchronously (the runtime's and the
 * benchmarks' path for the bundled model; other formats go through `loadModel`).
 *
 * @example
 * ```ts
 * const matrices = llama2cMatrices(new Uint8Array(readFileSync('stories260K.bin')));
 * ```
 */
export function llama2cMatrices(bytes: Uint8Array, file = 'checkpoint'): WeightMatrix[] {
  const region = (r: ByteRegion) => bytes.subarray(r.offset, r.offset + r.length);
  return llama2cModelLayout(bytes, bytes.length, file).matrices.map((e) => entryMatrix(e, region, file));
}
