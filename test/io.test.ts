import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeTensor, readContainer, writeContainer } from '../src/container/container.js';
import { ContainerError } from '../src/errors.js';
import { llama2cMatrices, readLlama2c } from '../src/io/llama2c.js';
import { loadModelMatrices } from '../src/io/load.js';
import { safetensorsMatrices, writeSafetensors } from '../src/io/safetensors.js';
import { bundledModel } from '../src/paths.js';
import { compressMatrix } from '../src/pipeline.js';
import { toF16Bits } from '../src/quantize/half.js';
import { exportMlx } from '../src/quantize/import.js';
import { rng, weights } from './helpers.js';

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const code = (f: () => unknown) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(ContainerError); return (e as ContainerError).code; } return 'no error'; };

describe('llama2.c checkpoints', () => {
  const bin = new Uint8Array(readFileSync(bundledModel().model));

  it('reads the stories260K fixture: config and 36 matrices', () => {
    const ck = readLlama2c(bin);
    expect(ck.config).toEqual({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
    const m = llama2cMatrices(ck);
    expect(m.length).toBe(36);
    expect(m.find((t) => t.name === 'layers.4.w2')).toMatchObject({ rows: 64, cols: 172 });
    expect(m.find((t) => t.name === 'layers.0.wk')).toMatchObject({ rows: 32, cols: 64 });
  });

  it('rejects a checkpoint whose header disagrees with its size', () => {
    expect(code(() => readLlama2c(bin.subarray(0, bin.length - 4)))).toBe('BAD_SIZE');
    const lying = bin.slice();
    new DataView(lying.buffer).setInt32(4, 1000, true); // hidden_dim
    expect(code(() => readLlama2c(lying))).toBe('BAD_SIZE');
    expect(code(() => readLlama2c(bin.subarray(0, 10)))).toBe('TRUNCATED');
    expect(code(() => loadModelMatrices(new Uint8Array(64)))).toBe('UNKNOWN_FORMAT');
  });
});

describe('safetensors', () => {
  it('reads F32, F16 and BF16 matrices and skips 1-D tensors', () => {
    const w = weights(6 * 8, 'gaussian', 3);
    const f16 = Uint16Array.from(w, toF16Bits);
    const bf16 = Uint16Array.from(new Uint32Array(w.buffer), (b) => b >>> 16);
    const file = writeSafetensors([
      { name: 'a', dtype: 'F32', shape: [6, 8], bytes: bytesOf(w) },
      { name: 'b', dtype: 'F16', shape: [6, 8], bytes: bytesOf(f16) },
      { name: 'c', dtype: 'BF16', shape: [6, 8], bytes: bytesOf(bf16) },
      { name: 'norm', dtype: 'F32', shape: [8], bytes: bytesOf(new Float32Array(8)) },
    ]);
    const m = safetensorsMatrices(file);
    expect(m.map((t) => t.name)).toEqual(['a', 'b', 'c']);
    const get = (i: number) => (m[i].kind === 'float' ? m[i].weights : new Float32Array());
    expect(Array.from(get(0))).toEqual(Array.from(w));
    for (let i = 0; i < w.length; i++) {
      expect(get(1)[i]).toBeCloseTo(w[i], 4);
      expect(get(2)[i]).toBeCloseTo(w[i], 2);
    }
  });

  it('imports MLX 4-bit weights losslessly through a container: bytes in → same bytes out', () => {
    const r = rng(21);
    const rows = 16, cols = 128, groupSize = 32;
    const weight = Uint32Array.from({ length: (rows * cols) / 8 }, () => (Math.floor(r() * 16) * 0x11111111) ^ Math.floor(r() * 2 ** 32) & 0x0f0f0f0f);
    const scales = Uint16Array.from({ length: rows * 4 }, () => Math.floor(r() * 0x3c00));
    const biases = Uint16Array.from({ length: rows * 4 }, () => Math.floor(r() * 0xbc00));
    const file = writeSafetensors([
      { name: 'model.q_proj.weight', dtype: 'U32', shape: [rows, cols / 8], bytes: bytesOf(weight) },
      { name: 'model.q_proj.scales', dtype: 'BF16', shape: [rows, cols / groupSize], bytes: bytesOf(scales) },
      { name: 'model.q_proj.biases', dtype: 'BF16', shape: [rows, cols / groupSize], bytes: bytesOf(biases) },
    ]);
    const [m] = loadModelMatrices(file);
    expect(m.kind).toBe('quantized');
    const c = compressMatrix(m);
    expect(c.stats.sqnrDb).toBeNull();
    const [back] = readContainer(writeContainer([c])).map(decodeTensor);
    const mlx = exportMlx(back);
    expect(mlx.paramType).toBe('bf16');
    expect(mlx.weight).toEqual(weight);
    expect(mlx.scales).toEqual(scales);
    expect(mlx.biases).toEqual(biases);
  });

  it('rejects lying offsets, bad JSON and truncation', () => {
    const good = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [2, 2], bytes: new Uint8Array(16) }]);
    expect(code(() => safetensorsMatrices(good.subarray(0, good.length - 1)))).toBe('BAD_SIZE');
    const lying = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [4, 2], bytes: new Uint8Array(16) }]);
    expect(code(() => safetensorsMatrices(lying))).toBe('BAD_SIZE');
    const bad = good.slice(); bad[9] = 0x21;
    expect(code(() => safetensorsMatrices(bad))).toBe('BAD_HEADER');
    const long = good.slice(); new DataView(long.buffer).setBigUint64(0, 1n << 40n, true);
    expect(code(() => safetensorsMatrices(long))).toBe('TRUNCATED');
  });
});
