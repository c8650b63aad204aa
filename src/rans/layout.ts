/**
 * The GPU stream layout (docs/FORMAT.md, "Streams", is the normative text).
 *
 * Each GPU lane decodes one independent rANS stream. Long rows are cut into segments of
 * `segmentLength` columns, one lane each; short rows are stacked, `rowsPerLane` whole rows per
 * lane, so that every stream is long enough (~1024 weights) to amortize its 48 bits of metadata.
 * A tile of `rowsPerTile` whole rows is one workgroup's work: its lanes are numbered
 * segment-major (lane = segment·blocks + block), so neighbouring lanes read the same
 * activations x[k] in the same step.
 *
 * A tile's lane streams are stored as u32 units (two 16-bit words, first-read word in the low
 * half). The first `depth` units of every lane (depth = the shortest lane's length) are striped,
 * unit j of lane ℓ at `base + j·lanes + ℓ`, so lanes that advance together read adjacent words;
 * the remaining units of each lane (its tail) follow, lane after lane. Nothing depends on the
 * hardware subgroup size and no lane needs another lane's state while decoding.
 */
import { KERNEL } from '../constants.js';
import { InvalidInputError } from '../errors.js';
import { MAX_PRECISION, MIN_PRECISION } from './frequencies.js';

/** Tunable parameters of the stream layout. */
export interface LayoutOptions {
  /** Precision P of the pair table in bits (11..12). Default {@link DEFAULT_PRECISION}. */
  precision?: number;
  /**
   * Target weights (4-bit indices) per lane stream. Rows at least this long are cut into segments of this many
   * columns (rounded down to a multiple of the group size); shorter rows are stacked, several
   * whole rows per lane. Default {@link DEFAULT_SYMBOLS_PER_LANE}.
   */
  symbolsPerLane?: number;
  /**
   * Lanes a tile (one workgroup) aims for, 1..256; invocations per workgroup are half of it.
   * Default {@link TARGET_LANES_PER_TILE}. More lanes per tile share one decode table (workgroup
   * memory) among more invocations; fewer give small matrices more workgroups.
   */
  lanesPerTile?: number;
}

/** Default pair-table precision: 11 bits costs 0.09 % in size and keeps the decode table at 8 KiB. */
export const DEFAULT_PRECISION = 11;
/** Default target stream length (see docs/FORMAT.md for the measurement behind it). */
export const DEFAULT_SYMBOLS_PER_LANE = 1024;
/**
 * Lanes a default tile aims for: the most a tile may have. On an H200 (docs/KERNELS.md) 256
 * lanes per tile ran fused 1.9× faster than 64 at 14336×4096 and no slower at 4096×4096, though
 * that matrix then has only 64 tiles for 132 multiprocessors: more invocations share each
 * workgroup's decode table, so more of them fit a multiprocessor's workgroup memory at once.
 */
export const TARGET_LANES_PER_TILE = 256;
/** Upper bound on lanes per tile: WebGPU's guaranteed maxComputeInvocationsPerWorkgroup. */
export const MAX_LANES_PER_TILE = KERNEL.MAX_LANES_PER_TILE;
/** Upper bound on weights per lane, so a lane's length always fits the u16 length table. */
export const MAX_SYMBOLS_PER_LANE = 65536;

/** Resolved layout of one matrix: everything a decoder needs besides the stream bytes. */
export interface StreamGeometry {
  rows: number;
  cols: number;
  precision: number;
  /** Columns per lane: `cols` when whole rows are stacked, else a multiple of the group size. */
  segmentLength: number;
  /** Whole rows per lane (1 when rows are cut into segments). */
  rowsPerLane: number;
  /** Rows per tile (one workgroup); a multiple of rowsPerLane. */
  rowsPerTile: number;
  /** ceil(cols / segmentLength). */
  segmentsPerRow: number;
  /** ceil(rows / rowsPerTile). */
  tiles: number;
  /** Total lane streams. */
  lanes: number;
}

/**
 * Chooses the layout for a matrix shape from {@link LayoutOptions}.
 *
 * @example
 * ```ts
 * chooseGeometry(4096, 4096, 64); // 1024-column segments, 64 rows × 4 segments per tile
 * ```
 */
export function chooseGeometry(rows: number, cols: number, groupSize: number, options: LayoutOptions = {}): StreamGeometry {
  const target = options.symbolsPerLane ?? DEFAULT_SYMBOLS_PER_LANE;
  if (!Number.isInteger(target) || target < groupSize || target > MAX_SYMBOLS_PER_LANE) {
    throw new InvalidInputError('BAD_SYMBOLS_PER_LANE', `symbols per lane must be an integer in ${groupSize}..${MAX_SYMBOLS_PER_LANE}, got ${target}`);
  }
  const lanesPerTile = options.lanesPerTile ?? TARGET_LANES_PER_TILE;
  if (!Number.isInteger(lanesPerTile) || lanesPerTile < 1 || lanesPerTile > MAX_LANES_PER_TILE) {
    throw new InvalidInputError('BAD_LANES_PER_TILE', `lanes per tile must be an integer in 1..${MAX_LANES_PER_TILE}, got ${lanesPerTile}`);
  }
  let segmentLength = cols, rowsPerLane = 1;
  if (cols > target) segmentLength = target - (target % groupSize);
  else rowsPerLane = Math.max(1, Math.floor(target / cols));
  const segmentsPerRow = Math.ceil(cols / segmentLength);
  const blocksPerTile = Math.max(1, Math.floor(lanesPerTile / segmentsPerRow));
  return makeGeometry({
    rows, cols, precision: options.precision ?? DEFAULT_PRECISION, segmentLength, rowsPerLane,
    rowsPerTile: Math.min(blocksPerTile * rowsPerLane, Math.ceil(rows / rowsPerLane) * rowsPerLane),
  });
}

/**
 * Validates stored layout fields (they come from files) and derives the rest.
 * Throws {@link InvalidInputError} for any inconsistent value.
 *
 * @example
 * ```ts
 * const g = makeGeometry(header); // throws InvalidInputError for inconsistent fields
 * ```
 */
export function makeGeometry(f: Pick<StreamGeometry, 'rows' | 'cols' | 'precision' | 'segmentLength' | 'rowsPerLane' | 'rowsPerTile'>): StreamGeometry {
  const { rows, cols, precision, segmentLength, rowsPerLane, rowsPerTile } = f;
  const int = (v: number) => Number.isInteger(v) && v > 0;
  if (!int(rows) || !int(cols)) throw new InvalidInputError('BAD_SHAPE', `shape must be positive integers, got ${rows}×${cols}`);
  if (!Number.isInteger(precision) || precision < MIN_PRECISION || precision > MAX_PRECISION) {
    throw new InvalidInputError('BAD_PRECISION', `precision must be ${MIN_PRECISION}..${MAX_PRECISION} bits, got ${precision}`);
  }
  if (!int(segmentLength) || segmentLength > cols || !int(rowsPerLane) || (rowsPerLane > 1 && segmentLength !== cols)) {
    throw new InvalidInputError('BAD_LAYOUT', `segment length ${segmentLength} with ${rowsPerLane} rows per lane does not fit ${cols} columns`);
  }
  if (segmentLength * rowsPerLane > MAX_SYMBOLS_PER_LANE) {
    throw new InvalidInputError('BAD_LAYOUT', `a lane of ${rowsPerLane}×${segmentLength} symbols exceeds ${MAX_SYMBOLS_PER_LANE}`);
  }
  const segmentsPerRow = Math.ceil(cols / segmentLength);
  if (!int(rowsPerTile) || rowsPerTile % rowsPerLane !== 0 || (rowsPerTile / rowsPerLane) * segmentsPerRow > MAX_LANES_PER_TILE) {
    throw new InvalidInputError('BAD_TILE', `a tile of ${rowsPerTile} rows in lanes of ${rowsPerLane} rows × ${segmentsPerRow} segments is not a whole number of lanes ≤ ${MAX_LANES_PER_TILE}`);
  }
  const tiles = Math.ceil(rows / rowsPerTile);
  const g = { rows, cols, precision, segmentLength, rowsPerLane, rowsPerTile, segmentsPerRow, tiles, lanes: 0 };
  // Closed form (a header may claim billions of rows; nothing here may loop over them).
  g.lanes = (tiles - 1) * tileShape(g, 0).lanes + tileShape(g, tiles - 1).lanes;
  return g;
}

/** A tile: its first row, its row count and its lanes (only the last tile may be smaller). */
export interface TileShape {
  firstRow: number;
  rowsInTile: number;
  /** Lane blocks of rowsPerLane rows (the last may be shorter). */
  blocks: number;
  lanes: number;
}

/**
 * Shape of tile `tile`.
 *
 * @example
 * ```ts
 * const { firstRow, lanes } = tileShape(g, g.tiles - 1);
 * ```
 */
export function tileShape(g: Omit<StreamGeometry, 'lanes'>, tile: number): TileShape {
  const firstRow = tile * g.rowsPerTile;
  const rowsInTile = Math.min(g.rowsPerTile, g.rows - firstRow);
  const blocks = Math.ceil(rowsInTile / g.rowsPerLane);
  return { firstRow, rowsInTile, blocks, lanes: blocks * g.segmentsPerRow };
}

/**
 * The weights lane `l` of a tile codes, in coding order: rows [row0, row1) × columns [col0, col1),
 * row-major. Lanes are numbered segment-major: l = segment·blocks + block.
 *
 * @example
 * ```ts
 * const { row0, row1, col0, col1 } = laneRegion(g, tileShape(g, 0), 5);
 * ```
 */
export function laneRegion(g: StreamGeometry, tile: TileShape, l: number): { row0: number; row1: number; col0: number; col1: number } {
  const seg = Math.floor(l / tile.blocks), block = l % tile.blocks;
  const row0 = tile.firstRow + block * g.rowsPerLane;
  const row1 = Math.min(row0 + g.rowsPerLane, tile.firstRow + tile.rowsInTile);
  const col0 = seg * g.segmentLength;
  return { row0, row1, col0, col1: Math.min(g.cols, col0 + g.segmentLength) };
}

/**
 * Where each tile's units start in the data array and its striped depth, derived from the
 * per-lane lengths (they are not stored). `base` has tiles + 1 entries; `base[tiles]` is the
 * total number of u32 units the data must hold.
 *
 * @example
 * ```ts
 * const { base, depth } = tileDirectory(g, enc.laneLengths); // base[g.tiles] === enc.data.length
 * ```
 */
export function tileDirectory(g: StreamGeometry, laneLengths: Uint16Array): { base: Float64Array; depth: Uint32Array } {
  const base = new Float64Array(g.tiles + 1);
  const depth = new Uint32Array(g.tiles);
  let lane = 0;
  for (let t = 0; t < g.tiles; t++) {
    const n = tileShape(g, t).lanes;
    let sum = 0, min = Infinity;
    for (let l = 0; l < n; l++, lane++) { sum += laneLengths[lane]; min = Math.min(min, laneLengths[lane]); }
    depth[t] = min;
    base[t + 1] = base[t] + sum;
  }
  return { base, depth };
}
