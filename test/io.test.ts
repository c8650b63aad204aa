import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeTensor, readContainer, writeContainer } from '../src/container/container.js';
import { ContainerError, InvalidInputError, RansGemvError } from '../src/errors.js';
import { loadModel, loadModelMatrices, openModel } from '../src/io/formats.js';
import { llama2cLayout, readLlama2c } from '../src/io/llama2c.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { blobSource, bytesSource } from '../src/io/source.js';
import { bundledModel } from '../src/paths.js';
import { compressEntry, compressMatrix } from '../src/pipeline.js';
import { halfToF32, toF16Bits } from '../src/quantize/half.js';
import { exportMlx } from '../src/quantize/import.js';
import { QUANTIZERS } from '../src/quantize/types.js';
import { rng, weights } from './helpers.js';

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const failure = (f: () => unknown): RansGemvError => {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(RansGemvError); return e as RansGemvError; }
  throw new Error('no error');
};
const code = (f: () => unknown) => failure(f).code;
const asyncFailure = async (p: Promise<unknown>): Promise<RansGemvError> => {
  try { await p; } catch (e) { expect(e).toBeInstanceOf(RansGemvError); return e as RansGemvError; }
  throw new Error('no error');
};

/** A safetensors file whose JSON header is `json` verbatim (data: `data` bytes of zeros). */
function rawSafetensors(json: string, data = 0): Uint8Array {
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  return out;
}

describe('llama2.c checkpoints', () => {
  const bin = new Uint8Array(readFileSync(bundledModel().model));

  it('reads the stories260K fixture: config, 36 matrices, norm weights for the container', async () => {
    expect(readLlama2c(bin).config).toEqual({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
    const { matrices, extras, layout } = await loadModel(bin, 'stories260K.bin');
    expect(layout.format).toBe('llama2c');
    expect(matrices.length).toBe(36);
    expect(matrices.find((t) => t.name === 'layers.4.w2')).toMatchObject({ rows: 64, cols: 172 });
    expect(matrices.find((t) => t.name === 'layers.0.wk')).toMatchObject({ rows: 32, cols: 64 });
    expect(extras.raw!.map((r) => [r.name, r.shape])).toEqual([['rms_att', [5, 64]], ['rms_ffn', [5, 64]], ['rms_final', [64]]]);
    expect(extras.raw![2].data).toEqual(readLlama2c(bin).rmsFinal);
  });

  it('rejects a checkpoint whose header disagrees with its size or is out of range', async () => {
    expect(code(() => readLlama2c(bin.subarray(0, bin.length - 4)))).toBe('BAD_SIZE');
    const lying = bin.slice();
    new DataView(lying.buffer).setInt32(4, 1000, true); // hidden_dim
    expect(code(() => readLlama2c(lying))).toBe('BAD_SIZE');
    expect(code(() => readLlama2c(bin.subarray(0, 10)))).toBe('TRUNCATED');
    const seq = bin.slice(0, 28);
    new DataView(seq.buffer).setInt32(24, 2 ** 30, true); // seq_len far beyond any model
    const e = failure(() => llama2cLayout(seq, 1e12, 'big.bin'));
    expect(e.code).toBe('BAD_HEADER');
    expect(e.message).toContain('big.bin');
    expect((await asyncFailure(loadModelMatrices(new Uint8Array(64)))).code).toBe('UNKNOWN_FORMAT');
  });

  it('a NaN norm weight is a typed error naming the file and the tensor', async () => {
    const bad = bin.slice();
    const { arrays } = llama2cLayout(bad, bad.length);
    new DataView(bad.buffer).setFloat32(arrays.rmsFfn[2].offset + 8, NaN, true);
    const e = await asyncFailure(loadModel(bad, 'nan.bin'));
    expect(e.code).toBe('NON_FINITE_WEIGHT');
    expect(e.message).toMatch(/nan\.bin: rms_ffn: value \[130\] is NaN/);
  });
});

describe('safetensors', () => {
  it('reads F32, F16 and BF16 matrices and lists what it skips (1-D, 3-D, integer)', async () => {
    const w = weights(6 * 8, 'gaussian', 3);
    const f16 = Uint16Array.from(w, toF16Bits);
    const bf16 = Uint16Array.from(new Uint32Array(w.buffer), (b) => b >>> 16);
    const file = writeSafetensors([
      { name: 'a', dtype: 'F32', shape: [6, 8], bytes: bytesOf(w) },
      { name: 'b', dtype: 'F16', shape: [6, 8], bytes: bytesOf(f16) },
      { name: 'c', dtype: 'BF16', shape: [6, 8], bytes: bytesOf(bf16) },
      { name: 'norm', dtype: 'F32', shape: [8], bytes: bytesOf(new Float32Array(8)) },
      { name: 'conv', dtype: 'F32', shape: [2, 2, 2], bytes: bytesOf(new Float32Array(8)) },
      { name: 'ids', dtype: 'U32', shape: [2, 4], bytes: bytesOf(new Uint32Array(8)) },
    ]);
    const { matrices: m, layout } = await loadModel(file);
    expect(m.map((t) => t.name)).toEqual(['a', 'b', 'c']);
    expect(layout.skipped.map((t) => [t.name, t.reason])).toEqual([['norm', '1-D'], ['conv', '3-D'], ['ids', 'dtype U32']]);
    const get = (i: number) => (m[i].kind === 'float' ? m[i].weights : new Float32Array());
    expect(Array.from(get(0))).toEqual(Array.from(w));
    expect(get(1)).toEqual(halfToF32(f16, 'f16'));
    for (let i = 0; i < w.length; i++) {
      expect(get(1)[i]).toBeCloseTo(w[i], 4);
      expect(get(2)[i]).toBeCloseTo(w[i], 2);
    }
  });

  it('imports MLX 4-bit weights losslessly through a container: bytes in → same bytes out', async () => {
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
    const [m] = await loadModelMatrices(file);
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

  it('rejects MLX group sizes the kernels cannot use (g4) at import, naming the tensor', async () => {
    const rows = 2, cols = 16;
    const file = writeSafetensors([
      { name: 'q.weight', dtype: 'U32', shape: [rows, cols / 8], bytes: new Uint8Array(rows * cols / 2) },
      { name: 'q.scales', dtype: 'F16', shape: [rows, cols / 4], bytes: new Uint8Array(rows * cols / 2) },
      { name: 'q.biases', dtype: 'F16', shape: [rows, cols / 4], bytes: new Uint8Array(rows * cols / 2) },
    ]);
    const e = await asyncFailure(loadModel(file, 'g4.safetensors'));
    expect(e.code).toBe('UNSUPPORTED_GROUP_SIZE');
    expect(e.message).toContain('g4.safetensors: q: MLX group size 4');
  });

  it('every hostile header gets a typed error naming the file (and tensor)', async () => {
    const good = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [2, 2], bytes: new Uint8Array(16) }]);
    const cases: [string, Uint8Array, string, RegExp][] = [
      ['data cut short', good.subarray(0, good.length - 1), 'BAD_OFFSET', /f\.st: a: data_offsets/],
      ['size lies', writeSafetensors([{ name: 'a', dtype: 'F32', shape: [4, 2], bytes: new Uint8Array(16) }]), 'BAD_SIZE', /a: data_offsets \[0, 16\) hold 16 bytes, F32\[4, 2\] needs 32/],
      ['not JSON', rawSafetensors('{"a": !}'), 'BAD_HEADER', /not valid UTF-8 JSON/],
      ['header length past the end', (() => { const b = good.slice(); new DataView(b.buffer).setBigUint64(0, 5000n, true); return b; })(), 'TRUNCATED', /header claims 5000 bytes/],
      ['a JSON array', rawSafetensors('[{"a": 1}]'), 'BAD_HEADER', /not a JSON object/],
      ['a null entry', rawSafetensors('{"w": null}'), 'BAD_HEADER', /w: entry is null/],
      ['a string entry', rawSafetensors('{"w": "x"}'), 'BAD_HEADER', /w: entry is string/],
      ['unknown dtype', rawSafetensors('{"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 1]}}', 8), 'BAD_DTYPE', /w: unknown dtype "F12"/],
      ['offsets not a pair', rawSafetensors('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}', 8), 'BAD_HEADER', /w: data_offsets/],
      ['negative dimension', rawSafetensors('{"w": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}}', 8), 'BAD_HEADER', /w: shape/],
      ['overlapping tensors', rawSafetensors('{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}}', 24), 'BAD_OFFSET', /b: data overlaps tensor 'a'/],
      ['no 2-D tensor', writeSafetensors([{ name: 'norm', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) }]), 'NO_MATRICES', /no 2-D .* \(1 skipped: norm \[4\] F32: 1-D\)/],
    ];
    for (const [what, file, want, message] of cases) {
      const e = await asyncFailure(loadModel(file, 'f.st'));
      expect(e.code, what).toBe(want);
      expect(e.message, what).toMatch(message);
      expect(e.message, what).toContain('f.st');
    }
  });

  it('a NaN weight is reported with the file, tensor and position', async () => {
    const w = new Float32Array(12); w[7] = NaN;
    const file = writeSafetensors([{ name: 'layers.3.wq', dtype: 'F32', shape: [3, 4], bytes: bytesOf(w) }]);
    const reader = await openModel(bytesSource(file, 'nan.safetensors'));
    const e = await asyncFailure(compressEntry(reader.source, reader.matrices[0]));
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.code).toBe('NON_FINITE_WEIGHT');
    expect(e.message).toBe('nan.safetensors: layers.3.wq: weight [1, 3] is NaN');
  });

  it('weights all below f16\'s normal range give a warning, not silence', () => {
    const w = Float32Array.from(weights(64 * 64, 'gaussian', 4), (v) => v * 1e-6);
    const c = compressMatrix({ name: 'tiny', rows: 64, cols: 64, kind: 'float', weights: w });
    expect(c.warnings.join()).toMatch(/tiny: every weight is below f16's normal range/);
    expect(compressMatrix({ name: 'ok', rows: 64, cols: 64, kind: 'float', weights: weights(64 * 64, 'gaussian', 4) }).warnings).toEqual([]);
  });
});

describe('streaming reads', () => {
  const rows = 37, cols = 96;
  const w = weights(rows * cols, 'laplace', 11);
  const f16 = Uint16Array.from(w, toF16Bits);
  const bf16 = Uint16Array.from(new Uint32Array(w.buffer), (b) => b >>> 16);
  const file = writeSafetensors([
    { name: 'f32', dtype: 'F32', shape: [rows, cols], bytes: bytesOf(w) },
    { name: 'f16', dtype: 'F16', shape: [rows, cols], bytes: bytesOf(f16) },
    { name: 'bf16', dtype: 'BF16', shape: [rows, cols], bytes: bytesOf(bf16) },
  ]);

  it('compressEntry block by block equals compressMatrix on the whole matrix, for every dtype, quantizer and block size', async () => {
    const whole = await loadModelMatrices(file);
    const reader = await openModel(bytesSource(file, 'model.safetensors'));
    expect(reader.weights).toBe(3 * rows * cols);
    for (const quantizer of QUANTIZERS) {
      for (const [i, entry] of reader.matrices.entries()) {
        const ref = compressMatrix(whole[i], { quantizer, groupSize: 32 });
        for (const chunkBytes of [1, 4 * cols * 5, 1 << 20]) { // one row, five rows, everything
          const progress: number[] = [];
          const c = await compressEntry(reader.source, entry, { quantizer, groupSize: 32 }, (f) => progress.push(f), chunkBytes);
          expect(c.quantized, `${entry.name} ${quantizer} ${chunkBytes}`).toEqual(ref.quantized);
          expect(c.encoded).toEqual(ref.encoded);
          expect(c.stats).toEqual(ref.stats);
          expect(progress.at(-1)).toBe(1);
          expect(progress).toEqual([...progress].sort((a, b) => a - b));
        }
      }
    }
  });

  it('reads a Blob (a browser File) the same way, in slices', async () => {
    const blob = new Blob([file.slice().buffer]);
    const slices: number[] = [];
    const source = blobSource(blob, 'upload.safetensors');
    const counting = { ...source, read: (o: number, n: number) => { slices.push(n); return source.read(o, n); } };
    const reader = await openModel(counting);
    expect(reader.matrices.map((m) => m.name)).toEqual(['f32', 'f16', 'bf16']);
    const c = await compressEntry(counting, reader.matrices[1], {}, undefined, 2 * cols * 8);
    expect(c.quantized).toEqual(compressMatrix((await loadModelMatrices(file))[1]).quantized);
    expect(Math.max(...slices)).toBeLessThanOrEqual(2 * cols * 8);
    await expect(source.read(file.length - 2, 4)).rejects.toBeInstanceOf(ContainerError);
  });

  it('a file with many tiny tensors opens quickly, each listed', async () => {
    const n = 20000;
    const json: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) json[`t${i}`] = { dtype: 'F32', shape: [i % 2 ? 1 : 2, 2], data_offsets: [16 * i, 16 * i + (i % 2 ? 8 : 16)] };
    const reader = await openModel(bytesSource(rawSafetensors(JSON.stringify(json), 16 * n), 'many.safetensors'));
    expect(reader.matrices.length).toBe(n);
  });
});
