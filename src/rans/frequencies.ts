/**
 * Static frequency tables for a 16-symbol alphabet, normalized to exactly 2^P.
 */
import { InvalidInputError } from '../errors.js';

/** Symbols in the alphabet: 4-bit indices. */
export const ALPHABET = 16;

/** Probability precisions the coder accepts (bits). */
export const MIN_PRECISION = 10;
export const MAX_PRECISION = 12;

/** Counts of each index value. Throws {@link InvalidInputError} for a value that is not 4-bit. */
export function histogram(indices: Uint8Array): Float64Array {
  const counts = new Float64Array(256);
  for (let i = 0; i < indices.length; i++) counts[indices[i]]++;
  for (let v = ALPHABET; v < 256; v++) {
    if (counts[v] > 0) throw new InvalidInputError('BAD_INDEX', `index value ${v} is not a 4-bit value`);
  }
  return counts.slice(0, ALPHABET);
}

/** Shannon entropy in bits/symbol of a histogram. 0 for an empty one. */
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
 */
export function normalizeFrequencies(counts: ArrayLike<number>, precision: number): Uint16Array {
  if (!Number.isInteger(precision) || precision < MIN_PRECISION || precision > MAX_PRECISION) {
    throw new InvalidInputError('BAD_PRECISION', `precision must be ${MIN_PRECISION}..${MAX_PRECISION} bits, got ${precision}`);
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

/** Exclusive prefix sums of `freqs`: the start of each symbol's slot range. */
export function cumulative(freqs: Uint16Array): Uint32Array {
  const cum = new Uint32Array(ALPHABET + 1);
  for (let s = 0; s < ALPHABET; s++) cum[s + 1] = cum[s] + freqs[s];
  return cum;
}
