import { describe, expect, it } from 'vitest';
import { ECSQ } from '../src/constants.js';
import { InvalidInputError, StreamError } from '../src/errors.js';
import { compressMatrix, type CompressOptions } from '../src/pipeline.js';
import { EcsqStats } from '../src/quantize/ecsq.js';
import { e5m3Value, toE5m3 } from '../src/quantize/half.js';
import { dequantize, groupAffineParams, MatrixQuantizer, quantize, sqnrDb } from '../src/quantize/quantize.js';
import { decodeIndices } from '../src/rans/codec.js';
import { decodeExceptions, exceptionStarts, expectedGapBits, laneExceptions, valueBits } from '../src/rans/exceptions.js';
import { chooseGeometry } from '../src/rans/layout.js';
import { referenceMatVec } from '../src/reference.js';
import { firstMismatch, weights, type Distribution } from './helpers.js';

const allIn = (c: ReturnType<typeof compressMatrix>) => c.stats.bitsPerWeight + c.stats.scaleBitsPerWeight;

/** Compresses, then decodes indices and exception values on the CPU and checks both bit-exact. */
function roundTrip(w: Float32Array, rows: number, cols: number, options: CompressOptions) {
  const c = compressMatrix({ name: 'w', rows, cols, kind: 'float', weights: w }, { quantizer: 'ecsq', ...options });
  const indices = decodeIndices(c.encoded);
  expect(firstMismatch(indices, c.quantized.indices)).toBe(-1);
  const e = decodeExceptions(c.encoded.geometry, c.encoded.exceptions!, indices);
  expect(firstMismatch(e.positions, c.quantized.exceptions!.positions)).toBe(-1);
  expect(firstMismatch(e.values, c.quantized.exceptions!.values)).toBe(-1);
  return c;
}

describe('ecsq quantizer', () => {
  it('w = step_r·v: indices clamp(v, −8, 7) + 8, exceptions beyond, one f16 step per row', () => {
    const rows = 5, cols = 64;
    const w = weights(rows * cols, 'outliers', 3);
    const q = quantize(w, rows, cols, { quantizer: 'ecsq', rate: { stepScale: 0.3 } });
    expect(q.scales.length).toBe(rows);
    expect(q.biases).toBeNull();
    const back = dequantize(q);
    let k = 0;
    for (let r = 0; r < rows; r++) {
      const step = e5m3Value(q.scales[r]);
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += w[r * cols + c] ** 2;
      expect(Math.abs(step / (0.3 * Math.sqrt(ss / cols)) - 1)).toBeLessThan(1 / 16); // half an E5M3 step at most
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c, v = Math.round(w[i] / step);
        expect(q.indices[i]).toBe(Math.min(7, Math.max(-8, v)) + ECSQ.ZERO_INDEX);
        if (v < -8 || v > 7) { expect(q.exceptions!.positions[k]).toBe(i); expect(q.exceptions!.values[k++]).toBe(v); }
        expect(back[i] === Math.fround(step * v)).toBe(true); // ±0 alike
      }
    }
    expect(k).toBe(q.exceptions!.positions.length);
    expect(k).toBeGreaterThan(0);
    expect(() => groupAffineParams(q)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_QUANTIZER' }));
  });

  it.each<[Distribution, number, number]>([['gaussian', 33, 200], ['laplace', 64, 64], ['outliers', 7, 1100], ['uniform', 40, 96]])(
    'round trip of indices and exception values: %s %i×%i', (dist, rows, cols) => {
      const w = weights(rows * cols, dist, rows);
      const c = roundTrip(w, rows, cols, { symbolsPerLane: 256 });
      expect(c.stats.sqnrDb).toBeCloseTo(sqnrDb(w, dequantize(c.quantized)), 6);
    });

  it('heavy tails: a small step makes most weights exceptions, some of them large, and still round-trips', () => {
    const rows = 16, cols = 128, w = weights(rows * cols, 'laplace', 9);
    const c = roundTrip(w, rows, cols, { rate: { stepScale: 0.01 } });
    const values = c.quantized.exceptions!.values;
    expect(values.length).toBeGreaterThan(rows * cols / 2);
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(300); // Exp-Golomb excess of 8+ bits
    expect(c.stats.sqnrDb!).toBeGreaterThan(45);
  });

  it('a zero row gets step 0 and v = 0; a constant matrix and a matrix of zeros are defined', () => {
    const rows = 4, cols = 64, w = weights(rows * cols, 'gaussian', 2);
    w.fill(0, cols, 2 * cols);
    const c = roundTrip(w, rows, cols, {});
    expect(c.quantized.scales[1]).toBe(0);
    expect(Array.from(c.quantized.indices.subarray(cols, 2 * cols)).every((i) => i === ECSQ.ZERO_INDEX)).toBe(true);
    for (const dist of ['constant'] as const) {
      const k = roundTrip(weights(rows * cols, dist), rows, cols, { rate: { bits: 3 } });
      expect(e5m3Value(k.quantized.scales[0])).toBeGreaterThan(0);
      expect(k.stats.sqnrDb!).toBeGreaterThan(20); // a bits target spends its bits even where fewer would do
    }
    const zeros = roundTrip(new Float32Array(rows * cols), rows, cols, { rate: { sqnrDb: 20 } });
    expect(Array.from(zeros.quantized.scales)).toEqual([0, 0, 0, 0]);
  });

  it('rejects NaN weights, a rate target for another quantizer and bad targets, with typed errors', () => {
    const w = weights(64 * 64, 'gaussian');
    w[77] = NaN;
    expect(() => quantize(w, 64, 64, { quantizer: 'ecsq' })).toThrow(expect.objectContaining({ code: 'NON_FINITE_WEIGHT' }));
    w[77] = 0;
    expect(() => quantize(w, 64, 64, { rate: { bits: 3 } })).toThrow(expect.objectContaining({ code: 'BAD_RATE_TARGET' }));
    for (const rate of [{ bits: NaN }, { bits: -1 }, { sqnrDb: Infinity }, { stepScale: 0 }, { match: 'q4-g16' }, {}]) {
      expect(() => quantize(w, 64, 64, { quantizer: 'ecsq', rate: rate as never })).toThrow(InvalidInputError);
    }
  });

  it('refuses a matrix of 2^32 weights or more before allocating anything', () => {
    expect(() => new MatrixQuantizer(2 ** 16, 2 ** 16, { quantizer: 'ecsq' })).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }));
  });

  it('a bits target below what the stream metadata alone takes is RATE_UNREACHABLE, as is an SQNR no step reaches', () => {
    const w = weights(64 * 64, 'gaussian');
    expect(() => quantize(w, 64, 64, { quantizer: 'ecsq', rate: { bits: 0.05 } })).toThrow(expect.objectContaining({ code: 'RATE_UNREACHABLE' }));
    expect(() => quantize(w, 64, 64, { quantizer: 'ecsq', rate: { sqnrDb: 140 } })).toThrow(expect.objectContaining({ code: 'RATE_UNREACHABLE' }));
  });

  it('streaming (rows added in blocks after a scan) equals the whole-matrix quantizer bit for bit', () => {
    const rows = 48, cols = 96, w = weights(rows * cols, 'laplace', 4);
    const whole = quantize(w, rows, cols, { quantizer: 'ecsq', rate: { bits: 3.5 } });
    const mq = new MatrixQuantizer(rows, cols, { quantizer: 'ecsq', rate: { bits: 3.5 } });
    for (let r = 0; r < rows; r += 10) mq.scanRange(w.subarray(r * cols, Math.min(rows, r + 10) * cols));
    for (let r = 0; r < rows; r += 7) mq.addRows(w.subarray(r * cols, Math.min(rows, r + 7) * cols));
    const q = mq.result();
    expect(firstMismatch(q.indices, whole.indices)).toBe(-1);
    expect(Array.from(q.scales)).toEqual(Array.from(whole.scales));
    expect(Array.from(q.exceptions!.positions)).toEqual(Array.from(whole.exceptions!.positions));
    expect(Array.from(q.exceptions!.values)).toEqual(Array.from(whole.exceptions!.values));
    expect(q.exceptions!.values.length).toBeGreaterThan(0);
  });
});

describe('ecsq rate control', () => {
  const rows = 256, cols = 1024;
  const gauss = weights(rows * cols, 'gaussian', 11);
  const matrix = { name: 'g', rows, cols, kind: 'float' as const, weights: gauss };

  it.each([3.2, 3.6, 4.0, 4.5])('--bits %f: all-in bits/weight within 0.02 of the target', (bits) => {
    const c = compressMatrix(matrix, { quantizer: 'ecsq', rate: { bits } });
    expect(Math.abs(allIn(c) - bits)).toBeLessThan(0.02);
  });

  it('heavy tails (1 % outliers at 20σ) and another layout: within 0.02', () => {
    const w = weights(rows * cols, 'outliers', 5);
    const c = compressMatrix({ ...matrix, weights: w }, { quantizer: 'ecsq', rate: { bits: 3.7 }, symbolsPerLane: 512, lanesPerTile: 64 });
    expect(Math.abs(allIn(c) - 3.7)).toBeLessThan(0.02);
  });

  it('--sqnr reaches the SQNR within 0.05 dB, and match q4-g64 its SQNR at fewer bits', () => {
    const c = compressMatrix(matrix, { quantizer: 'ecsq', rate: { sqnrDb: 23 } });
    expect(Math.abs(c.stats.sqnrDb! - 23)).toBeLessThan(0.05);
    const q4 = compressMatrix(matrix, { quantizer: 'affine', groupSize: 64 });
    const e = compressMatrix(matrix, { quantizer: 'ecsq', rate: { match: 'q4-g64' } });
    expect(Math.abs(e.stats.sqnrDb! - q4.stats.sqnrDb!)).toBeLessThan(0.05);
    expect(allIn(e)).toBeLessThan(allIn(q4) - 0.35);
  });

  it('the prediction matches what the quantizer measures', () => {
    const stats = new EcsqStats(rows, cols, null);
    stats.addRows(gauss, 0);
    const g = chooseGeometry(rows, cols, 64);
    const p = stats.predict(0.3, g);
    const c = compressMatrix(matrix, { quantizer: 'ecsq', rate: { stepScale: 0.3 } });
    expect(Math.abs(p.sqnrDb - c.stats.sqnrDb!)).toBeLessThan(0.02);
    expect(Math.abs(p.bitsPerWeight - allIn(c))).toBeLessThan(0.01);
  });
});

describe('E5M3 row steps', () => {
  it('are exact f32 values, increasing with the code, and the encoder rounds to the nearest', () => {
    for (let c = 1; c < 256; c++) {
      expect(e5m3Value(c)).toBeGreaterThan(e5m3Value(c - 1));
      expect(Math.fround(e5m3Value(c))).toBe(e5m3Value(c));
      expect(toE5m3(e5m3Value(c))).toBe(c);
      if (c < 255) expect(toE5m3((e5m3Value(c) * 3 + e5m3Value(c + 1)) / 4)).toBe(c);
    }
    expect([toE5m3(0), toE5m3(-1), toE5m3(1e-12), toE5m3(1e9)]).toEqual([0, 0, 1, 255]);
    expect(e5m3Value(255)).toBe(1920);
  });
});

describe('exception lists', () => {
  it('cost a sign and an Exp-Golomb excess each, plus Exp-Golomb gaps of the best order', () => {
    expect([8, -9, 9, -10, 10, 12, -12].map(valueBits)).toEqual([2, 2, 4, 4, 4, 6, 6]);
    expect(expectedGapBits(0.02)).toBeGreaterThan(6.5);
    expect(expectedGapBits(0.02)).toBeLessThan(7.5); // H(0.02)/0.02 ≈ 7.07 is the bound
    const rows = 8, cols = 256, w = weights(rows * cols, 'gaussian', 5);
    const c = compressMatrix({ name: 'w', rows, cols, kind: 'float', weights: w }, { quantizer: 'ecsq', rate: { stepScale: 0.3 } });
    expect(c.encoded.exceptions!.gapBits).toBeGreaterThan(2); // gaps of ≈ 70 weights
  });

  it('refuse exceptions out of order, out of the matrix, or inside [−8, 7]', () => {
    const rows = 4, cols = 64;
    const q = quantize(weights(rows * cols, 'outliers', 2), rows, cols, { quantizer: 'ecsq', rate: { stepScale: 0.1 } });
    const g = chooseGeometry(rows, cols, 64);
    const { positions, values } = q.exceptions!;
    expect(positions.length).toBeGreaterThan(2);
    expect(() => laneExceptions(g, { positions, values: values.subarray(1) })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => laneExceptions(g, { positions: positions.slice().reverse(), values })).toThrow(expect.objectContaining({ code: 'BAD_EXCEPTION' }));
    expect(() => laneExceptions(g, { positions, values: values.map(() => 7) })).toThrow(expect.objectContaining({ code: 'BAD_EXCEPTION' }));
    expect(() => laneExceptions(g, { positions: Uint32Array.of(rows * cols), values: Int32Array.of(9) })).toThrow(expect.objectContaining({ code: 'BAD_EXCEPTION' }));
  });

  it('a corrupt list is a StreamError, never an endless or out-of-bounds read', () => {
    const rows = 32, cols = 128;
    const c = compressMatrix({ name: 'w', rows, cols, kind: 'float', weights: weights(rows * cols, 'laplace', 6) }, { quantizer: 'ecsq', rate: { stepScale: 0.2 } });
    const { geometry: g, exceptions } = c.encoded;
    const indices = c.quantized.indices;
    const lane = exceptions!.counts.findIndex((n) => n > 1);
    const shortened = { ...exceptions!, counts: exceptions!.counts.slice() };
    shortened.counts[lane]--;
    expect(() => decodeExceptions(g, shortened, indices)).toThrow(StreamError);
    const moved = { ...exceptions!, counts: exceptions!.counts.slice() };
    moved.counts[lane]--; moved.counts[lane + 1]++;
    expect(() => decodeExceptions(g, moved, indices)).toThrow(expect.objectContaining({ code: 'BAD_EXCEPTIONS' }));
    expect(() => decodeExceptions(g, { ...exceptions!, bits: exceptions!.bits.subarray(1) }, indices)).toThrow(StreamError);
    expect(() => decodeExceptions(g, { ...exceptions!, bits: exceptions!.bits.map(() => 0) }, indices)).toThrow(StreamError);
    expect(() => decodeExceptions(g, { ...exceptions!, gapBits: exceptions!.gapBits + 1 }, indices)).toThrow(StreamError);
    expect(() => exceptionStarts(g, { ...exceptions!, bits: exceptions!.bits.map(() => 0xffffffff) })).toThrow(StreamError);
    // An exception must sit on an index clamped its way: flip one such index and the check says so.
    const moved2 = indices.slice();
    const p = c.quantized.exceptions!.positions[0];
    moved2[p] = 8;
    expect(() => decodeExceptions(g, exceptions!, moved2)).toThrow(expect.objectContaining({ code: 'BAD_EXCEPTIONS' }));
  });

  it('the reference GEMV applies the exception values', () => {
    const rows = 8, cols = 64, w = weights(rows * cols, 'outliers', 8);
    const q = quantize(w, rows, cols, { quantizer: 'ecsq', rate: { stepScale: 0.25 } });
    const x = weights(cols, 'uniform', 1);
    const y = referenceMatVec(q, x), d = dequantize(q);
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) acc += d[r * cols + c] * x[c];
      expect(y[r]).toBeCloseTo(acc, 6);
    }
  });
});
