/**
 * rANS coder for 4-bit indices in the GPU stream layout (see ./layout.ts and docs/FORMAT.md).
 *
 * Coder invariants, after ryg_rans with 16-bit renormalization:
 * - M = 2^P (P = precision), frequencies f_s sum to M, start c_s = Σ_{t<s} f_t.
 * - State x is a u32 kept in [L, 2^32) with L = 2^16, between symbols, on both sides.
 * - Encoder (symbols in reverse): if x ≥ f_s·2^(32−P) emit the low 16 bits and x >>= 16;
 *   then x = ⌊x/f_s⌋·M + (x mod f_s) + c_s. Since x < 2^32, one shift always suffices.
 * - Decoder (symbols forward): slot = x mod M, s = the symbol whose range holds slot,
 *   x = f_s·⌊x/M⌋ + slot − c_s; if x < L then x = x·2^16 + next word. One word at most per
 *   symbol, no division, no 64-bit arithmetic: exactly what WGSL offers.
 * - The encoder starts at x = L, so a decoder that ends at x = L having consumed every word
 *   has proven the stream intact (a free integrity check).
 * - Symbols are pairs of consecutive indices of a row (pair = 16·first + second), so one step
 *   yields two weights; a row segment of odd length ends with (last, pad) where pad is the most
 *   frequent index, which the decoder drops.
 */
import { CODER } from '../constants.js';
import { InvalidInputError, StreamError } from '../errors.js';
import { cumulative, histogram, normalizeFrequencies, padIndex, pairFrequencies, PAIR_ALPHABET } from './frequencies.js';
import { exceptionBytes, type LaneExceptions } from './exceptions.js';
import { chooseGeometry, laneRegion, tileDirectory, tileShape, type LayoutOptions, type StreamGeometry, type TileShape } from './layout.js';

/** Lower bound of the coder state. */
export const STATE_LOWER_BOUND = CODER.STATE_LOWER_BOUND;

/** One matrix's entropy-coded indices in the GPU layout. */
export interface EncodedMatrix {
  geometry: StreamGeometry;
  /** Frequencies of the 16 index values, summing to 2^12; the pair table derives from them. */
  freqs: Uint16Array;
  /** Decoder's initial state per lane (the encoder's final state). */
  laneStates: Uint32Array;
  /** Length of each lane's stream in u32 units (two 16-bit words each). */
  laneLengths: Uint16Array;
  /** Every tile's striped units followed by its lanes' tails (see ./layout.ts). */
  data: Uint32Array;
  /**
   * Per tile, the sum (mod 2^32) of its lanes' index hashes (docs/FORMAT.md): what the GPU decode kernel checks the
   * indices it decoded against (a stream can end in a valid state yet decode wrong indices).
   * Absent in containers written before the check existed.
   */
  tileChecks?: Uint32Array;
  /** `ecsq` matrices: the exception values in per-lane lists (./exceptions.ts, `laneExceptions`). */
  exceptions?: LaneExceptions;
}

/**
 * The integrity hash of one lane's indices (docs/FORMAT.md, "Tile checks"; shaders/decode.wgsl
 * computes the same while it decodes) from its two running sums: a = Σ (v + 1) and
 * b = Σ a_i over the pairs in decode order (v = first | second·16, a pad pair's v = first).
 * The encoder visits pairs in reverse, where b = Σ (j + 1)·(v_j + 1) over emission index j.
 */
function laneHash(a: number, b: number, tileLane: number): number {
  return (a ^ Math.imul(b, CODER.LANE_HASH_B) ^ Math.imul(tileLane, CODER.LANE_HASH_LANE)) >>> 0;
}

/** Callback for long jobs: `done` of `total` work units (tiles) finished. */
export type ProgressCallback = (done: number, total: number) => void;

/**
 * Entropy-codes a matrix of 4-bit indices with one static frequency table.
 *
 * @example
 * ```ts
 * const q = quantize(weights, rows, cols);
 * const enc = encodeIndices(q.indices, rows, cols, q.groupSize);
 * const back = decodeIndices(enc); // bit-exact copy of q.indices
 * ```
 */
export function encodeIndices(
  indices: Uint8Array, rows: number, cols: number, groupSize: number,
  options: LayoutOptions = {}, onProgress?: ProgressCallback,
  /** The indices' {@link histogram}, when the caller has it already. */
  counts: ArrayLike<number> = histogram(indices), // also rejects values ≥ 16
): EncodedMatrix {
  if (indices.length !== rows * cols) {
    throw new InvalidInputError('SHAPE_MISMATCH', `shape ${rows}×${cols} needs ${rows * cols} indices, got ${indices.length}`);
  }
  const g = chooseGeometry(rows, cols, groupSize, options);
  const freqs = normalizeFrequencies(counts);
  const P = g.precision, M = 2 ** P;
  const pairs = pairFrequencies(freqs, P);
  const cum = cumulative(pairs);
  const pad = padIndex(freqs);
  // Renormalization threshold per pair: f·2^(32−P).
  const xMax = new Float64Array(PAIR_ALPHABET), rcp = new Float64Array(PAIR_ALPHABET);
  for (let s = 0; s < PAIR_ALPHABET; s++) { xMax[s] = pairs[s] * 2 ** (32 - P); rcp[s] = pairs[s] ? 1 / pairs[s] : 0; }

  const laneStates = new Uint32Array(g.lanes);
  const tileChecks = new Uint32Array(g.tiles);
  const laneLengths = new Uint16Array(g.lanes);
  const chunks: Uint32Array[] = [];
  // Each lane's words in emission (reverse) order, ≤ 1 word per pair, at `laneStride` apart.
  const laneStride = Math.ceil(g.segmentLength / 2) * g.rowsPerLane;
  const lanesPerFullTile = tileShape(g, 0).lanes;
  const scratch = new Uint16Array(lanesPerFullTile * laneStride);
  const wordCount = new Uint32Array(lanesPerFullTile);
  // Each lane's pair symbols in emission (reverse) order, and how many.
  const syms = new Uint8Array(lanesPerFullTile * laneStride);
  const symCount = new Uint32Array(lanesPerFullTile);
  // In the encoder steps below (invariants at the top of this file): ⌊x/f⌋ via the reciprocal
  // can land one low when f divides x, and the remainder test fixes it; x < 2^32, so x >>> 16 and
  // x & 0xffff are exact.
  let lane = 0;
  for (let t = 0; t < g.tiles; t++) {
    const tile = tileShape(g, t);
    const lanes = tile.lanes;
    for (let l = 0; l < lanes; l++) {
      const { row0, row1, col0, col1 } = laneRegion(g, tile, l);
      const from = l * laneStride;
      let k = from, hashA = 0, hashB = 0;
      for (let r = row1 - 1; r >= row0; r--) {
        const base = r * cols;
        // Pairs start at col0, col0 + 2, …; an odd segment's last pair is (last, pad).
        for (let c = col0 + ((col1 - col0 - 1) & ~1); c >= col0; c -= 2) {
          const first = indices[base + c], whole = c + 1 < col1, second = whole ? indices[base + c + 1] : pad;
          const v1 = (whole ? first | (second << 4) : first) + 1; // the hash skips the pad
          hashA = (hashA + v1) >>> 0;
          hashB = (hashB + Math.imul(k - from + 1, v1)) >>> 0;
          syms[k++] = (first << 4) | second;
        }
      }
      symCount[l] = k - from;
      tileChecks[t] = (tileChecks[t] + laneHash(hashA, hashB, l)) >>> 0;
    }
    // Two lanes at a time when they code as many pairs (all but a tile's short edge lanes): the
    // two state chains are independent, so their latencies overlap.
    for (let l = 0; l < lanes; l++) {
      const paired = l + 1 < lanes && symCount[l + 1] === symCount[l];
      const n = symCount[l];
      let xa = STATE_LOWER_BOUND, xb = STATE_LOWER_BOUND;
      let wa = l * laneStride, wb = (l + 1) * laneStride;
      const sa = l * laneStride, sb = (l + 1) * laneStride;
      if (paired) {
        for (let k = 0; k < n; k++) {
          const a = syms[sa + k], b = syms[sb + k];
          if (xa >= xMax[a]) { scratch[wa++] = xa & 0xffff; xa = xa >>> 16; }
          if (xb >= xMax[b]) { scratch[wb++] = xb & 0xffff; xb = xb >>> 16; }
          let qa = Math.floor(xa * rcp[a]), ra = xa - qa * pairs[a];
          let qb = Math.floor(xb * rcp[b]), rb = xb - qb * pairs[b];
          if (ra >= pairs[a]) { qa++; ra -= pairs[a]; }
          if (rb >= pairs[b]) { qb++; rb -= pairs[b]; }
          xa = qa * M + ra + cum[a];
          xb = qb * M + rb + cum[b];
        }
      } else {
        for (let k = 0; k < n; k++) {
          const a = syms[sa + k];
          if (xa >= xMax[a]) { scratch[wa++] = xa & 0xffff; xa = xa >>> 16; }
          let qa = Math.floor(xa * rcp[a]), ra = xa - qa * pairs[a];
          if (ra >= pairs[a]) { qa++; ra -= pairs[a]; }
          xa = qa * M + ra + cum[a];
        }
      }
      wordCount[l] = wa - l * laneStride;
      laneStates[lane + l] = xa;
      laneLengths[lane + l] = (wordCount[l] + 1) >>> 1;
      if (paired) {
        l++;
        wordCount[l] = wb - l * laneStride;
        laneStates[lane + l] = xb;
        laneLengths[lane + l] = (wordCount[l] + 1) >>> 1;
      }
    }
    let depth = Infinity, units = 0;
    for (let l = 0; l < lanes; l++) { depth = Math.min(depth, laneLengths[lane + l]); units += laneLengths[lane + l]; }
    const out = new Uint32Array(units);
    // Unit u of lane l holds decode-order words 2u (low half) and 2u+1 (high half; 0 past the
    // end); decode-order word k of lane l is scratch[end_l − 1 − k], end_l = l·laneStride + n_l.
    for (let l = 0; l < lanes; l++) {
      const n = wordCount[l], end = l * laneStride + n;
      const full = n >>> 1; // units with both halves
      for (let u = 0, o = l; u < depth; u++, o += lanes) {
        out[o] = (scratch[end - 1 - 2 * u] | (u < full ? scratch[end - 2 - 2 * u] << 16 : 0)) >>> 0;
      }
    }
    let tail = depth * lanes;
    for (let l = 0; l < lanes; l++) {
      const n = wordCount[l], end = l * laneStride + n, full = n >>> 1;
      for (let u = depth; u < laneLengths[lane + l]; u++) out[tail++] = (scratch[end - 1 - 2 * u] | (u < full ? scratch[end - 2 - 2 * u] << 16 : 0)) >>> 0;
    }
    chunks.push(out);
    lane += lanes;
    onProgress?.(t + 1, g.tiles);
  }
  let total = 0;
  for (const c of chunks) total += c.length;
  const data = new Uint32Array(total);
  let at = 0;
  for (const c of chunks) { data.set(c, at); at += c.length; }
  return { geometry: g, freqs, laneStates, laneLengths, data, tileChecks };
}

/**
 * Decode table of the pair alphabet, one u32 per slot, laid out as `CODER` in src/constants.ts
 * says: f_pair (bits 20–31; < 2^12 by construction), pair (bits 12–19: first index in bits
 * 16–19, second in 12–15), slot − c_pair (bits 0–11). The WGSL kernels build the same entries
 * from the cumulative pair frequencies.
 *
 * @example
 * ```ts
 * const lut = decodeTable(enc.freqs, enc.geometry.precision); // 2^P packed entries
 * ```
 */
export function decodeTable(freqs: Uint16Array, precision: number): Uint32Array {
  let pairs: Uint16Array;
  try {
    pairs = pairFrequencies(freqs, precision);
  } catch (e) {
    throw new StreamError('BAD_FREQUENCIES', (e as Error).message);
  }
  const cum = cumulative(pairs);
  const lut = new Uint32Array(2 ** precision);
  for (let s = 0; s < PAIR_ALPHABET; s++) {
    for (let slot = cum[s]; slot < cum[s + 1]; slot++) lut[slot] = ((slot - cum[s]) | (s << CODER.TABLE_PAIR_SHIFT) | (pairs[s] << CODER.TABLE_FREQ_SHIFT)) >>> 0;
  }
  return lut;
}

/**
 * CPU reference decoder: decodes exactly the GPU layout back to indices (row-major [rows, cols]).
 * Checks, per lane, that the state ends at L and that every word was consumed; throws
 * {@link StreamError} naming the lane otherwise. Work is bounded by the matrix size whatever
 * the stream holds.
 *
 * @example
 * ```ts
 * const indices = decodeIndices(encodeIndices(q.indices, rows, cols, q.groupSize));
 * ```
 */
export function decodeIndices(enc: EncodedMatrix, out?: Uint8Array): Uint8Array {
  const { rows, cols } = enc.geometry;
  const result = out ?? new Uint8Array(rows * cols);
  if (result.length !== rows * cols) throw new InvalidInputError('SHAPE_MISMATCH', `output needs ${rows * cols} bytes`);
  decodeTiles(enc, () => result, () => {});
  return result;
}

/**
 * Decodes one tile (a block of whole rows) at a time and hands each to `visit` before decoding
 * the next: memory is one tile's indices (≤ 256 lanes × 65,536), whatever the matrix size. The
 * checks are those of {@link decodeIndices}. `indices` is reused between calls.
 *
 * @example
 * ```ts
 * decodeIndexTiles(enc, (row0, rows, indices) => hash.update(indices.subarray(0, rows * cols)));
 * ```
 */
export function decodeIndexTiles(enc: EncodedMatrix, visit: (row0: number, rows: number, indices: Uint8Array) => void): void {
  const g = enc.geometry;
  const buffer = new Uint8Array(Math.min(g.rows, g.rowsPerTile) * g.cols);
  decodeTiles(enc, (tile) => buffer.subarray(0, tile.rowsInTile * g.cols), (tile, indices) => visit(tile.firstRow, tile.rowsInTile, indices), true);
}

/**
 * The decoder loop over tiles. `target(tile)` is where the tile's rows go: the whole matrix
 * (row r at r·cols) or, with `tileLocal`, a buffer of the tile alone (row r at (r − firstRow)·cols).
 */
function decodeTiles(enc: EncodedMatrix, target: (tile: TileShape) => Uint8Array, done: (tile: TileShape, indices: Uint8Array) => void, tileLocal = false): void {
  const g = enc.geometry;
  const { cols, precision: P } = g;
  if (enc.laneStates.length !== g.lanes || enc.laneLengths.length !== g.lanes) {
    throw new StreamError('BAD_LANE_TABLE', `expected ${g.lanes} lanes, got ${enc.laneStates.length} states and ${enc.laneLengths.length} lengths`);
  }
  const lut = decodeTable(enc.freqs, P);
  const mask = 2 ** P - 1;
  const L = STATE_LOWER_BOUND;
  const { base, depth } = tileDirectory(g, enc.laneLengths);
  if (base[g.tiles] !== enc.data.length) {
    throw new StreamError('BAD_DATA_LENGTH', `lane lengths add up to ${base[g.tiles]} units, data has ${enc.data.length}`);
  }
  // 16-bit view: unit u's low half (the earlier word) is word 2u on a little-endian host.
  const words = new Uint16Array(enc.data.buffer, enc.data.byteOffset, enc.data.length * 2);
  let lane = 0;
  for (let t = 0; t < g.tiles; t++) {
    const tile = tileShape(g, t);
    const result = target(tile);
    const rowBase = tileLocal ? tile.firstRow : 0;
    const lanes = tile.lanes, stripedWords = 2 * depth[t];
    let tailStart = base[t] + depth[t] * lanes;
    for (let l = 0; l < lanes; l++, lane++) {
      const { row0, row1, col0, col1 } = laneRegion(g, tile, l);
      const lenWords = 2 * enc.laneLengths[lane];
      const where = () => `lane ${lane} (rows ${row0}–${row1 - 1}, columns ${col0}–${col1 - 1})`;
      let x = enc.laneStates[lane] | 0;
      // Word k of the lane: striped region (k < 2·depth) at 2(base + ⌊k/2⌋·lanes + l) + k%2, tail after.
      let p = 2 * (base[t] + l), k = 0;
      const jump = 2 * lanes - 1;
      for (let r = row0; r < row1; r++) {
        for (let i = (r - rowBase) * cols + col0, end = (r - rowBase) * cols + col1; i < end; i += 2) {
          // x is held as int32 bits (V8 keeps it in a register); every true value is < 2^32.
          const e = lut[x & mask];
          result[i] = (e >>> (CODER.TABLE_PAIR_SHIFT + 4)) & 15;
          if (i + 1 < end) result[i + 1] = (e >>> CODER.TABLE_PAIR_SHIFT) & 15; // else: the pad of an odd segment
          x = (Math.imul(e >>> CODER.TABLE_FREQ_SHIFT, x >>> P) + (e & CODER.TABLE_OFFSET_MASK)) | 0;
          if (x >>> 16 === 0) {
            if (k === lenWords) throw new StreamError('STREAM_OVERRUN', `${where()} reads past its ${lenWords / 2} units`, lane);
            if (k === stripedWords) p = 2 * tailStart;
            x = (x << 16) | words[p];
            k++;
            p += k <= stripedWords && (k & 1) === 0 ? jump : 1;
          }
        }
      }
      if (x !== L) throw new StreamError('BAD_FINAL_STATE', `${where()} ends in state ${x >>> 0}, expected ${L}`, lane);
      // Every unit read, and at most the padding half of the last one left.
      if (k < lenWords - 1 || (k === lenWords - 1 && words[p] !== 0)) {
        throw new StreamError('STREAM_UNDERRUN', `${where()} left ${lenWords - k} words unread`, lane);
      }
      tailStart += enc.laneLengths[lane] - depth[t];
    }
    done(tile, result);
  }
}

/**
 * Bytes of everything the coded indices need besides the quantization parameters (exception lists
 * included: they hold the values of exception indices).
 *
 * @example
 * ```ts
 * const bitsPerWeight = (encodedBytes(enc) * 8) / (rows * cols);
 * ```
 */
export function encodedBytes(enc: EncodedMatrix): number {
  return enc.data.length * 4 + enc.laneStates.length * 4 + enc.laneLengths.length * 2 + enc.freqs.length * 2 + (enc.tileChecks?.length ?? 0) * 4
    + (enc.exceptions ? exceptionBytes(enc.exceptions) : 0);
}
