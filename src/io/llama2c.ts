/**
 * llama2.c checkpoints (legacy export, version 0): 7 int32 header fields then f32 arrays.
 * The layout is in fixtures/stories260K/README.md.
 */
import { ContainerError } from '../errors.js';
import type { WeightMatrix } from './model.js';

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

const HEADER_BYTES = 28;

/**
 * Parses a llama2.c checkpoint. The header must agree with the file size exactly: a file whose
 * size disagrees with its header throws {@link ContainerError} (`BAD_SIZE`) before any copy.
 */
export function readLlama2c(bytes: Uint8Array): Llama2cCheckpoint {
  if (bytes.length < HEADER_BYTES) throw new ContainerError('TRUNCATED', `llama2.c checkpoint needs a ${HEADER_BYTES}-byte header, file has ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h;
  const vocabSize = Math.abs(vocabRaw);
  if ([dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen].some((v) => v <= 0) || dim % nHeads !== 0 || nHeads % nKvHeads !== 0 || (dim / nHeads) % 2 !== 0) {
    throw new ContainerError('BAD_HEADER', `implausible llama2.c header [${h.join(', ')}]`);
  }
  const config: Llama2cConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier: vocabRaw > 0 };
  const headSize = dim / nHeads, kvDim = (dim * nKvHeads) / nHeads;
  const sizes: [string, number, number][] = [ // name, count, elements each
    ['tokenEmbedding', 1, vocabSize * dim], ['rmsAtt', nLayers, dim],
    ['wq', nLayers, dim * dim], ['wk', nLayers, kvDim * dim], ['wv', nLayers, kvDim * dim], ['wo', nLayers, dim * dim],
    ['rmsFfn', nLayers, dim], ['w1', nLayers, hiddenDim * dim], ['w2', nLayers, dim * hiddenDim], ['w3', nLayers, hiddenDim * dim],
    ['rmsFinal', 1, dim], ['freqCis', 1, seqLen * headSize],
  ];
  if (!config.sharedClassifier) sizes.push(['classifier', 1, vocabSize * dim]);
  const floats = sizes.reduce((n, [, count, each]) => n + count * each, 0);
  if (HEADER_BYTES + floats * 4 !== bytes.length) {
    throw new ContainerError('BAD_SIZE', `llama2.c header [${h.join(', ')}] implies ${HEADER_BYTES + floats * 4} bytes, the file has ${bytes.length}`);
  }
  const all = new Float32Array(bytes.slice(HEADER_BYTES).buffer);
  let at = 0;
  const out: Record<string, Float32Array[]> = {};
  for (const [name, count, each] of sizes) {
    out[name] = Array.from({ length: count }, () => all.subarray(at, (at += each)));
  }
  return {
    config,
    tokenEmbedding: out.tokenEmbedding[0], rmsAtt: out.rmsAtt,
    wq: out.wq, wk: out.wk, wv: out.wv, wo: out.wo, rmsFfn: out.rmsFfn,
    w1: out.w1, w2: out.w2, w3: out.w3, rmsFinal: out.rmsFinal[0],
    classifier: config.sharedClassifier ? out.tokenEmbedding[0] : out.classifier[0],
  };
}

/** Names of the per-layer matrices, in file order, with their [rows, cols]. */
export function llama2cMatrixShapes(c: Llama2cConfig): Record<'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'w3', [number, number]> {
  const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
  return { wq: [c.dim, c.dim], wk: [kvDim, c.dim], wv: [kvDim, c.dim], wo: [c.dim, c.dim], w1: [c.hiddenDim, c.dim], w2: [c.dim, c.hiddenDim], w3: [c.hiddenDim, c.dim] };
}

/**
 * The checkpoint's 2-D weight matrices: `tok_embeddings` (also the classifier when shared),
 * `layers.N.{wq,wk,wv,wo,w1,w2,w3}`, and `classifier` when not shared.
 */
export function llama2cMatrices(ck: Llama2cCheckpoint): WeightMatrix[] {
  const c = ck.config;
  const m: WeightMatrix[] = [{ name: 'tok_embeddings', rows: c.vocabSize, cols: c.dim, kind: 'float', weights: ck.tokenEmbedding }];
  const shapes = llama2cMatrixShapes(c);
  for (let l = 0; l < c.nLayers; l++) {
    for (const [k, [rows, cols]] of Object.entries(shapes) as [keyof typeof shapes, [number, number]][]) {
      m.push({ name: `layers.${l}.${k}`, rows, cols, kind: 'float', weights: ck[k][l] });
    }
  }
  if (!c.sharedClassifier) m.push({ name: 'classifier', rows: c.vocabSize, cols: c.dim, kind: 'float', weights: ck.classifier });
  return m;
}
