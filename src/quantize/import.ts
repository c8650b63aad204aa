/**
 * Lossless import and export of already-quantized 4-bit weights, so an existing q4 model can
 * be re-encoded without any change in quality: bytes in → indices + parameters → same bytes out.
 */
import { InvalidInputError } from '../errors.js';
import type { ParamType } from './half.js';
import { checkKernelGroupSize, groupsPerRow, type QuantizedMatrix } from './types.js';

/** An MLX-quantized (bits = 4) linear weight as stored in MLX safetensors. */
export interface MlxQuantizedWeight {
  rows: number;
  cols: number;
  groupSize: number;
  /** u32 [rows, cols/8]; weight k of a row is nibble k%8 (bits 4·(k%8)) of word k/8. */
  weight: Uint32Array;
  /** 16-bit [rows, cols/groupSize]. */
  scales: Uint16Array;
  /** 16-bit [rows, cols/groupSize]. */
  biases: Uint16Array;
  /** Storage type of scales and biases (MLX models use f16 or bf16). */
  paramType: ParamType;
}

/**
 * Imports MLX 4-bit weights (w = scale·q + bias) as an `affine` {@link QuantizedMatrix}.
 *
 * @example
 * ```ts
 * const q = importMlx({ rows, cols, groupSize: 64, weight, scales, biases, paramType: 'bf16' });
 * ```
 */
export function importMlx(m: MlxQuantizedWeight): QuantizedMatrix {
  const { rows, cols, groupSize } = m;
  checkWordPacked('MLX 4-bit', m, [m.scales, m.biases]);
  return {
    rows, cols, quantizer: 'affine', groupSize, paramType: m.paramType, indices: unpackNibbles(m.weight, rows * cols),
    scales: m.scales.slice(), biases: m.biases.slice(),
  };
}

/**
 * Checks a 4-bit matrix stored 8 indices per u32 with one parameter per group in each of
 * `params` (MLX, q4f16_1): cols divisible by 8 and by a group size the kernels take (BAD_SHAPE,
 * UNSUPPORTED_GROUP_SIZE), and exactly the words and parameters the shape needs (SHAPE_MISMATCH).
 */
function checkWordPacked(format: string, m: { rows: number; cols: number; groupSize: number; weight: Uint32Array }, params: Uint16Array[]): void {
  const { rows, cols, groupSize } = m;
  if (!(rows > 0 && cols > 0 && cols % 8 === 0 && cols % groupSize === 0)) {
    throw new InvalidInputError('BAD_SHAPE', `${format} weights need cols divisible by 8 and by the group size, got ${rows}×${cols} g${groupSize}`);
  }
  checkKernelGroupSize(groupSize, `${format} group size`);
  const words = (rows * cols) / 8, perParam = rows * groupsPerRow(cols, groupSize);
  if (m.weight.length !== words || params.some((p) => p.length !== perParam)) {
    throw new InvalidInputError('SHAPE_MISMATCH', `${format} ${rows}×${cols} g${groupSize} needs ${words} words and ${perParam} entries per parameter, got ${m.weight.length} and ${params.map((p) => p.length).join('/')}`);
  }
}

/** The inverse of {@link packNibbles} for rows of whole words (cols divisible by 8): n indices. */
function unpackNibbles(words: Uint32Array, n: number): Uint8Array {
  const indices = new Uint8Array(n);
  for (let i = 0; i < n; i++) indices[i] = (words[i >>> 3] >>> ((i & 7) * 4)) & 15;
  return indices;
}

/**
 * Packs indices into the plain q4 layout: u32 [rows, ceil(cols/8)], nibble k%8 of word k/8.
 *
 * @example
 * ```ts
 * const words = packNibbles(q.indices, q.rows, q.cols); // plain q4 layout
 * ```
 */
export function packNibbles(indices: Uint8Array, rows: number, cols: number): Uint32Array {
  const wordsPerRow = Math.ceil(cols / 8);
  const out = new Uint32Array(rows * wordsPerRow);
  const whole = cols >>> 3; // words of 8 indices, packed 8 at a time
  for (let r = 0; r < rows; r++) {
    let i = r * cols, o = r * wordsPerRow;
    for (let k = 0; k < whole; k++, i += 8) {
      out[o++] = (indices[i] | (indices[i + 1] << 4) | (indices[i + 2] << 8) | (indices[i + 3] << 12)
        | (indices[i + 4] << 16) | (indices[i + 5] << 20) | (indices[i + 6] << 24) | (indices[i + 7] << 28)) >>> 0;
    }
    for (let c = whole * 8; c < cols; c++) out[o] |= indices[r * cols + c] << ((c & 7) * 4);
  }
  return out;
}

/**
 * Exports an `affine` matrix back to MLX's layout (the inverse of {@link importMlx}).
 *
 * @example
 * ```ts
 * const { weight, scales, biases } = exportMlx(importMlx(mlx)); // the same bytes
 * ```
 */
export function exportMlx(q: QuantizedMatrix): MlxQuantizedWeight {
  if (q.quantizer !== 'affine' || !q.biases || q.cols % 8 !== 0 || q.cols % q.groupSize !== 0) {
    throw new InvalidInputError('NOT_EXPORTABLE', 'only affine matrices with cols divisible by 8 and the group size export to MLX');
  }
  return {
    rows: q.rows, cols: q.cols, groupSize: q.groupSize, paramType: q.paramType,
    weight: packNibbles(q.indices, q.rows, q.cols), scales: q.scales.slice(), biases: q.biases.slice(),
  };
}

/** GGUF's 32 indices of a Q4 block in 16 bytes: index j in the low nibble of byte j, index j + 16 in its high nibble. */
function unpackBlockNibbles(blocks: Uint8Array, at: number, indices: Uint8Array, to: number): void {
  for (let j = 0; j < 16; j++) {
    const byte = blocks[at + j];
    indices[to + j] = byte & 15;
    indices[to + j + 16] = byte >>> 4;
  }
}

/** The inverse of {@link unpackBlockNibbles}. */
function packBlockNibbles(indices: Uint8Array, from: number, out: Uint8Array, at: number): void {
  for (let j = 0; j < 16; j++) out[at + j] = indices[from + j] | (indices[from + j + 16] << 4);
}

/** The 32-weight blocks of a rows × cols GGUF matrix, after checking that `blocks` holds exactly them. */
function blockCount(type: 'Q4_0' | 'Q4_1', blockBytes: number, blocks: Uint8Array, rows: number, cols: number): number {
  if (!(rows > 0 && cols > 0 && cols % 32 === 0)) {
    throw new InvalidInputError('BAD_SHAPE', `${type} needs cols divisible by 32, got ${rows}×${cols}`);
  }
  const nBlocks = (rows * cols) / 32;
  if (blocks.length !== nBlocks * blockBytes) {
    throw new InvalidInputError('SHAPE_MISMATCH', `${type} data has ${blocks.length} bytes, shape ${rows}×${cols} needs ${nBlocks * blockBytes}`);
  }
  return nBlocks;
}

/** Bytes of one GGUF Q4_0 block: f16 d + 16 bytes holding 32 nibbles. */
export const Q4_0_BLOCK_BYTES = 18;

/**
 * Imports GGUF Q4_0 blocks (w = d·(q − 8), 32 weights per block; weight j of a block is the low
 * nibble of byte j, weight j+16 its high nibble) as a `symmetric` g32 {@link QuantizedMatrix}.
 *
 * @example
 * ```ts
 * const q = importQ4_0(ggufBlocks, rows, cols); // symmetric g32, bit-exact
 * ```
 */
export function importQ4_0(blocks: Uint8Array, rows: number, cols: number): QuantizedMatrix {
  const nBlocks = blockCount('Q4_0', Q4_0_BLOCK_BYTES, blocks, rows, cols);
  const indices = new Uint8Array(rows * cols);
  const scales = new Uint16Array(nBlocks);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q4_0_BLOCK_BYTES;
    scales[b] = blocks[o] | (blocks[o + 1] << 8);
    unpackBlockNibbles(blocks, o + 2, indices, b * 32);
  }
  return { rows, cols, quantizer: 'symmetric', groupSize: 32, paramType: 'f16', indices, scales, biases: null };
}

/**
 * Exports a `symmetric` g32 f16 matrix to GGUF Q4_0 blocks (the inverse of {@link importQ4_0}).
 *
 * @example
 * ```ts
 * const blocks = exportQ4_0(quantize(w, rows, cols, { quantizer: 'symmetric', groupSize: 32 }));
 * ```
 */
export function exportQ4_0(q: QuantizedMatrix): Uint8Array {
  if (q.quantizer !== 'symmetric' || q.groupSize !== 32 || q.paramType !== 'f16' || q.cols % 32 !== 0) {
    throw new InvalidInputError('NOT_EXPORTABLE', 'only symmetric g32 f16 matrices with cols divisible by 32 export to Q4_0');
  }
  const nBlocks = (q.rows * q.cols) / 32;
  const out = new Uint8Array(nBlocks * Q4_0_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q4_0_BLOCK_BYTES;
    out[o] = q.scales[b] & 0xff;
    out[o + 1] = q.scales[b] >>> 8;
    packBlockNibbles(q.indices, b * 32, out, o + 2);
  }
  return out;
}

/** Bytes of one GGUF Q4_1 block: f16 d, f16 m, then 16 bytes holding 32 nibbles (as Q4_0). */
export const Q4_1_BLOCK_BYTES = 20;

/**
 * Imports GGUF Q4_1 blocks (w = d·q + m, 32 weights per block, nibbles ordered as Q4_0) as an
 * `affine` g32 f16 {@link QuantizedMatrix}: scale d and bias m, bit-exact.
 *
 * @example
 * ```ts
 * const q = importQ4_1(ggufBlocks, rows, cols); // affine g32, bit-exact
 * ```
 */
export function importQ4_1(blocks: Uint8Array, rows: number, cols: number): QuantizedMatrix {
  const nBlocks = blockCount('Q4_1', Q4_1_BLOCK_BYTES, blocks, rows, cols);
  const indices = new Uint8Array(rows * cols);
  const scales = new Uint16Array(nBlocks), biases = new Uint16Array(nBlocks);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q4_1_BLOCK_BYTES;
    scales[b] = blocks[o] | (blocks[o + 1] << 8);
    biases[b] = blocks[o + 2] | (blocks[o + 3] << 8);
    unpackBlockNibbles(blocks, o + 4, indices, b * 32);
  }
  return { rows, cols, quantizer: 'affine', groupSize: 32, paramType: 'f16', indices, scales, biases };
}

/**
 * Exports an `affine` g32 f16 matrix to GGUF Q4_1 blocks (the inverse of {@link importQ4_1}).
 *
 * @example
 * ```ts
 * const blocks = exportQ4_1(quantize(w, rows, cols, { groupSize: 32 }));
 * ```
 */
export function exportQ4_1(q: QuantizedMatrix): Uint8Array {
  if (q.quantizer !== 'affine' || !q.biases || q.groupSize !== 32 || q.paramType !== 'f16' || q.cols % 32 !== 0) {
    throw new InvalidInputError('NOT_EXPORTABLE', 'only affine g32 f16 matrices with cols divisible by 32 export to Q4_1');
  }
  const nBlocks = (q.rows * q.cols) / 32;
  const out = new Uint8Array(nBlocks * Q4_1_BLOCK_BYTES);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q4_1_BLOCK_BYTES;
    out[o] = q.scales[b] & 0xff; out[o + 1] = q.scales[b] >>> 8;
    out[o + 2] = q.biases[b] & 0xff; out[o + 3] = q.biases[b] >>> 8;
    packBlockNibbles(q.indices, b * 32, out, o + 4);
  }
  return out;
}

/** An MLC / WebLLM `q4f16_1` linear weight: `X.q_weight` and `X.q_scale` of `ndarray-cache.json`. */
export interface MlcQ4Weight {
  rows: number;
  cols: number;
  groupSize: number;
  /** u32 [rows, cols/8]; weight k of a row is nibble k%8 (bits 4·(k%8)) of word k/8, q ∈ 0..14. */
  weight: Uint32Array;
  /** f16 [rows, cols/groupSize]. */
  scales: Uint16Array;
}

/**
 * Imports MLC `q4f16_1` weights (w = scale·(q − 7), q ∈ 0..14) as a `symmetric`
 * {@link QuantizedMatrix} (w = scale·(q' − 8)) with q' = q + 1: the same values, bijectively.
 * An index of 15, which MLC never writes, has no symmetric counterpart: `BAD_INDEX`.
 *
 * @example
 * ```ts
 * const q = importMlcQ4({ rows, cols, groupSize: 32, weight, scales }); // symmetric g32, lossless
 * ```
 */
export function importMlcQ4(m: MlcQ4Weight): QuantizedMatrix {
  const { rows, cols, groupSize } = m;
  checkWordPacked('q4f16_1', m, [m.scales]);
  const indices = unpackNibbles(m.weight, rows * cols);
  for (let i = 0; i < indices.length; i++) {
    if (indices[i] === 15) throw new InvalidInputError('BAD_INDEX', `q4f16_1 weight [${Math.floor(i / cols)}, ${i % cols}] has index 15 (q4f16_1 stores 0..14)`);
    indices[i]++;
  }
  return { rows, cols, quantizer: 'symmetric', groupSize, paramType: 'f16', indices, scales: m.scales.slice(), biases: null };
}

/**
 * Exports a `symmetric` f16 matrix with no index 0 to MLC `q4f16_1` (the inverse of
 * {@link importMlcQ4}).
 *
 * @example
 * ```ts
 * const { weight, scales } = exportMlcQ4(importMlcQ4(w)); // the same words and scales
 * ```
 */
export function exportMlcQ4(q: QuantizedMatrix): MlcQ4Weight {
  if (q.quantizer !== 'symmetric' || q.paramType !== 'f16' || q.cols % 8 !== 0) {
    throw new InvalidInputError('NOT_EXPORTABLE', 'only symmetric f16 matrices with cols divisible by 8 export to q4f16_1');
  }
  const zero = q.indices.indexOf(0);
  if (zero >= 0) throw new InvalidInputError('NOT_EXPORTABLE', `index 0 at weight ${zero} has no q4f16_1 counterpart (q − 7 ≥ −7)`);
  const weight = packNibbles(q.indices.map((v) => v - 1), q.rows, q.cols);
  return { rows: q.rows, cols: q.cols, groupSize: q.groupSize, weight, scales: q.scales.slice() };
}
