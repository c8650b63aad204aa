/**
 * Exception lists of `ecsq` matrices (docs/FORMAT.md, "Exceptions"). The stream codes every
 * weight's v clamped to [−8, 7]; a weight beyond that range is an exception: its lane's list says
 * where it is and how far beyond. The fused kernel applies a lane's exceptions after each row of
 * its main loop, so the loop itself does no exception work (a branch in the loop would be taken
 * by some lane of a 32-wide SIMD group on most steps).
 *
 * A lane's list is a bit string (bit k of the lists in bit k mod 32 of u32 k/32), one entry per
 * exception in the lane's decode order (its rows top to bottom, columns left to right):
 * - gap: positions skipped since the previous exception (or the lane's start), Exp-Golomb of
 *   order K (the tensor's `exceptionGapBits`);
 * - sign: 1 for v < −8 (the index was clamped to −8), 0 for v > 7 (clamped to 7);
 * - excess: |v| − 9 for v < −8, v − 8 for v > 7, Exp-Golomb of order 0.
 * A lane's position counts its block's weights in decode order: (row − row0)·width + col − col0.
 * Exp-Golomb of order K, least significant bit first: n ↦ m = ⌊n/2^K⌋ + 1 written as z = ⌊log2 m⌋
 * zeros, a one, the low z bits of m, then the low K bits of n.
 */
import { ECSQ } from '../constants.js';
import { InvalidInputError, StreamError } from '../errors.js';
import { laneRegion, tileShape, type StreamGeometry } from './layout.js';

/** Values an ecsq index holds (index i is v = i − ZERO_INDEX); weights beyond them are exceptions. */
export const INDEX_MIN_VALUE = -ECSQ.ZERO_INDEX;
export const INDEX_MAX_VALUE = 15 - ECSQ.ZERO_INDEX;

/** An ecsq matrix's exceptions in row-major order: flat positions r·cols + c and values v ∉ [−8, 7]. */
export interface Exceptions {
  positions: Uint32Array;
  values: Int32Array;
}

/** Per-lane exception lists of one matrix, lane after lane in global lane order. */
export interface LaneExceptions {
  /** Exceptions in each lane's list (< 2^16). */
  counts: Uint16Array;
  /** Every lane's entries back to back as one bit string, zero-filled to whole u32s. */
  bits: Uint32Array;
  /** K, the Exp-Golomb order of the gaps (0..16), chosen by the encoder for the smallest lists. */
  gapBits: number;
}

/** Largest Exp-Golomb order of the gaps. */
export const MAX_GAP_BITS = 16;

/** Bits of n ≥ 0 in Exp-Golomb of order k. */
function golombBits(n: number, k: number): number {
  const m = Math.floor(n / 2 ** k) + 1;
  return 2 * Math.floor(Math.log2(m)) + 1 + k;
}

/** Appends bits LSB-first to a growable word array. */
class BitWriter {
  words = new Uint32Array(64);
  length = 0;

  write(value: number, n: number): void {
    for (let i = 0; i < n; i++) {
      if ((this.length >>> 5) >= this.words.length) {
        const grown = new Uint32Array(this.words.length * 2);
        grown.set(this.words);
        this.words = grown;
      }
      if (Math.floor(value / 2 ** i) % 2) this.words[this.length >>> 5] |= 1 << (this.length & 31);
      this.length++;
    }
  }

  golomb(n: number, k: number): void {
    const m = Math.floor(n / 2 ** k) + 1;
    const z = Math.floor(Math.log2(m));
    this.write(0, z);
    this.write(1, 1);
    this.write(m % 2 ** z, z);
    this.write(n % 2 ** k, k);
  }
}

/** Reads what {@link BitWriter} wrote; never past `end`, whatever the bits say. */
class BitReader {
  constructor(private readonly words: Uint32Array, public at: number, private readonly end: number, private readonly lane: number) {}

  bit(): number {
    if (this.at >= this.end) throw new StreamError('BAD_EXCEPTIONS', `lane ${this.lane}: its exception list runs past its end`, this.lane);
    const b = (this.words[this.at >>> 5] >>> (this.at & 31)) & 1;
    this.at++;
    return b;
  }

  read(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v += this.bit() * 2 ** i;
    return v;
  }

  golomb(k: number): number {
    let z = 0;
    while (this.bit() === 0) if (++z > 32) throw new StreamError('BAD_EXCEPTIONS', `lane ${this.lane}: an Exp-Golomb code longer than 32 bits`, this.lane);
    const m = 2 ** z + this.read(z);
    return (m - 1) * 2 ** k + this.read(k);
  }
}

/**
 * The excess of an exception value: what the list stores besides its sign.
 *
 * @example
 * ```ts
 * excess(9); // 1: v − 8;  excess(-9); // 0: |v| − 9
 * ```
 */
export function excess(v: number): number {
  return v > INDEX_MAX_VALUE ? v - INDEX_MAX_VALUE - 1 : INDEX_MIN_VALUE - 1 - v;
}

/**
 * Bits one exception costs besides its gap: the sign and the excess in Exp-Golomb of order 0.
 *
 * @example
 * ```ts
 * valueBits(8); // 2
 * ```
 */
export function valueBits(v: number): number {
  return 1 + golombBits(excess(v), 0);
}

/**
 * Expected bits of the gaps when each weight is an exception with probability p (geometric gaps),
 * for the best order K: what the rate control predicts the lists' positions cost.
 *
 * @example
 * ```ts
 * expectedGapBits(0.02); // ≈ 7.1 bits per exception
 * ```
 */
export function expectedGapBits(p: number): number {
  if (!(p > 0)) return 0;
  if (p >= 1) return 1;
  const q = Math.log1p(-p); // ln(1 − p)
  let best = Infinity;
  for (let k = 0; k <= MAX_GAP_BITS; k++) {
    // m = ⌊g/2^k⌋ + 1 ∈ [2^z, 2^(z+1)) ⇔ g ∈ [(2^z − 1)·2^k, (2^(z+1) − 1)·2^k): 2z + 1 + k bits.
    let bits = 0;
    for (let z = 0; z < 48; z++) {
      const a = (2 ** z - 1) * 2 ** k, b = (2 ** (z + 1) - 1) * 2 ** k;
      bits += (Math.exp(a * q) - Math.exp(b * q)) * (2 * z + 1 + k);
    }
    best = Math.min(best, bits);
  }
  return best;
}

/**
 * Visits every lane's exceptions in the lane's decode order, lane after lane: `visit(lane,
 * position in the lane, index into the row-major lists)`, then `laneDone(lane)`. Exceptions must
 * be sorted by flat position.
 */
function forEachLaneException(g: StreamGeometry, e: Exceptions, visit: (lane: number, lanePos: number, k: number) => void, laneDone: (lane: number) => void): void {
  const { cols } = g;
  const lower = (target: number) => { // first k with positions[k] ≥ target
    let lo = 0, hi = e.positions.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (e.positions[mid] < target) lo = mid + 1; else hi = mid; }
    return lo;
  };
  let lane = 0;
  for (let t = 0; t < g.tiles; t++) {
    const tile = tileShape(g, t);
    for (let l = 0; l < tile.lanes; l++, lane++) {
      const { row0, row1, col0, col1 } = laneRegion(g, tile, l);
      const width = col1 - col0;
      for (let r = row0; r < row1; r++) {
        for (let k = lower(r * cols + col0); k < e.positions.length && e.positions[k] < r * cols + col1; k++) {
          visit(lane, (r - row0) * width + e.positions[k] - r * cols - col0, k);
        }
      }
      laneDone(lane);
    }
  }
}

/**
 * Builds the lane lists from a matrix's exceptions (row-major, as the quantizer lists them),
 * choosing the gap order K that makes them smallest. Throws {@link InvalidInputError} for
 * exceptions out of order or range, or a lane with more than 65,535.
 *
 * @example
 * ```ts
 * const exceptions = laneExceptions(encoded.geometry, q.exceptions!);
 * ```
 */
export function laneExceptions(g: StreamGeometry, e: Exceptions): LaneExceptions {
  if (e.positions.length !== e.values.length) throw new InvalidInputError('SHAPE_MISMATCH', `${e.positions.length} exception positions but ${e.values.length} values`);
  for (let k = 0; k < e.positions.length; k++) {
    if (!(e.positions[k] < g.rows * g.cols) || (k > 0 && e.positions[k] <= e.positions[k - 1])) throw new InvalidInputError('BAD_EXCEPTION', `exception ${k} at ${e.positions[k]} is out of order or outside the ${g.rows}×${g.cols} matrix`);
    const v = e.values[k];
    if (!Number.isInteger(v) || (v >= INDEX_MIN_VALUE && v <= INDEX_MAX_VALUE) || Math.abs(v) >= 2 ** 31) throw new InvalidInputError('BAD_EXCEPTION', `exception value ${v} is not an integer outside [${INDEX_MIN_VALUE}, ${INDEX_MAX_VALUE}]`);
  }
  // One pass puts the exceptions in lane order (lanes' lists follow each other) with their gaps;
  // then the gap order K that makes the lists smallest; then the bits.
  const gaps: number[] = [], order: number[] = [];
  const counts = new Uint16Array(g.lanes);
  let last = -1, n = 0;
  forEachLaneException(g, e, (_, pos, k) => { gaps.push(pos - last - 1); order.push(k); last = pos; n++; }, (lane) => {
    if (n > 0xffff) throw new InvalidInputError('TOO_MANY_EXCEPTIONS', `lane ${lane} has ${n} exceptions, at most 65535: use fewer symbols per lane or a larger step`);
    counts[lane] = n;
    n = 0;
    last = -1;
  });
  let best = 0, bestBits = Infinity;
  for (let k = 0; k <= MAX_GAP_BITS; k++) {
    let bits = 0;
    for (const gap of gaps) bits += golombBits(gap, k);
    if (bits < bestBits) { bestBits = bits; best = k; }
  }
  const w = new BitWriter();
  for (let i = 0; i < gaps.length; i++) {
    const v = e.values[order[i]];
    w.golomb(gaps[i], best);
    w.write(v < 0 ? 1 : 0, 1);
    w.golomb(excess(v), 0);
  }
  return { counts, bits: w.words.slice(0, Math.ceil(w.length / 32)), gapBits: best };
}

/**
 * Bytes of the stored lists: a u16 count per lane and the bit string.
 *
 * @example
 * ```ts
 * const listBitsPerWeight = (8 * exceptionBytes(enc.exceptions!)) / (rows * cols);
 * ```
 */
export function exceptionBytes(e: LaneExceptions): number {
  return e.counts.length * 2 + e.bits.length * 4;
}

/**
 * Where each lane's list starts in the bit string (lanes + 1 entries, the last its end), found by
 * parsing every entry; throws {@link StreamError} `BAD_EXCEPTIONS` for lists that do not parse or
 * whose lengths do not fill the bit string (up to its last word's padding).
 *
 * @example
 * ```ts
 * const starts = exceptionStarts(encoded.geometry, encoded.exceptions!); // what the fused kernel reads
 * ```
 */
export function exceptionStarts(g: StreamGeometry, e: LaneExceptions): Uint32Array {
  const starts = new Uint32Array(g.lanes + 1);
  const end = laneLists(g, e, (lane, reader) => { starts[lane + 1] = reader.at; }, () => {});
  if (Math.ceil(end / 32) !== e.bits.length) throw new StreamError('BAD_EXCEPTIONS', `the exception lists end at bit ${end}, the section holds ${e.bits.length} words`);
  return starts;
}

/** Parses every lane's list in order, checking positions and lengths. */
function laneLists(g: StreamGeometry, e: LaneExceptions, laneEnd: (lane: number, reader: BitReader) => void, entry: (lane: number, pos: number, v: number) => void, lanes = g.lanes, firstLane = 0, startBit = 0): number {
  if (e.counts.length !== g.lanes) throw new StreamError('BAD_EXCEPTIONS', `${e.counts.length} exception counts for ${g.lanes} lanes`);
  if (!Number.isInteger(e.gapBits) || e.gapBits < 0 || e.gapBits > MAX_GAP_BITS) throw new StreamError('BAD_EXCEPTIONS', `gap order ${e.gapBits} is not in 0..${MAX_GAP_BITS}`);
  const totalBits = e.bits.length * 32;
  let at = startBit;
  const lanesPerFullTile = tileShape(g, 0).lanes;
  for (let lane = firstLane; lane < firstLane + lanes; lane++) {
    const t = Math.floor(lane / lanesPerFullTile);
    const { row0, row1, col0, col1 } = laneRegion(g, tileShape(g, t), lane - t * lanesPerFullTile);
    const size = (row1 - row0) * (col1 - col0);
    const reader = new BitReader(e.bits, at, totalBits, lane);
    let pos = -1;
    for (let i = 0; i < e.counts[lane]; i++) {
      pos += reader.golomb(e.gapBits) + 1;
      if (pos >= size) throw new StreamError('BAD_EXCEPTIONS', `lane ${lane}: exception at position ${pos} beyond its ${size} weights`, lane);
      const negative = reader.bit() === 1;
      const x = reader.golomb(0);
      const v = negative ? INDEX_MIN_VALUE - 1 - x : INDEX_MAX_VALUE + 1 + x;
      if (Math.abs(v) >= 2 ** 31) throw new StreamError('BAD_EXCEPTIONS', `lane ${lane}: exception value out of range`, lane);
      entry(lane, pos, v);
    }
    at = reader.at;
    laneEnd(lane, reader);
  }
  return at;
}

/**
 * A decoder of the lists one tile at a time, for verifiers that hold one tile's indices:
 * `decodeTile(t, indices)` takes tile t's indices (tile-local, row-major), checks that every
 * exception sits on an index clamped its way (7 for v > 7, −8 for v < −8) and returns the tile's
 * exceptions in row-major order (positions in the whole matrix). Tiles must come in order.
 * Throws {@link StreamError} `BAD_EXCEPTIONS`.
 *
 * @example
 * ```ts
 * const decodeTile = exceptionDecoder(enc.geometry, enc.exceptions!);
 * decodeIndexTiles(enc, (row0, rows, indices) => decodeTile(row0 / enc.geometry.rowsPerTile, indices));
 * ```
 */
export function exceptionDecoder(g: StreamGeometry, e: LaneExceptions): (tile: number, indices: Uint8Array) => Exceptions {
  const lanesPerFullTile = tileShape(g, 0).lanes;
  let at = 0, nextTile = 0;
  return (t, indices) => {
    if (t !== nextTile++) throw new InvalidInputError('BAD_STATE', `exception lists are decoded tile after tile: expected tile ${nextTile - 1}, got ${t}`);
    const tile = tileShape(g, t);
    const found: [number, number][] = [];
    at = laneLists(g, e, () => {}, (lane, pos, v) => {
      const { row0, col0, col1 } = laneRegion(g, tile, lane - t * lanesPerFullTile);
      const width = col1 - col0;
      const r = row0 + Math.floor(pos / width), c = col0 + (pos % width);
      const index = indices[(r - tile.firstRow) * g.cols + c];
      if (index !== (v > 0 ? INDEX_MAX_VALUE : INDEX_MIN_VALUE) + 8) throw new StreamError('BAD_EXCEPTIONS', `lane ${lane}: exception ${v} at row ${r}, column ${c} sits on index ${index}, not on the clamped ${v > 0 ? 'maximum' : 'minimum'}`, lane);
      found.push([r * g.cols + c, v]);
    }, tile.lanes, t * lanesPerFullTile, at);
    if (t === g.tiles - 1 && Math.ceil(at / 32) !== e.bits.length) throw new StreamError('BAD_EXCEPTIONS', `the exception lists end at bit ${at}, the section holds ${e.bits.length} words`);
    found.sort((a, b) => a[0] - b[0]);
    return { positions: Uint32Array.from(found, (f) => f[0]), values: Int32Array.from(found, (f) => f[1]) };
  };
}

/**
 * The exceptions back from the lane lists (row-major), checked against the decoded indices
 * (row-major [rows, cols]) as {@link exceptionDecoder} does: the CPU reference of what the fused
 * kernel applies.
 *
 * @example
 * ```ts
 * const exceptions = decodeExceptions(encoded.geometry, encoded.exceptions!, decodeIndices(encoded));
 * ```
 */
export function decodeExceptions(g: StreamGeometry, e: LaneExceptions, indices: Uint8Array): Exceptions {
  if (indices.length !== g.rows * g.cols) throw new InvalidInputError('SHAPE_MISMATCH', `shape ${g.rows}×${g.cols} needs ${g.rows * g.cols} indices, got ${indices.length}`);
  const decodeTile = exceptionDecoder(g, e);
  const positions: number[] = [], values: number[] = [];
  for (let t = 0; t < g.tiles; t++) {
    const tile = tileShape(g, t);
    const part = decodeTile(t, indices.subarray(tile.firstRow * g.cols, (tile.firstRow + tile.rowsInTile) * g.cols));
    for (let i = 0; i < part.positions.length; i++) { positions.push(part.positions[i]); values.push(part.values[i]); }
  }
  return { positions: Uint32Array.from(positions), values: Int32Array.from(values) };
}
