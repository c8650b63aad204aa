/**
 * Static frequency tables. A matrix stores the frequencies of its 16 index values at
 * {@link MARGINAL_PRECISION} bits; the coder's alphabet is the 256 *pairs* of consecutive
 * indices, whose frequencies are derived from those 16 numbers by {@link pairFrequencies}
 * (one rANS step then yields two weights: half the decode work per weight).
 */
import { CODER } from '../constants.js';
import { InvalidInputError } from '../errors.js';

/** Index values: 4-bit. */
export const ALPHABET = 16;
/** Coded symbols: ordered pairs of index values, pair = 16·first + second. */
export const PAIR_ALPHABET = 256;
/** Precision of the stored 16 index frequencies (they sum to 2^12). */
export const MARGINAL_PRECISION = 12;

/** Pair-table precisions the coder accepts (bits); defined with the other shared constants. */
export const MIN_PRECISION = CODER.MIN_PRECISION;
export const MAX_PRECISION = CODER.MAX_PRECISION;

/**
 * Counts of each index value. Throws {@link InvalidInputError} for a value that is not 4-bit.
 *
 * @example
 * ```ts
 * const counts = histogram(q.indices); // 16 counts
 * ```
 */
export function histogram(indices: Uint8Array): Float64Array {
  const counts = new Float64Array(256);
  for (let i = 0; i < indices.length; i++) counts[indices[i]]++;
  for (let v = ALPHABET; v < 256; v++) {
    if (counts[v] > 0) throw new InvalidInputError('BAD_INDEX', `index value ${v} is not a 4-bit value`);
  }
  return counts.slice(0, ALPHABET);
}

/**
 * Shannon entropy in bits/symbol of a histogram. 0 for an empty one.
 *
 * @example
 * ```ts
 * entropyBits(histogram(q.indices)); // ≈ 3.75 for Gaussian g64
 * ```
 */
export function entropyBits(counts: ArrayLike<number>): number {
  let total = 0;
  for (let s = 0; s < counts.length; s++) total += counts[s];
  let h = 0;
  for (let s = 0; s < counts.length; s++) if (counts[s] > 0) h -= (counts[s] / total) * Math.log2(counts[s] / total);
  return total === 0 ? 0 : h;
}

/**
 * Quantizes counts to frequencies that sum to exactly 2^precision, every present symbol ≥ 1
 * and every absent one 0. Starts from the rounded proportional share, then moves single units
 * where they cost the fewest coded bits (Σ count·log2 1/f is what the stream pays).
 *
 * @example
 * ```ts
 * const freqs = normalizeFrequencies(histogram(q.indices)); // sums to 4096
 * ```
 */
export function normalizeFrequencies(counts: ArrayLike<number>, precision: number = MARGINAL_PRECISION): Uint16Array {
  if (!Number.isInteger(precision) || precision < 8 || precision > 15) {
    throw new InvalidInputError('BAD_PRECISION', `precision must be 8..15 bits, got ${precision}`);
  }
  const total = 1 << precision;
  let sum = 0;
  for (let s = 0; s < ALPHABET; s++) sum += counts[s];
  if (sum === 0) throw new InvalidInputError('EMPTY', 'cannot build a frequency table for zero symbols');
  const freqs = new Uint16Array(ALPHABET);
  let assigned = 0;
  for (let s = 0; s < ALPHABET; s++) {
    if (counts[s] > 0) freqs[s] = Math.max(1, Math.round((counts[s] * total) / sum));
    assigned += freqs[s];
  }
  // Each step changes one frequency by one unit, choosing the symbol whose coded size grows least.
  while (assigned !== total) {
    const up = assigned < total;
    let best = -1, bestCost = Infinity;
    for (let s = 0; s < ALPHABET; s++) {
      const f = freqs[s];
      if (counts[s] === 0 || (!up && f <= 1)) continue;
      const cost = up ? -counts[s] * Math.log2((f + 1) / f) : counts[s] * Math.log2(f / (f - 1));
      if (cost < bestCost) { bestCost = cost; best = s; }
    }
    freqs[best] += up ? 1 : -1;
    assigned += up ? 1 : -1;
  }
  return freqs;
}

/**
 * Exclusive prefix sums of `freqs` (any alphabet): the start of each symbol's slot range, then the total.
 *
 * @example
 * ```ts
 * cumulative([3, 1, 4]); // [0, 3, 4, 8]
 * ```
 */
export function cumulative(freqs: ArrayLike<number>): Uint32Array {
  const cum = new Uint32Array(freqs.length + 1);
  for (let s = 0; s < freqs.length; s++) cum[s + 1] = cum[s] + freqs[s];
  return cum;
}

/**
 * The pair alphabet's frequencies, summing to exactly 2^precision, derived from the 16 stored
 * index frequencies (sum 2^12) as if consecutive indices were independent. Integer-exact and
 * deterministic, so encoder and every decoder build the same table (docs/FORMAT.md):
 * 1. share(a,b) = f_a·f_b·2^P / 2^24; freq = max(1, ⌊share⌋) for every pair with f_a·f_b > 0.
 * 2. While the sum is short of 2^P, add 1 to pairs in order of decreasing share − ⌊share⌋
 *    (ties: lower pair first), cycling if needed.
 * 3. While the sum exceeds 2^P, take 1 from the pair with the largest frequency (ties: lower).
 * 4. A pair holding all 2^P (a constant matrix) gives one unit to pair (p + 1) mod 256, so that
 *    every frequency fits the 12-bit field of the decode table.
 *
 * @example
 * ```ts
 * const pairs = pairFrequencies(normalizeFrequencies(histogram(q.indices)), 11); // sums to 2048
 * ```
 */
export function pairFrequencies(marginals: ArrayLike<number>, precision: number): Uint16Array {
  if (!Number.isInteger(precision) || precision < MIN_PRECISION || precision > MAX_PRECISION) {
    throw new InvalidInputError('BAD_PRECISION', `precision must be ${MIN_PRECISION}..${MAX_PRECISION} bits, got ${precision}`);
  }
  let msum = 0;
  for (let s = 0; s < ALPHABET; s++) msum += marginals[s];
  if (msum !== 2 ** MARGINAL_PRECISION) throw new InvalidInputError('BAD_FREQUENCIES', `index frequencies sum to ${msum}, not 2^${MARGINAL_PRECISION}`);
  const total = 2 ** precision;
  const freqs = new Uint16Array(PAIR_ALPHABET);
  // Sort keys: share − ⌊share⌋ is a multiple of 2^−(24−P) (exact binary fraction), so
  // key = rest·2^(24−P)·256 + (255 − pair) orders by decreasing rest, then increasing pair.
  const restScale = 2 ** (2 * MARGINAL_PRECISION - precision);
  const keys = new Float64Array(PAIR_ALPHABET);
  let n = 0, sum = 0;
  for (let p = 0; p < PAIR_ALPHABET; p++) {
    const product = marginals[p >> 4] * marginals[p & 15];
    if (product === 0) continue;
    const share = (product * total) / 2 ** (2 * MARGINAL_PRECISION); // exact: a power-of-two division
    freqs[p] = Math.max(1, Math.floor(share));
    sum += freqs[p];
    keys[n++] = (share - Math.floor(share)) * restScale * 256 + (255 - p);
  }
  const order = keys.subarray(0, n).sort().reverse(); // numeric sort of a typed array
  for (let i = 0; sum < total; i++, sum++) freqs[255 - (order[i % n] % 256)]++;
  while (sum > total) {
    let big = 0;
    for (let p = 1; p < PAIR_ALPHABET; p++) if (freqs[p] > freqs[big]) big = p;
    freqs[big]--;
    sum--;
  }
  for (let p = 0; p < PAIR_ALPHABET; p++) {
    if (freqs[p] === total) { freqs[p]--; freqs[(p + 1) % PAIR_ALPHABET]++; }
  }
  return freqs;
}

/**
 * The index value the encoder pads an odd-length row segment with: the most frequent one.
 *
 * @example
 * ```ts
 * padIndex(freqs); // the most frequent index value
 * ```
 */
export function padIndex(marginals: ArrayLike<number>): number {
  let best = 0;
  for (let s = 1; s < ALPHABET; s++) if (marginals[s] > marginals[best]) best = s;
  return best;
}
