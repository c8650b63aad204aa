import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/errors.js';
import { fromF16Bits, toF16Bits } from '../src/quantize/half.js';
import { exportMlx, exportQ4_0, importMlx, importQ4_0, packNibbles } from '../src/quantize/import.js';
import { dequantize, quantize, sqnrDb } from '../src/quantize/quantize.js';
import { groupsPerRow } from '../src/quantize/types.js';
import { rng, weights } from './helpers.js';

describe('quantize', () => {
  it('affine g64 on Gaussian weights gives ≈ 21 dB and uses all 16 levels', () => {
    const w = weights(256 * 256, 'gaussian');
    const q = quantize(w, 256, 256);
    expect(q.quantizer).toBe('affine');
    expect(q.groupSize).toBe(64);
    expect(q.scales.length).toBe(256 * 4);
    const db = sqnrDb(w, dequantize(q));
    expect(db).toBeGreaterThan(19.5);
    expect(db).toBeLessThan(23);
    expect(new Set(q.indices).size).toBe(16);
  });

  it('reconstructs each group\'s min and max exactly up to f16 rounding', () => {
    const w = weights(64, 'gaussian', 3);
    const q = quantize(w, 1, 64);
    const d = dequantize(q);
    const lo = Math.min(...w), hi = Math.max(...w);
    expect(Math.min(...d)).toBeCloseTo(lo, 3);
    expect(Math.max(...d)).toBeCloseTo(hi, 3);
    for (let i = 0; i < 64; i++) expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual(fromF16Bits(q.scales[0]) * 0.5 + 1e-4);
  });

  it('quality ranks g32 > g64 > g128 > per-tensor', () => {
    const w = weights(128 * 512, 'gaussian', 5);
    const db = (o: Parameters<typeof quantize>[3]) => sqnrDb(w, dequantize(quantize(w, 128, 512, o)));
    const g32 = db({ groupSize: 32 }), g64 = db({ groupSize: 64 }), g128 = db({ groupSize: 128 });
    const pt = db({ quantizer: 'per-tensor' });
    expect(g32).toBeGreaterThan(g64);
    expect(g64).toBeGreaterThan(g128);
    expect(g128).toBeGreaterThan(pt + 3);
  });

  it('symmetric follows llama.cpp Q4_0: d = max/−8, q = min(15, ⌊w/d + 8.5⌋)', () => {
    const w = Float32Array.from({ length: 32 }, (_, i) => (i - 10) / 10); // max |w| = 2.1 at i = 31
    const q = quantize(w, 1, 32, { quantizer: 'symmetric', groupSize: 32 });
    const d = Math.fround(2.1 / -8);
    expect(q.scales[0]).toBe(toF16Bits(d));
    expect(q.biases).toBeNull();
    for (let i = 0; i < 32; i++) expect(q.indices[i]).toBe(Math.min(15, Math.floor(Math.fround(Math.fround(w[i] * Math.fround(1 / d)) + 8.5))));
    expect(q.indices[31]).toBe(0); // the extreme maps to −8
  });

  it('ragged rows end in a shorter group', () => {
    const cols = 6625, rows = 3;
    const w = weights(rows * cols, 'laplace', 7);
    const q = quantize(w, rows, cols, { groupSize: 128 });
    expect(q.scales.length).toBe(rows * groupsPerRow(cols, 128));
    expect(groupsPerRow(cols, 128)).toBe(52);
    // the last group (97 weights) has its own min/max: its max reconstructs closely
    const tail = w.subarray(cols - 97, cols);
    const d = dequantize(q).subarray(cols - 97, cols);
    expect(Math.max(...d)).toBeCloseTo(Math.max(...tail), 3);
  });

  it('a constant matrix is one symbol and reconstructs exactly', () => {
    const q = quantize(weights(64 * 64, 'constant'), 64, 64);
    expect(new Set(q.indices)).toEqual(new Set([0]));
    expect(Array.from(new Set(dequantize(q)))).toEqual([0.125]);
  });

  it.each([
    ['NaN', NaN, 'NON_FINITE_WEIGHT'], ['Infinity', Infinity, 'NON_FINITE_WEIGHT'],
    ['-Infinity', -Infinity, 'NON_FINITE_WEIGHT'], ['1e6', 1e6, 'WEIGHT_OUT_OF_RANGE'],
  ])('rejects a %s weight with a typed error naming it', (_, v, code) => {
    const w = weights(64, 'gaussian');
    w[37] = v;
    expect(() => quantize(w, 2, 32, { groupSize: 32 })).toThrowError(expect.objectContaining({ code, message: expect.stringContaining('[1, 5]') }));
  });

  it('rejects empty, mismatched and unsupported shapes and options', () => {
    const w = weights(64, 'gaussian');
    const err = (f: () => unknown, code: string) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(InvalidInputError); expect((e as InvalidInputError).code).toBe(code); return; } throw new Error('no error'); };
    err(() => quantize(new Float32Array(0), 0, 0), 'BAD_SHAPE');
    err(() => quantize(w, 8, 9), 'SHAPE_MISMATCH');
    err(() => quantize(w, 1, 64, { groupSize: 48 }), 'BAD_GROUP_SIZE');
    err(() => quantize(w, 1, 64, { quantizer: 'nf4' as never }), 'BAD_QUANTIZER');
  });
});

describe('lossless import', () => {
  it('MLX bytes in → the same bytes out (f16 and bf16 parameters)', () => {
    for (const paramType of ['f16', 'bf16'] as const) {
      const r = rng(11);
      const rows = 24, cols = 256, groupSize = 64;
      const weight = Uint32Array.from({ length: (rows * cols) / 8 }, () => Math.floor(r() * 2 ** 32));
      const scales = Uint16Array.from({ length: rows * 4 }, () => Math.floor(r() * 0x7bff));
      const biases = Uint16Array.from({ length: rows * 4 }, () => Math.floor(r() * 0xffff));
      const q = importMlx({ rows, cols, groupSize, weight, scales, biases, paramType });
      expect(q.paramType).toBe(paramType);
      const back = exportMlx(q);
      expect(back.weight).toEqual(weight);
      expect(back.scales).toEqual(scales);
      expect(back.biases).toEqual(biases);
      // index k of a row is nibble k%8 of word k/8
      expect(q.indices[9]).toBe((weight[1] >>> 4) & 15);
    }
  });

  it('Q4_0 blocks in → the same blocks out, and they dequantize as d·(q − 8)', () => {
    const r = rng(12);
    const rows = 5, cols = 96;
    const blocks = Uint8Array.from({ length: (rows * cols / 32) * 18 }, () => Math.floor(r() * 256));
    for (let b = 0; b < rows * cols / 32; b++) blocks[b * 18 + 1] &= 0x3b; // keep d finite
    const q = importQ4_0(blocks, rows, cols);
    expect(exportQ4_0(q)).toEqual(blocks);
    const d = fromF16Bits(blocks[0] | (blocks[1] << 8));
    expect(dequantize(q)[17]).toBeCloseTo(d * ((blocks[2 + 1] >>> 4) - 8), 6);
  });

  it('our symmetric g32 quantizer exports to Q4_0 and re-imports identically', () => {
    const w = weights(4 * 64, 'gaussian', 13);
    const q = quantize(w, 4, 64, { quantizer: 'symmetric', groupSize: 32 });
    const again = importQ4_0(exportQ4_0(q), 4, 64);
    expect(again.indices).toEqual(q.indices);
    expect(again.scales).toEqual(q.scales);
  });

  it('packNibbles matches the MLX word layout', () => {
    const idx = Uint8Array.from({ length: 10 }, (_, i) => i + 3);
    expect(Array.from(packNibbles(idx, 1, 10))).toEqual([0xa9876543, 0xcb]);
  });

  it('rejects mis-sized imports', () => {
    expect(() => importQ4_0(new Uint8Array(17), 1, 32)).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => importMlx({ rows: 1, cols: 60, groupSize: 64, weight: new Uint32Array(8), scales: new Uint16Array(1), biases: new Uint16Array(1), paramType: 'f16' }))
      .toThrowError(expect.objectContaining({ code: 'BAD_SHAPE' }));
  });
});
