import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTensor, readContainer } from '../src/container/container.js';
import { RansGemvError } from '../src/errors.js';
import { openModel } from '../src/io/formats.js';
import { mlcFilesSource } from '../src/io/mlc.js';
import { bytesSource, concatSource } from '../src/io/source.js';
import { encodeModelFile } from '../src/node/encode.js';
import { modelSource } from '../src/node/file.js';
import { halfToF32, toF16Array } from '../src/quantize/half.js';
import { exportMlcQ4 } from '../src/quantize/import.js';
import { dequantize } from '../src/quantize/quantize.js';
import { rng, weights } from './helpers.js';

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));

/** q4f16_1 words (indices 0..14, as MLC writes them) and f16 scales for rows × cols, g32. */
function q4f16(rows: number, cols: number, seed: number) {
  const r = rng(seed);
  const weight = new Uint32Array((rows * cols) / 8);
  for (let i = 0; i < rows * cols; i++) weight[i >>> 3] |= Math.floor(r() * 15) << ((i & 7) * 4);
  const scales = toF16Array(Float32Array.from({ length: (rows * cols) / 32 }, () => 0.001 + r() * 0.01));
  return { weight, scales };
}

interface Tensor { name: string; shape: number[]; dtype: string; bytes: Uint8Array; format?: string }

/** Writes an MLC directory: shards of tensors back to back, and the index listing them. */
function writeMlc(dir: string, shards: Tensor[][], edit: (index: { records: { dataPath: string; nbytes: number; records: Record<string, unknown>[] }[] }) => void = () => {}) {
  mkdirSync(dir, { recursive: true });
  const index = { metadata: { ParamSize: shards.flat().length }, records: shards.map((tensors, i) => {
    let offset = 0;
    const records = tensors.map((t) => {
      const r = { name: t.name, shape: t.shape, dtype: t.dtype, format: t.format ?? 'f32-to-bf16', nbytes: t.bytes.length, byteOffset: offset };
      offset += t.bytes.length;
      return r;
    });
    const data = new Uint8Array(offset);
    let o = 0;
    for (const t of tensors) { data.set(t.bytes, o); o += t.bytes.length; }
    writeFileSync(join(dir, `params_shard_${i}.bin`), data);
    return { dataPath: `params_shard_${i}.bin`, format: 'raw-shard', nbytes: offset, records, md5sum: '' };
  }) };
  edit(index);
  writeFileSync(join(dir, 'ndarray-cache.json'), JSON.stringify(index, null, 2));
  writeFileSync(join(dir, 'mlc-chat-config.json'), JSON.stringify({ model_type: 'llama', quantization: 'q4f16_1' }));
}

const q = q4f16(24, 64, 1), k = q4f16(16, 128, 2);
const embed = toF16Array(weights(40 * 64, 'gaussian', 3));
// q's weight in shard 0 and its scales in shard 1: pairs may straddle shards.
const shards: Tensor[][] = [
  [{ name: 'model.layers.0.self_attn.q_proj.q_weight', shape: [24, 8], dtype: 'uint32', bytes: bytesOf(q.weight) }],
  [
    { name: 'model.layers.0.self_attn.q_proj.q_scale', shape: [24, 2], dtype: 'float16', bytes: bytesOf(q.scales) },
    { name: 'model.embed_tokens.weight', shape: [40, 64], dtype: 'float16', bytes: bytesOf(embed) },
    { name: 'model.layers.0.input_layernorm.weight', shape: [64], dtype: 'float16', bytes: bytesOf(new Uint16Array(64).fill(0x3c00)) },
    { name: 'model.layers.0.self_attn.k_proj.q_weight', shape: [16, 16], dtype: 'uint32', bytes: bytesOf(k.weight) },
    { name: 'model.layers.0.self_attn.k_proj.q_scale', shape: [16, 4], dtype: 'float16', bytes: bytesOf(k.scales) },
  ],
];
const root = mkdtempSync(join(tmpdir(), 'rans-gemv-mlc-'));
const model = join(root, 'tiny-q4f16_1-MLC');
writeMlc(model, shards);

/** A source with readInto, as Node's fileSource has. */
const sourceWithReadInto = (bytes: Uint8Array, name: string) => ({ ...bytesSource(bytes, name), async readInto(offset: number, target: Uint8Array) { target.set(bytes.subarray(offset, offset + target.length)); return target; } });

const failure = async (p: Promise<unknown> | (() => unknown)): Promise<RansGemvError> => {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { expect(e).toBeInstanceOf(RansGemvError); return e as RansGemvError; }
  throw new Error('no error');
};

describe('MLC / WebLLM q4f16_1 directories', () => {
  it('lists q_weight/q_scale pairs as lossless 4-bit matrices (across shards), float matrices to quantize, and skips 1-D', async () => {
    const reader = await openModel(modelSource(model));
    expect(reader.format).toBe('mlc');
    expect(reader.matrices.map((m) => [m.name, m.kind, m.rows, m.cols])).toEqual([
      ['model.layers.0.self_attn.q_proj', 'mlc', 24, 64], ['model.layers.0.self_attn.k_proj', 'mlc', 16, 128], ['model.embed_tokens.weight', 'float', 40, 64],
    ]);
    expect(reader.skipped.map((t) => [t.name, t.reason])).toEqual([['model.layers.0.input_layernorm.weight', '1-D']]);
    // The same directory chosen in a browser (File objects) reads the same.
    const files = ['ndarray-cache.json', 'mlc-chat-config.json', 'params_shard_0.bin', 'params_shard_1.bin'].map((n) => new File([readFileSync(join(model, n))], n));
    const fromFiles = await openModel(await mlcFilesSource(files));
    expect(fromFiles.matrices).toEqual(reader.matrices);
  });

  it('encodes the directory (worker threads) and gives back the same q4f16_1 words and scales; values are scale·(q − 7)', async () => {
    const out = join(root, 'tiny.rgmv');
    const r = await encodeModelFile(model, out, { jobs: 2 });
    expect(r.format).toBe('mlc');
    const tensors = readContainer(new Uint8Array(readFileSync(out)));
    const byName = new Map(tensors.map((t) => [t.header.name, decodeTensor(t)]));
    for (const [name, src] of [['model.layers.0.self_attn.q_proj', q], ['model.layers.0.self_attn.k_proj', k]] as const) {
      const m = byName.get(name)!;
      expect([m.quantizer, m.groupSize]).toEqual(['symmetric', 32]);
      const back = exportMlcQ4(m);
      expect(back.weight).toEqual(src.weight);
      expect(back.scales).toEqual(src.scales);
      const s = halfToF32(src.scales, 'f16'), w = dequantize(m);
      for (const i of [0, 7, 8, 33, m.rows * m.cols - 1]) {
        expect(w[i]).toBe(Math.fround((((src.weight[i >>> 3] >>> ((i & 7) * 4)) & 15) - 7) * s[Math.floor(i / 32)]));
      }
    }
    expect(byName.get('model.embed_tokens.weight')!.quantizer).toBe('affine'); // floats are quantized
  });

  it('a concatenated source reads and reads into buffers within and across parts, as one file would', async () => {
    const all = Uint8Array.from({ length: 100 }, (_, i) => i);
    const files = [all.subarray(0, 10), all.subarray(10, 10), all.subarray(10, 60), all.subarray(60)].map((b, i) => sourceWithReadInto(b, `p${i}`));
    const src = concatSource('parts', files);
    for (const [at, n] of [[0, 10], [12, 30], [5, 60], [59, 2], [0, 100], [100, 0]]) {
      expect(await src.read(at, n)).toEqual(all.subarray(at, at + n));
      expect(await src.readInto!(at, new Uint8Array(n))).toEqual(all.subarray(at, at + n));
    }
    expect((await failure(src.read(95, 6))).code).toBe('TRUNCATED');
  });

  it('hostile directories get typed errors naming the file (and tensor)', async () => {
    const bad = (name: string, edit: Parameters<typeof writeMlc>[2], tensors = shards) => { const d = join(root, name); writeMlc(d, tensors, edit); return d; };
    const code = async (dir: string) => (await failure(async () => openModel(modelSource(dir)))).code;
    expect(await code(bad('lying-shard', (i) => { i.records[0].nbytes += 4; }))).toBe('BAD_SIZE');
    expect(await code(bad('outside', (i) => { i.records[1].records[1].byteOffset = 10_000; }))).toBe('BAD_OFFSET');
    expect(await code(bad('overlap', (i) => { i.records[1].records[1].byteOffset = 0; i.records[1].records[0].byteOffset = 0; }))).toBe('BAD_OFFSET');
    expect(await code(bad('wrong-nbytes', (i) => { i.records[1].records[1].nbytes = 7; }))).toBe('BAD_SIZE');
    expect(await code(bad('dtype', (i) => { i.records[1].records[1].dtype = 'int7'; }))).toBe('BAD_DTYPE');
    expect(await code(bad('no-scale', (i) => { i.records[1].records.splice(4, 1); }))).toBe('BAD_HEADER');
    const missing = bad('missing-shard', () => {});
    rmSync(join(missing, 'params_shard_1.bin'));
    const e = await failure(async () => openModel(modelSource(missing)));
    expect([e.code, e.message]).toEqual(['MISSING_SHARDS', expect.stringContaining('params_shard_1.bin')]);
    const q0 = bad('q4f16_0', () => {});
    writeFileSync(join(q0, 'mlc-chat-config.json'), JSON.stringify({ quantization: 'q4f16_0' }));
    expect(await code(q0)).toBe('UNSUPPORTED_QUANTIZATION');
    const broken = bad('broken-json', () => {});
    writeFileSync(join(broken, 'ndarray-cache.json'), '{"records": [');
    expect(await code(broken)).toBe('BAD_HEADER');
    // The index alone has no tensor data to read.
    expect((await failure(openModel(bytesSource(readFileSync(join(model, 'ndarray-cache.json')), 'ndarray-cache.json')))).code).toBe('MISSING_SHARDS');
    // Index 15 (MLC writes 0..14) has no lossless symmetric form: refused when the matrix is read.
    const w15 = q.weight.slice();
    w15[3] |= 0xf << 8;
    const fifteen = bad('index-15', () => {}, [[{ ...shards[0][0], bytes: bytesOf(w15) }], shards[1]]);
    const e15 = await failure(encodeModelFile(fifteen, null, { jobs: 1 }));
    expect([e15.code, e15.message]).toEqual(['BAD_INDEX', expect.stringContaining('q_proj')]);
  });
});
