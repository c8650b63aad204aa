import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeTensor, readContainer, writeContainer } from '../src/container/container.js';
import { llama2cMatrices } from '../src/io/llama2c.js';
import { bundledModel } from '../src/paths.js';
import { compressMatrix, totalStats } from '../src/pipeline.js';
import { dequantize } from '../src/quantize/quantize.js';
import { referenceMatVec } from '../src/reference.js';
import { firstMismatch, rng } from './helpers.js';

describe('stories260K end to end', () => {
  const matrices = llama2cMatrices(new Uint8Array(readFileSync(bundledModel().model)));

  it.each([32, 64, 128])('g%i: container round trip is bit-exact, size ≤ entropy × 1.03', (groupSize) => {
    const compressed = matrices.map((m) => compressMatrix(m, { groupSize }));
    const total = totalStats(compressed);
    expect(total.bitsPerWeight).toBeLessThanOrEqual(total.entropyBits * 1.03);
    const back = readContainer(writeContainer(compressed)).map(decodeTensor);
    back.forEach((q, i) => expect(firstMismatch(q.indices, compressed[i].quantized.indices)).toBe(-1));
  });

  it('reference GEMV equals the dense product of the dequantized matrix (M = 1 and 3)', () => {
    const q = compressMatrix(matrices.find((m) => m.name === 'layers.2.w2')!).quantized;
    const w = dequantize(q);
    const r = rng(5);
    const x = Float32Array.from({ length: 3 * q.cols }, () => r() * 2 - 1);
    const y = referenceMatVec(q, x);
    for (let v = 0; v < 3; v++) {
      for (let row = 0; row < q.rows; row++) {
        let acc = 0;
        for (let c = 0; c < q.cols; c++) acc += w[row * q.cols + c] * x[v * q.cols + c];
        expect(y[v * q.rows + row]).toBeCloseTo(acc, 5);
      }
    }
    expect(referenceMatVec(q, x.subarray(0, q.cols)).length).toBe(q.rows);
    expect(() => referenceMatVec(q, x.subarray(0, 5))).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
  });
});
