/**
 * The entropy-constrained scalar quantizer `ecsq`: w ≈ Δ_r·v with one step per row,
 * Δ_r = s·rms(row r) stored as an 8-bit E5M3 code, v a signed integer entropy-coded as index
 * clamp(v, −8, 7) + 8, and each v beyond [−8, 7] an exception in its lane's list
 * (src/rans/exceptions.ts). No per-group scale or bias: the bits q4 spends on them (0.5
 * bits/weight at g64) are what it saves.
 *
 * Rate control picks s per matrix from statistics gathered in one pass ({@link EcsqStats}):
 * histograms of u = w / rms_r, so that the SQNR and the coded size of any s are computed without
 * touching the weights again, and a streaming quantizer reads a file twice, not once per trial.
 */
import { ECSQ } from '../constants.js';
import { InvalidInputError } from '../errors.js';
import { normalizeFrequencies, pairFrequencies, ALPHABET } from '../rans/frequencies.js';
import type { StreamGeometry } from '../rans/layout.js';
import { expectedGapBits, INDEX_MAX_VALUE, INDEX_MIN_VALUE, valueBits } from '../rans/exceptions.js';
import { affineGroup } from './affine.js';
import { e5m3Value, toE5m3 } from './half.js';

/** The q4 configurations `match` accepts: affine (MLX) with this group size. */
export type AffineMatch = 'q4-g32' | 'q4-g64' | 'q4-g128';

/**
 * How {@link EcsqStats.solve} chooses the step scale s of a matrix:
 * - `bits`: all-in bits/weight (coded indices with all stream metadata, exception lists, row steps);
 * - `sqnrDb`: the SQNR to reach;
 * - `match`: the SQNR affine q4 with that group size reaches on this matrix;
 * - `stepScale`: s itself (Δ_r = s·rms_r), in [{@link MIN_STEP_SCALE}, {@link MAX_STEP_SCALE}].
 */
export type RateTarget = { bits: number } | { sqnrDb: number } | { match: AffineMatch } | { stepScale: number };

/** The default rate target: q4-g64's quality. */
export const DEFAULT_RATE_TARGET: RateTarget = { match: 'q4-g64' };

/** Bounds of s: below 1e-3 nearly every weight is an exception; above 64 every weight is 0. */
export const MIN_STEP_SCALE = 1e-3;
export const MAX_STEP_SCALE = 64;

/**
 * Histograms of u = w/rms_r, one per group of rows whose RMS lies within 1/64 octave (rows alike
 * in scale, taken as alike in shape): bins of 1/32 over |u| < 32; rarer, larger values are kept
 * exactly. A prediction evaluates each group at its rows' own E5M3-rounded steps.
 */
const BINS_PER_UNIT = 32;
const HIST_RANGE = 32;
const BINS = 2 * HIST_RANGE * BINS_PER_UNIT;
const RMS_GROUPS_PER_OCTAVE = 64;

/** The rows of one RMS group: their u-histogram and how many there are. */
interface RmsGroup { key: number; rows: number; count: Float64Array; far: number[] }

/**
 * Validates a rate target (typed errors for values no quantizer can use).
 *
 * @example
 * ```ts
 * checkRateTarget({ bits: 3.8 }); // ok; { bits: NaN } throws BAD_RATE_TARGET
 * ```
 */
export function checkRateTarget(t: RateTarget): void {
  const bad = (what: string) => { throw new InvalidInputError('BAD_RATE_TARGET', what); };
  if ('bits' in t) { if (!(t.bits > 0 && t.bits < 32)) bad(`bits/weight target must be in (0, 32), got ${t.bits}`); }
  else if ('sqnrDb' in t) { if (!(t.sqnrDb > -20 && t.sqnrDb < 150)) bad(`SQNR target must be a finite dB value in (−20, 150), got ${t.sqnrDb}`); }
  else if ('match' in t) { if (!['q4-g32', 'q4-g64', 'q4-g128'].includes(t.match)) bad(`match must be q4-g32, q4-g64 or q4-g128, got ${String(t.match)}`); }
  else if ('stepScale' in t) { if (!(t.stepScale >= MIN_STEP_SCALE && t.stepScale <= MAX_STEP_SCALE)) bad(`step scale must be in [${MIN_STEP_SCALE}, ${MAX_STEP_SCALE}], got ${t.stepScale}`); }
  else bad('a rate target needs bits, sqnrDb, match or stepScale');
}

/** What a step scale gives, predicted from the statistics. */
export interface EcsqPrediction {
  stepScale: number;
  sqnrDb: number;
  /** All-in bits/weight predicted for the geometry (coded indices, metadata, exceptions, steps). */
  bitsPerWeight: number;
  /** Fraction of weights that are exceptions (v beyond [−8, 7]). */
  exceptionRate: number;
}

/**
 * First-pass statistics of a matrix for `ecsq`: each row's RMS, the u-histogram, Σw² and, for
 * `match`, the noise affine q4 would leave. Feed whole rows in order with {@link addRows}.
 *
 * @example
 * ```ts
 * const stats = new EcsqStats(rows, cols, 64);
 * stats.addRows(w, 0);
 * const s = stats.solve({ bits: 3.8 }, geometry).stepScale;
 * ```
 */
export class EcsqStats {
  /** RMS of each row (0 for a row of zeros). */
  readonly rms: Float64Array;
  signal = 0;
  /** Σ(w − ŵ)² of affine q4 at `matchGroup` (0 without one). */
  matchNoise = 0;
  /** Row groups by round(64·log2 rms). */
  private readonly groups = new Map<number, RmsGroup>();
  /** The group of each row (null for a row of zeros). */
  private readonly rowGroup: (RmsGroup | null)[];
  private zeroWeights = 0;

  constructor(readonly rows: number, readonly cols: number, readonly matchGroup: number | null) {
    this.rms = new Float64Array(rows);
    this.rowGroup = new Array<RmsGroup | null>(rows).fill(null);
  }

  /** Adds whole rows starting at row `row0` (weights already checked finite). */
  addRows(w: ArrayLike<number>, row0: number): void {
    const { cols } = this;
    for (let r = 0; r * cols < w.length; r++) {
      const start = r * cols;
      let ss = 0;
      for (let i = start; i < start + cols; i++) ss += w[i] * w[i];
      this.signal += ss;
      const rms = Math.sqrt(ss / cols);
      this.rms[row0 + r] = rms;
      if (this.matchGroup) this.matchNoise += affineNoise(w, start, start + cols, this.matchGroup);
      if (rms === 0) { this.zeroWeights += cols; continue; }
      const key = Math.round(Math.log2(rms) * RMS_GROUPS_PER_OCTAVE);
      let group = this.groups.get(key);
      if (!group) this.groups.set(key, (group = { key, rows: 0, count: new Float64Array(BINS), far: [] }));
      group.rows++;
      this.rowGroup[row0 + r] = group;
      const inv = 1 / rms;
      for (let i = start; i < start + cols; i++) {
        const u = w[i] * inv;
        const b = Math.floor((u + HIST_RANGE) * BINS_PER_UNIT);
        // |u| ≤ √cols, and at most cols/32² weights of a row reach |u| ≥ 32: the exact list stays small.
        if (b >= 0 && b < BINS) group.count[b]++; else group.far.push(u);
      }
    }
  }

  /**
   * The index counts (added to `counts`), exception count and value bits, and squared error in u
   * units of a share of a group's weights (its rows with one step code), at step σ in u units. A bin's weights are taken as
   * spread evenly over it: a bin that straddles a decision boundary (u = (v + ½)·σ) is split
   * there, and each part adds its mean squared error about the level, so the figures are exact
   * for a density flat within bins.
   */
  private evaluate(group: RmsGroup, step: number, share: number, counts: Float64Array): { exceptions: number; valueBits: number; noise: number } {
    let exceptions = 0, bits = 0, noise = 0;
    // n weights spread evenly over [a, b), all quantized to v.
    const add = (v: number, n: number, a: number, b: number) => {
      const level = step * v, mid = (a + b) / 2 - level;
      noise += n * (mid * mid + ((b - a) * (b - a)) / 12);
      counts[Math.min(INDEX_MAX_VALUE, Math.max(INDEX_MIN_VALUE, v)) + ECSQ.ZERO_INDEX] += n;
      if (v < INDEX_MIN_VALUE || v > INDEX_MAX_VALUE) { exceptions += n; bits += n * valueBits(v); }
    };
    const c = group.count, width = 1 / BINS_PER_UNIT;
    for (let bin = 0; bin < BINS; bin++) {
      if (c[bin] === 0) continue;
      const a = bin * width - HIST_RANGE, b = a + width;
      for (let lo = a, v = Math.round(a / step); lo < b; v++) {
        const hi = Math.min(b, (v + 0.5) * step);
        if (hi > lo) add(v, (share * c[bin] * (hi - lo)) / width, lo, hi);
        lo = Math.max(lo, hi);
      }
    }
    for (const u of group.far) add(Math.round(u / step), share, u, u);
    return { exceptions, valueBits: bits, noise };
  }

  /**
   * Predicted SQNR and all-in bits/weight of step scale s in the given stream geometry, each RMS
   * group of rows at its own E5M3-rounded step. The coded
   * indices cost their cross-entropy under the pair table the coder will build; each exception its
   * sign and excess plus the expected Exp-Golomb gap of exceptions spread at random; each lane its
   * state (32 bits), length (16) and exception count (16); the unit padding and the information the
   * final state holds about cancel (measured: within 0.001 bits/weight on Gaussian 1024×4096).
   */
  predict(s: number, g: StreamGeometry): EcsqPrediction {
    const counts = new Float64Array(ALPHABET);
    let exceptions = 0, vBits = 0, noise = 0;
    // Rows of a group whose steps round to the same E5M3 code share one evaluation, at their mean
    // step in u units (the group's rows differ in RMS by < 1.1 %).
    const parts = new Map<number, { group: RmsGroup; rows: number; energy: number; stepU: number }>();
    for (let r = 0; r < this.rows; r++) {
      const rms = this.rms[r], group = this.rowGroup[r];
      if (!group) continue;
      const code = rowStepCode(s, rms);
      const key = group.key * 256 + code;
      let part = parts.get(key);
      if (!part) parts.set(key, (part = { group, rows: 0, energy: 0, stepU: 0 }));
      part.rows++;
      part.energy += rms * rms * this.cols;
      part.stepU += e5m3Value(code) / rms;
    }
    for (const part of parts.values()) {
      const e = this.evaluate(part.group, part.stepU / part.rows, part.rows / part.group.rows, counts);
      exceptions += e.exceptions;
      vBits += e.valueBits;
      noise += (e.noise * part.energy) / (part.rows * this.cols); // u² × the part's mean rms²
    }
    counts[ECSQ.ZERO_INDEX] += this.zeroWeights;
    const n = this.rows * this.cols;
    const freqs = normalizeFrequencies(counts);
    const pairs = pairFrequencies(freqs, g.precision);
    let pairBits = 0;
    for (let a = 0; a < ALPHABET; a++) {
      for (let b = 0; b < ALPHABET; b++) {
        if (counts[a] > 0 && counts[b] > 0) pairBits += ((counts[a] * counts[b]) / (n * n)) * (g.precision - Math.log2(pairs[a * 16 + b]));
      }
    }
    const indexBits = (pairBits * n) / 2;
    const sideBits = g.lanes * (32 + 16 + 16) + g.tiles * 32 + ALPHABET * 16 + this.rows * 8;
    const listBits = vBits + exceptions * expectedGapBits(exceptions / n);
    return {
      stepScale: s,
      sqnrDb: noise === 0 ? Infinity : 10 * Math.log10(this.signal / noise),
      bitsPerWeight: (indexBits + sideBits + listBits) / n,
      exceptionRate: exceptions / n,
    };
  }

  /**
   * The step scale that meets `target` (bisection on log s: bits and SQNR both fall as s grows).
   * Throws {@link InvalidInputError} `RATE_UNREACHABLE` for a bits target below what the largest
   * step reaches (the lane metadata and row steps alone) or an SQNR above what the smallest reaches.
   */
  solve(target: RateTarget, g: StreamGeometry): EcsqPrediction {
    checkRateTarget(target);
    if ('stepScale' in target) return this.predict(target.stepScale, g);
    const useBits = 'bits' in target;
    let goal: number;
    if ('bits' in target) goal = target.bits;
    else if ('sqnrDb' in target) goal = target.sqnrDb;
    else {
      if (this.matchGroup === null) throw new InvalidInputError('BAD_STATE', 'match needs the statistics gathered with its group size');
      goal = this.matchNoise === 0 ? Infinity : 10 * Math.log10(this.signal / this.matchNoise);
    }
    const value = (p: EcsqPrediction) => (useBits ? p.bitsPerWeight : p.sqnrDb);
    const hiP = this.predict(MAX_STEP_SCALE, g), loP = this.predict(MIN_STEP_SCALE, g);
    if (value(hiP) >= goal) {
      if (useBits) throw new InvalidInputError('RATE_UNREACHABLE', `${goal} bits/weight is below the ${hiP.bitsPerWeight.toFixed(3)} the stream metadata and row steps alone take for this ${this.rows}×${this.cols} matrix`);
      return hiP; // even the coarsest step is as good as asked
    }
    if (value(loP) <= goal) {
      if (!useBits) throw new InvalidInputError('RATE_UNREACHABLE', `SQNR ${goal.toFixed(2)} dB is above the ${loP.sqnrDb.toFixed(2)} dB of the finest step scale (${MIN_STEP_SCALE})`);
      return loP;
    }
    let lo = Math.log(MIN_STEP_SCALE), hi = Math.log(MAX_STEP_SCALE);
    for (let i = 0; i < 48; i++) {
      const mid = (lo + hi) / 2;
      if (value(this.predict(Math.exp(mid), g)) > goal) lo = mid; else hi = mid;
    }
    return this.predict(Math.exp((lo + hi) / 2), g);
  }
}

/** Σ(w − ŵ)² of affine q4 (f16 scale and bias per group) over one row's groups. */
function affineNoise(w: ArrayLike<number>, start: number, end: number, groupSize: number): number {
  let noise = 0;
  for (let g = start; g < end; g += groupSize) {
    const ge = Math.min(end, g + groupSize);
    let lo = Infinity, hi = -Infinity;
    for (let i = g; i < ge; i++) { lo = Math.min(lo, w[i]); hi = Math.max(hi, w[i]); }
    noise += affineGroup(w, g, ge, lo, hi, null, 0).noise;
  }
  return noise;
}

/**
 * The E5M3 step code of a row: s·rms rounded to the nearest E5M3 value (clamped to its range for a
 * nonzero row, so never 0 and no weight divides by 0); 0 for a zero row.
 *
 * @example
 * ```ts
 * e5m3Value(rowStepCode(0.31, 0.02)); // ≈ 0.0062
 * ```
 */
export function rowStepCode(stepScale: number, rms: number): number {
  if (rms === 0) return 0;
  return Math.max(1, toE5m3(stepScale * rms));
}
