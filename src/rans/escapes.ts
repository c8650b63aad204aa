/**
 * Escape lists of `ecsq` matrices (docs/FORMAT.md, "Escapes"). An escape index in a lane's stream
 * says "|v| ≥ 8: take the next value of this lane's list". The lists are in lane decode order, so
 * positions are implicit (the stream already says where escapes are: storing positions would cost
 * ≈ 0.14 bits/weight more at 2 % escapes), and each lane finds its first value from the per-lane
 * nibble counts. Values are nibble codes (`ECSQ` in src/constants.ts): 4 bits for |v| ≤ 14.
 */
import { ECSQ } from '../constants.js';
import { InvalidInputError, StreamError } from '../errors.js';
import { laneRegion, tileShape, type StreamGeometry } from './layout.js';

/** Per-lane escape lists of one matrix, lane after lane in global lane order. */
export interface LaneEscapes {
  /** Nibbles of each lane's list (< 2^16). */
  counts: Uint16Array;
  /** Every lane's nibbles back to back; nibble k in bits 4·(k mod 8) of word ⌊k/8⌋, zero-filled. */
  nibbles: Uint32Array;
}

/**
 * rank[r·S + s]: the escape indices before segment s of row r in row-major order (S segments
 * per row); the last entry is the total. A lane's values in row r start at its segment's rank.
 */
function segmentRanks(g: Pick<StreamGeometry, 'rows' | 'cols' | 'segmentLength' | 'segmentsPerRow'>, indices: Uint8Array): Float64Array {
  const { rows, cols, segmentLength: L, segmentsPerRow: S } = g;
  if (indices.length !== rows * cols) throw new InvalidInputError('SHAPE_MISMATCH', `shape ${rows}×${cols} needs ${rows * cols} indices, got ${indices.length}`);
  const rank = new Float64Array(rows * S + 1);
  let n = 0;
  for (let r = 0, i = 0; r < rows; r++) {
    for (let s = 0; s < S; s++) {
      rank[r * S + s] = n;
      for (const end = r * cols + Math.min(cols, (s + 1) * L); i < end; i++) if (indices[i] === ECSQ.ESCAPE_INDEX) n++;
    }
  }
  rank[rows * S] = n;
  return rank;
}

/** Nibbles the code of escape value v takes (|v| ≥ 8). */
export function escapeNibbles(v: number): number {
  const e = Math.abs(v) - ECSQ.ESCAPE_MIN;
  if (e < ECSQ.ESCAPE_DIGIT_MASK) return 1;
  let n = 2;
  for (let rest = (e - ECSQ.ESCAPE_DIGIT_MASK) >>> 3; rest > 0; rest >>>= 3) n++;
  return n;
}

/** Appends the nibble code of v to `out` (a nibble per entry). */
function pushEscape(v: number, out: number[]): void {
  const e = Math.abs(v) - ECSQ.ESCAPE_MIN;
  const sign = v < 0 ? ECSQ.ESCAPE_SIGN_BIT : 0;
  out.push(sign | Math.min(e, ECSQ.ESCAPE_DIGIT_MASK));
  if (e < ECSQ.ESCAPE_DIGIT_MASK) return;
  let rest = e - ECSQ.ESCAPE_DIGIT_MASK;
  do {
    const digit = rest & ECSQ.ESCAPE_DIGIT_MASK;
    rest >>>= 3;
    out.push(digit | (rest > 0 ? ECSQ.ESCAPE_MORE_BIT : 0));
  } while (rest > 0);
}

/**
 * Builds the lane lists from a matrix's escape values (row-major order of its escape indices).
 * Throws {@link InvalidInputError} when the values do not match the escape indices or a lane's
 * list exceeds 2^16 − 1 nibbles.
 *
 * @example
 * ```ts
 * const escapes = laneEscapes(encoded.geometry, q.indices, q.escapes!);
 * ```
 */
export function laneEscapes(g: StreamGeometry, indices: Uint8Array, values: Int32Array): LaneEscapes {
  const { segmentLength: L, segmentsPerRow: S } = g;
  const rank = segmentRanks(g, indices), n = rank[rank.length - 1];
  if (n !== values.length) throw new InvalidInputError('SHAPE_MISMATCH', `${n} escape indices but ${values.length} escape values`);
  const counts = new Uint16Array(g.lanes);
  const nibbles: number[] = [];
  let lane = 0;
  for (let t = 0; t < g.tiles; t++) {
    const tile = tileShape(g, t);
    for (let l = 0; l < tile.lanes; l++, lane++) {
      const { row0, row1, col0 } = laneRegion(g, tile, l);
      const start = nibbles.length;
      const s = col0 / L;
      for (let r = row0; r < row1; r++) {
        for (let k = rank[r * S + s]; k < rank[r * S + s + 1]; k++) {
          const v = values[k];
          if (!(Math.abs(v) >= ECSQ.ESCAPE_MIN && Math.abs(v) < 2 ** 31)) throw new InvalidInputError('BAD_ESCAPE', `escape value ${v} is not an integer with 8 ≤ |v| < 2^31`);
          pushEscape(v, nibbles);
        }
      }
      if (nibbles.length - start > 0xffff) throw new InvalidInputError('TOO_MANY_ESCAPES', `lane ${lane} needs ${nibbles.length - start} escape nibbles, at most 65535: use fewer symbols per lane or a larger step`);
      counts[lane] = nibbles.length - start;
    }
  }
  const words = new Uint32Array(Math.ceil(nibbles.length / 8));
  for (let k = 0; k < nibbles.length; k++) words[k >>> 3] |= nibbles[k] << (4 * (k & 7));
  return { counts, nibbles: words };
}

/** Bytes of the stored lists: a u16 count per lane and the nibble words. */
export function escapeBytes(e: LaneEscapes): number {
  return e.counts.length * 2 + e.nibbles.length * 4;
}

/**
 * A decoder of the escape lists one tile at a time, for verifiers that hold one tile's indices.
 * `decodeTile(t, indices)` takes tile t's indices (its rows, row-major, tile-local) and returns its
 * escape values in row-major order; tiles must come in order. Throws {@link StreamError}
 * `BAD_ESCAPES` when a lane's list does not hold exactly one code per escape index of its block
 * (the counts are checked against the list's size before any value is read).
 *
 * @example
 * ```ts
 * const decodeTile = escapeDecoder(enc.geometry, enc.escapes!);
 * decodeIndexTiles(enc, (row0, rows, indices) => decodeTile(row0 / enc.geometry.rowsPerTile, indices));
 * ```
 */
export function escapeDecoder(g: StreamGeometry, e: LaneEscapes): (tile: number, indices: Uint8Array) => Int32Array {
  if (e.counts.length !== g.lanes) throw new StreamError('BAD_ESCAPES', `${e.counts.length} escape counts for ${g.lanes} lanes`);
  let total = 0;
  for (let l = 0; l < g.lanes; l++) total += e.counts[l];
  if (Math.ceil(total / 8) !== e.nibbles.length) throw new StreamError('BAD_ESCAPES', `escape counts add up to ${total} nibbles, the list holds ${e.nibbles.length} words`);
  const nibble = (k: number) => (e.nibbles[k >>> 3] >>> (4 * (k & 7))) & 15;
  const lanesPerFullTile = tileShape(g, 0).lanes;
  let at = 0, nextTile = 0;
  return (t, indices) => {
    if (t !== nextTile++) throw new InvalidInputError('BAD_STATE', `escape lists are decoded tile after tile: expected tile ${nextTile - 1}, got ${t}`);
    const tile = tileShape(g, t);
    const rank = segmentRanks({ ...g, rows: tile.rowsInTile }, indices);
    const values = new Int32Array(rank[rank.length - 1]);
    const { segmentLength: L, segmentsPerRow: S } = g;
    for (let l = 0; l < tile.lanes; l++) {
      const lane = t * lanesPerFullTile + l;
      const { row0, row1, col0 } = laneRegion(g, tile, l);
      const end = at + e.counts[lane];
      const s = col0 / L;
      for (let r = row0 - tile.firstRow; r < row1 - tile.firstRow; r++) {
        for (let k = rank[r * S + s]; k < rank[r * S + s + 1]; k++) {
          if (at >= end) throw new StreamError('BAD_ESCAPES', `lane ${lane}: its escape list ends before its escapes do`, lane);
          const first = nibble(at++);
          let mag = first & ECSQ.ESCAPE_DIGIT_MASK;
          if (mag === ECSQ.ESCAPE_DIGIT_MASK) {
            let rest = 0, digits = 0, d: number;
            do {
              if (at >= end || digits === ECSQ.ESCAPE_MAX_DIGITS) throw new StreamError('BAD_ESCAPES', `lane ${lane}: an escape value runs past its list`, lane);
              d = nibble(at++);
              rest += (d & ECSQ.ESCAPE_DIGIT_MASK) * 8 ** digits++;
            } while (d & ECSQ.ESCAPE_MORE_BIT);
            mag += rest;
          }
          const v = ECSQ.ESCAPE_MIN + mag;
          if (v >= 2 ** 31) throw new StreamError('BAD_ESCAPES', `lane ${lane}: escape value out of range`, lane);
          values[k] = first & ECSQ.ESCAPE_SIGN_BIT ? -v : v;
        }
      }
      if (at !== end) throw new StreamError('BAD_ESCAPES', `lane ${lane}: ${end - at} escape nibbles left unread`, lane);
    }
    return values;
  };
}

/**
 * The escape values back from the lane lists and the decoded indices (row-major [rows, cols]), in
 * row-major order of the escape indices: the CPU reference the fused kernel is checked against.
 * Throws {@link StreamError} `BAD_ESCAPES` as {@link escapeDecoder} does.
 *
 * @example
 * ```ts
 * const values = decodeEscapes(encoded.geometry, encoded.escapes!, decodeIndices(encoded));
 * ```
 */
export function decodeEscapes(g: StreamGeometry, e: LaneEscapes, indices: Uint8Array): Int32Array {
  if (indices.length !== g.rows * g.cols) throw new InvalidInputError('SHAPE_MISMATCH', `shape ${g.rows}×${g.cols} needs ${g.rows * g.cols} indices, got ${indices.length}`);
  const decodeTile = escapeDecoder(g, e);
  const parts: Int32Array[] = [];
  let n = 0;
  for (let t = 0; t < g.tiles; t++) {
    const tile = tileShape(g, t);
    const values = decodeTile(t, indices.subarray(tile.firstRow * g.cols, (tile.firstRow + tile.rowsInTile) * g.cols));
    parts.push(values);
    n += values.length;
  }
  const out = new Int32Array(n);
  for (let i = 0, at = 0; i < parts.length; at += parts[i++].length) out.set(parts[i], at);
  return out;
}
