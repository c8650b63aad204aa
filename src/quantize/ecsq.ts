/**
 * The entropy-constrained scalar quantizer `ecsq`: w ≈ Δ_r·v with one step per row,
 * Δ_r = s·rms(row r) (f16), v a signed integer entropy-coded as index v + 8 (|v| ≤ 7) or as the
 * escape index with v in the lane's escape list (src/rans/escapes.ts). No per-group scale or bias:
 * the bits q4 spends on them (0.5 bits/weight at g64) are what it saves.
 *
 * Rate control picks s per matrix from statistics gathered in one pass ({@link EcsqStats}): a
 * histogram of u = w / rms_r, so that the SQNR and the coded size of any s are computed without
 * touching the weights again, and a streaming quantizer reads a file twice, not once per trial.
 */
import { ECSQ } from '../constants.js';
import { InvalidInputError } from '../errors.js';
import { normalizeFrequencies, pairFrequencies, ALPHABET } from '../rans/frequencies.js';
import type { StreamGeometry } from '../rans/layout.js';
import { escapeNibbles } from '../rans/escapes.js';
import { affineGroup } from './affine.js';
import { f16Round } from './half.js';

/** The q4 configurations `match` accepts: affine (MLX) with this group size. */
export type AffineMatch = 'q4-g32' | 'q4-g64' | 'q4-g128';

/**
 * How {@link EcsqStats.solve} chooses the step scale s of a matrix:
 * - `bits`: all-in bits/weight (coded indices with all stream metadata, escape lists, row steps);
 * - `sqnrDb`: the SQNR to reach;
 * - `match`: the SQNR affine q4 with that group size reaches on this matrix;
 * - `stepScale`: s itself (Δ_r = s·rms_r), in [{@link MIN_STEP_SCALE}, {@link MAX_STEP_SCALE}].
 */
export type RateTarget = { bits: number } | { sqnrDb: number } | { match: AffineMatch } | { stepScale: number };

/** The default rate target: q4-g64's quality. */
export const DEFAULT_RATE_TARGET: RateTarget = { match: 'q4-g64' };

/** Bounds of s: below 1e-3 values outgrow the escape code's practical range; above 64 every weight is 0. */
export const MIN_STEP_SCALE = 1e-3;
export const MAX_STEP_SCALE = 64;

/** Histogram of u = w/rms_r: bins of 1/128 over |u| < 32; rarer, larger values kept exactly. */
const BINS_PER_UNIT = 128;
const HIST_RANGE = 32;
const BINS = 2 * HIST_RANGE * BINS_PER_UNIT;

/** Smallest positive f16 (subnormal): the step of a nonzero row whose s·rms rounds to 0. */
const F16_MIN_STEP_BITS = 0x0001;
const F16_MAX_BITS = 0x7bff;

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
  /** All-in bits/weight predicted for the geometry (coded indices, metadata, escapes, steps). */
  bitsPerWeight: number;
  /** Fraction of weights that are escapes. */
  escapeRate: number;
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
  private readonly count = new Float64Array(BINS);
  /** Σ rms_r² of the weights in a bin: a bin's squared error in weight units is this × err(u)². */
  private readonly energy = new Float64Array(BINS);
  private readonly farU: number[] = [];
  private readonly farEnergy: number[] = [];
  private zeroWeights = 0;

  constructor(readonly rows: number, readonly cols: number, readonly matchGroup: number | null) {
    this.rms = new Float64Array(rows);
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
      const e = rms * rms, inv = 1 / rms;
      for (let i = start; i < start + cols; i++) {
        const u = w[i] * inv;
        const b = Math.floor((u + HIST_RANGE) * BINS_PER_UNIT);
        // |u| ≤ √cols, and at most cols/32² weights of a row reach |u| ≥ 32: the exact list stays small.
        if (b >= 0 && b < BINS) { this.count[b]++; this.energy[b] += e; } else { this.farU.push(u); this.farEnergy.push(e); }
      }
    }
  }

  /**
   * The index histogram, escape nibbles and squared error of step scale s. Bins are taken at
   * their centres (bin width 1/128 of the RMS: ≤ 1 % of a step at s ≥ 0.1).
   */
  private evaluate(s: number): { counts: Float64Array; nibbles: number; noise: number } {
    const counts = new Float64Array(ALPHABET);
    let nibbles = 0, noise = 0;
    const add = (u: number, n: number, e: number) => {
      const v = Math.round(u / s), err = u - s * v;
      noise += e * err * err;
      if (Math.abs(v) < ECSQ.ESCAPE_MIN) counts[v + ECSQ.ZERO_INDEX] += n;
      else { counts[ECSQ.ESCAPE_INDEX] += n; nibbles += n * escapeNibbles(v); }
    };
    for (let b = 0; b < BINS; b++) if (this.count[b] > 0) add((b + 0.5) / BINS_PER_UNIT - HIST_RANGE, this.count[b], this.energy[b]);
    for (let i = 0; i < this.farU.length; i++) add(this.farU[i], 1, this.farEnergy[i]);
    counts[ECSQ.ZERO_INDEX] += this.zeroWeights;
    return { counts, nibbles, noise };
  }

  /**
   * Predicted SQNR and all-in bits/weight of step scale s in the given stream geometry. The coded
   * indices cost their cross-entropy under the pair table the coder will build; each lane adds its
   * state (32 bits), length (16) and escape count (16); the unit padding and the information the
   * final state holds about cancel (measured: within 0.001 bits/weight on Gaussian 1024×4096).
   */
  predict(s: number, g: StreamGeometry): EcsqPrediction {
    const { counts, nibbles, noise } = this.evaluate(s);
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
    const sideBits = g.lanes * (32 + 16 + 16) + g.tiles * 32 + ALPHABET * 16 + this.rows * 16;
    return {
      stepScale: s,
      sqnrDb: noise === 0 ? Infinity : 10 * Math.log10(this.signal / noise),
      bitsPerWeight: (indexBits + sideBits + 4 * nibbles) / n,
      escapeRate: counts[ECSQ.ESCAPE_INDEX] / n,
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
 * The f16 step of a row: s·rms rounded to f16, at least the smallest subnormal for a nonzero row
 * (never 0, so no weight divides by it) and at most f16's largest finite value; 0 for a zero row.
 *
 * @example
 * ```ts
 * f16Value(rowStepBits(0.31, 0.02)); // ≈ 0.0062
 * ```
 */
export function rowStepBits(stepScale: number, rms: number): number {
  if (rms === 0) return 0;
  const bits = f16Round(stepScale * rms);
  return bits === 0 ? F16_MIN_STEP_BITS : Math.min(bits, F16_MAX_BITS);
}
