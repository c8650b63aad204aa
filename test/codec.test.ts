import { describe, expect, it } from 'vitest';
import { StreamError } from '../src/errors.js';
import { quantize } from '../src/quantize/quantize.js';
import type { QuantizerKind } from '../src/quantize/types.js';
import { decodeIndices, encodedBytes, encodeIndices, STATE_LOWER_BOUND } from '../src/rans/codec.js';
import { entropyBits, histogram, normalizeFrequencies, pairFrequencies } from '../src/rans/frequencies.js';
import { chooseGeometry, tileShape } from '../src/rans/layout.js';
import { firstMismatch, randomIndices, weights, type Distribution } from './helpers.js';

function roundTrip(indices: Uint8Array, rows: number, cols: number, groupSize: number, options = {}) {
  const enc = encodeIndices(indices, rows, cols, groupSize, options);
  expect(firstMismatch(decodeIndices(enc), indices)).toBe(-1);
  return enc;
}

describe('frequency normalization', () => {
  it.each([10, 11, 12])('sums to exactly 2^%i with every present symbol ≥ 1', (p) => {
    const counts = [1e6, 1, 0, 3, 500, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    const f = normalizeFrequencies(counts, p);
    expect(f.reduce((a, b) => a + b, 0)).toBe(2 ** p);
    counts.forEach((c, s) => (c > 0 ? expect(f[s]).toBeGreaterThanOrEqual(1) : expect(f[s]).toBe(0)));
  });

  it('costs < 0.002 bits/symbol over entropy at 10 bits for a Gaussian-like histogram', () => {
    const idx = quantize(weights(1 << 16, 'gaussian'), 256, 256).indices;
    const counts = histogram(idx);
    const f = normalizeFrequencies(counts, 10);
    const total = counts.reduce((a, b) => a + b, 0);
    const coded = counts.reduce((a, c, s) => a + (c ? -c * Math.log2(f[s] / 1024) : 0), 0) / total;
    expect(coded - entropyBits(counts)).toBeLessThan(0.002);
  });

  it('rejects precisions the tables cannot hold', () => {
    expect(() => normalizeFrequencies([1, 1], 7)).toThrowError(expect.objectContaining({ code: 'BAD_PRECISION' }));
    expect(() => normalizeFrequencies([1, 1], 16)).toThrowError(expect.objectContaining({ code: 'BAD_PRECISION' }));
    const m = normalizeFrequencies(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(() => pairFrequencies(m, 10)).toThrowError(expect.objectContaining({ code: 'BAD_PRECISION' }));
    expect(() => pairFrequencies(m, 13)).toThrowError(expect.objectContaining({ code: 'BAD_PRECISION' }));
  });

  it.each([11, 12])('pair frequencies at %i bits: exact sum, every possible pair ≥ 1, within 0.25 % of the independent model (Laplace weights)', (p) => {
    const counts = histogram(quantize(weights(1 << 16, 'laplace', 2), 256, 256).indices);
    const m = normalizeFrequencies(counts);
    const f = pairFrequencies(m, p);
    expect(f.reduce((a, b) => a + b, 0)).toBe(2 ** p);
    for (let a = 0; a < 16; a++) for (let b = 0; b < 16; b++) {
      if (m[a] && m[b]) expect(f[a * 16 + b]).toBeGreaterThanOrEqual(1);
      else expect(f[a * 16 + b]).toBe(0);
    }
    expect(pairFrequencies(m, p)).toEqual(f); // deterministic
    const total = counts.reduce((x, y) => x + y, 0);
    let coded = 0;
    for (let a = 0; a < 16; a++) for (let b = 0; b < 16; b++) if (counts[a] && counts[b]) coded -= (counts[a] / total) * (counts[b] / total) * Math.log2(f[a * 16 + b] / 2 ** p);
    expect(coded / 2 / entropyBits(counts)).toBeLessThan(1.0025);
  });

  it('a lone index leaves one unit to a neighbouring pair so every frequency fits 12 bits', () => {
    const m = new Uint16Array(16);
    m[5] = 4096;
    const f = pairFrequencies(m, 12);
    expect(f[5 * 16 + 5]).toBe(4095);
    expect(f[5 * 16 + 6]).toBe(1);
  });
});

describe('layout', () => {
  it('cuts long rows into group-aligned segments and stacks short rows', () => {
    const long = chooseGeometry(4096, 4096, 64);
    expect(long).toMatchObject({ segmentLength: 1024, rowsPerLane: 1, segmentsPerRow: 4, rowsPerTile: 64, lanes: 16384 });
    const short = chooseGeometry(172, 64, 64);
    expect(short).toMatchObject({ segmentLength: 64, rowsPerLane: 16, segmentsPerRow: 1 });
    expect(short.lanes).toBe(11); // ⌈172/16⌉
    const ragged = chooseGeometry(100, 11008, 128, { symbolsPerLane: 1000 });
    expect(ragged.segmentLength).toBe(896); // rounded down to the group
    expect(ragged.segmentsPerRow).toBe(13);
    expect(tileShape(ragged, ragged.tiles - 1).rowsInTile).toBe(100 % ragged.rowsPerTile || ragged.rowsPerTile);
  });

  it('sizes tiles by lanesPerTile and rejects widths no workgroup can take', () => {
    expect(chooseGeometry(4096, 4096, 64, { lanesPerTile: 64 })).toMatchObject({ rowsPerTile: 16, tiles: 256 });
    expect(chooseGeometry(4096, 4096, 64, { lanesPerTile: 6 })).toMatchObject({ rowsPerTile: 1, tiles: 4096 }); // ⌊6/4⌋ blocks
    expect(chooseGeometry(4096, 4096, 64, { lanesPerTile: 1 }).rowsPerTile).toBe(1); // never less than one block
    for (const bad of [0, 257, 1.5, NaN]) {
      expect(() => chooseGeometry(64, 64, 64, { lanesPerTile: bad })).toThrow(expect.objectContaining({ code: 'BAD_LANES_PER_TILE' }));
    }
  });
});

describe('rANS round trip (CPU reference decoder)', () => {
  const shapes: [number, number][] = [[1, 1], [1, 7], [7, 1], [64, 64], [172, 64], [64, 172], [33, 1000], [5, 2100], [17, 6625]];
  it.each(shapes)('%i×%i, every precision, g32/g64/g128', (rows, cols) => {
    for (const precision of [11, 12]) {
      for (const groupSize of [32, 64, 128]) {
        const q = quantize(weights(rows * cols, 'gaussian', rows * cols + precision), rows, cols, { groupSize });
        roundTrip(q.indices, rows, cols, groupSize, { precision });
      }
    }
  });

  it.each(['gaussian', 'laplace', 'outliers', 'constant', 'uniform'] as Distribution[])('%s weights, every quantizer', (dist) => {
    for (const quantizer of ['affine', 'symmetric', 'per-tensor'] as QuantizerKind[]) {
      const q = quantize(weights(96 * 300, dist, 9), 96, 300, { quantizer, groupSize: 32 });
      roundTrip(q.indices, 96, 300, 32);
    }
  });

  it('ragged against tile, lane and group sizes', () => {
    for (const [rows, cols, lane] of [[19, 1000, 256], [130, 200, 512], [3, 129, 64], [250, 33, 128]]) {
      const idx = quantize(weights(rows * cols, 'laplace', rows), rows, cols, { groupSize: 32 }).indices;
      roundTrip(idx, rows, cols, 32, { symbolsPerLane: lane });
    }
  });

  it('a constant matrix codes to almost nothing: at most one unit per lane', () => {
    const enc = roundTrip(new Uint8Array(64 * 64).fill(9), 64, 64, 64);
    expect(enc.data.length).toBeLessThanOrEqual(enc.geometry.lanes);
    for (const x of enc.laneStates) expect(x).toBeGreaterThanOrEqual(STATE_LOWER_BOUND);
  });

  it('uniform indices save nothing but cost ≤ 4.1 bits/weight', () => {
    const idx = randomIndices(256 * 1024, 4);
    const enc = roundTrip(idx, 256, 1024, 64);
    const bpw = (encodedBytes(enc) * 8) / idx.length;
    expect(bpw).toBeGreaterThan(3.99);
    expect(bpw).toBeLessThan(4.1);
  });

  it('4096×4096 g64 Gaussian: bit-exact and ≤ entropy × 1.015 with all metadata', () => {
    const rows = 4096, cols = 4096;
    const q = quantize(weights(rows * cols, 'gaussian', 42), rows, cols);
    const enc = roundTrip(q.indices, rows, cols, 64);
    const h = entropyBits(histogram(q.indices));
    expect((encodedBytes(enc) * 8) / (rows * cols)).toBeLessThanOrEqual(h * 1.015);
  });

  it('detects a corrupted state, a flipped word and a truncated stream', () => {
    const q = quantize(weights(64 * 1024, 'gaussian', 8), 64, 1024);
    const enc = encodeIndices(q.indices, 64, 1024, 64);
    const states = enc.laneStates.slice();
    states[3] ^= 1 << 20;
    expect(() => decodeIndices({ ...enc, laneStates: states })).toThrowError(StreamError);
    const data = enc.data.slice();
    data[100] ^= 0x00010000;
    expect(() => decodeIndices({ ...enc, data })).toThrowError(StreamError);
    const lengths = enc.laneLengths.slice();
    lengths[0] -= 1;
    expect(() => decodeIndices({ ...enc, laneLengths: lengths })).toThrowError(StreamError);
  });
});
