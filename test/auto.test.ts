import { describe, expect, it } from 'vitest';
import { checkCalibration, chooseMode, type Calibration } from '../src/gpu/auto.js';

const cal = (entries: Calibration['entries']): Calibration => ({ device: 'synthetic', entries });

describe("mode: 'auto' decision rule", () => {
  const mixed = cal([
    { rows: 4096, cols: 4096, vectors: 1, fusedMs: 0.9, q4Ms: 1.0 },   // fused wins on big M = 1
    { rows: 1024, cols: 4096, vectors: 1, fusedMs: 0.5, q4Ms: 0.3 },   // loses on small shapes
    { rows: 4096, cols: 4096, vectors: 8, fusedMs: 3.0, q4Ms: 1.5 },   // loses at M = 8
  ]);

  it('picks fused where the calibration says fused is no slower', () => {
    expect(chooseMode(mixed, 4096, 4096, 1, false)).toBe('fused');
    expect(chooseMode(mixed, 14336, 4096, 1, false)).toBe('fused'); // nearest size is 4096²
  });

  it('picks decode-then-q4, or q4 when host nibbles exist, where q4 is faster', () => {
    expect(chooseMode(mixed, 1024, 4096, 1, false)).toBe('decode-then-q4');
    expect(chooseMode(mixed, 1000, 4000, 1, true)).toBe('q4');
  });

  it('matches the batch size first: M = 6 uses the M = 8 entries', () => {
    expect(chooseMode(mixed, 4096, 4096, 6, false)).toBe('decode-then-q4');
    expect(chooseMode(mixed, 4096, 4096, 2, false)).toBe('fused');
  });

  it('falls back to fused without a calibration, and ties go to fused', () => {
    expect(chooseMode(undefined, 64, 64, 1, true)).toBe('fused');
    expect(chooseMode(cal([]), 64, 64, 1, true)).toBe('fused');
    expect(chooseMode(cal([{ rows: 64, cols: 64, vectors: 1, fusedMs: 2, q4Ms: 2 }]), 64, 64, 1, true)).toBe('fused');
  });

  it('rejects malformed calibrations', () => {
    expect(() => checkCalibration(cal([{ rows: 64, cols: 64, vectors: 1, fusedMs: -1, q4Ms: 2 }]))).toThrowError(expect.objectContaining({ code: 'BAD_CALIBRATION' }));
    expect(() => checkCalibration({ device: 'x' } as Calibration)).toThrowError(expect.objectContaining({ code: 'BAD_CALIBRATION' }));
  });
});
