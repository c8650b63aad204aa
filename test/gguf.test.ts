import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTensor, readContainer, writeContainer } from '../src/container/container.js';
import { RansGemvError } from '../src/errors.js';
import { loadModel, openModel } from '../src/io/formats.js';
import { bytesSource } from '../src/io/source.js';
import { encodeModelFile } from '../src/node/encode.js';
import { compressMatrix } from '../src/pipeline.js';
import { halfToF32, toF16Array } from '../src/quantize/half.js';
import { exportQ4_0, exportQ4_1, Q4_0_BLOCK_BYTES, Q4_1_BLOCK_BYTES } from '../src/quantize/import.js';
import { rng, weights, writeGguf } from './helpers.js';

const F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q6_K = 14;
const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** Random Q4 blocks with finite, positive f16 scales (and f16 minimums for Q4_1). */
function blocks(rows: number, cols: number, blockBytes: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array((rows * cols / 32) * blockBytes);
  for (let b = 0; b < out.length; b += blockBytes) {
    const half = toF16Array([0.001 + r() * 0.01, -0.05 * r()]);
    out[b] = half[0] & 255; out[b + 1] = half[0] >>> 8;
    let j = 2;
    if (blockBytes === Q4_1_BLOCK_BYTES) { out[b + 2] = half[1] & 255; out[b + 3] = half[1] >>> 8; j = 4; }
    for (; j < blockBytes; j++) out[b + j] = Math.floor(r() * 256);
  }
  return out;
}

const embed = weights(40 * 64, 'gaussian', 1);
const q40 = blocks(32, 64, Q4_0_BLOCK_BYTES, 2);
const q41 = blocks(16, 96, Q4_1_BLOCK_BYTES, 3);
const file = writeGguf([
  { name: 'token_embd.weight', type: F16, dims: [64, 40], data: bytesOf(toF16Array(embed)) },
  { name: 'blk.0.attn_norm.weight', type: F32, dims: [64], data: bytesOf(new Float32Array(64).fill(1)) },
  { name: 'blk.0.attn_q.weight', type: Q4_0, dims: [64, 32], data: q40 },
  { name: 'blk.0.attn_k.weight', type: Q4_1, dims: [96, 16], data: q41 },
]);

const failure = async (p: Promise<unknown>): Promise<RansGemvError> => {
  try { await p; } catch (e) { expect(e).toBeInstanceOf(RansGemvError); return e as RansGemvError; }
  throw new Error('no error');
};

describe('GGUF', () => {
  it('lists matrices as [ne1, ne0], skips 1-D tensors, and widens F16 exactly', async () => {
    const reader = await openModel(bytesSource(file, 'tiny.gguf'));
    expect(reader.format).toBe('gguf');
    expect(reader.matrices.map((m) => [m.name, m.kind, m.rows, m.cols])).toEqual([
      ['token_embd.weight', 'float', 40, 64], ['blk.0.attn_q.weight', 'blocks', 32, 64], ['blk.0.attn_k.weight', 'blocks', 16, 96],
    ]);
    expect(reader.skipped.map((t) => [t.name, t.reason])).toEqual([['blk.0.attn_norm.weight', '1-D']]);
    const { matrices } = await loadModel(file, 'tiny.gguf');
    expect(matrices[0].kind === 'float' && matrices[0].weights).toEqual(halfToF32(toF16Array(embed), 'f16'));
  });

  it('Q4_0 and Q4_1 are imported losslessly through a container: blocks in → the same blocks out', async () => {
    const { matrices } = await loadModel(file, 'tiny.gguf');
    const coded = matrices.slice(1).map((m) => compressMatrix(m));
    expect(coded.map((c) => [c.quantized.quantizer, c.quantized.groupSize, c.stats.sqnrDb])).toEqual([['symmetric', 32, null], ['affine', 32, null]]);
    const [a, b] = readContainer(writeContainer(coded.map((c) => ({ name: c.name, quantized: c.quantized, encoded: c.encoded })))).map(decodeTensor);
    expect(exportQ4_0(a)).toEqual(q40);
    expect(exportQ4_1(b)).toEqual(q41);
  });

  it('encodes from a file (worker threads) and reads GGUF v2 alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rans-gemv-gguf-'));
    for (const version of [2, 3]) {
      const path = join(dir, `v${version}.gguf`);
      writeFileSync(path, version === 3 ? file : writeGguf([{ name: 'w', type: Q4_0, dims: [64, 32], data: q40 }], { version }));
      const r = await encodeModelFile(path, `${path}.rgmv`, { jobs: 2 });
      expect(r.format).toBe('gguf');
      expect(readContainer(new Uint8Array(readFileSync(`${path}.rgmv`))).length).toBe(version === 3 ? 3 : 1);
    }
  });

  it('rejects other 2-D types by name, lying offsets, overlaps and a broken header, naming file and tensor', async () => {
    const q6 = writeGguf([{ name: 'blk.0.ffn_down.weight', type: Q6_K, dims: [256, 4], data: new Uint8Array(4 * 210) }]);
    const e1 = await failure(openModel(bytesSource(q6, 'k.gguf')));
    expect(e1.code).toBe('UNSUPPORTED_TYPE');
    expect(e1.message).toMatch(/^k\.gguf: blk\.0\.ffn_down\.weight: GGUF Q6_K is not imported/);
    const cut = file.subarray(0, file.length - 8);
    expect((await failure(openModel(bytesSource(cut, 'cut.gguf')))).code).toBe('BAD_OFFSET');
    // Two tensors claiming the same bytes: patch the second tensor's offset to the first's.
    const overlap = writeGguf([{ name: 'a', type: F32, dims: [8, 2], data: new Uint8Array(64) }, { name: 'b', type: F32, dims: [8, 2], data: new Uint8Array(64) }]);
    const at = findLast(overlap, new TextEncoder().encode('b')) + 1 + 4 + 16 + 4; // name, n_dims, dims, type
    overlap.fill(0, at, at + 8);
    const e3 = await failure(openModel(bytesSource(overlap, 'o.gguf')));
    expect(e3.code).toBe('BAD_OFFSET');
    expect(e3.message).toContain("o.gguf: b: data overlaps tensor 'a'");
    const broken = file.slice(0, 64);
    broken.fill(0xff, 8, 24); // absurd tensor and metadata counts
    const e4 = await failure(openModel(bytesSource(broken, 'b.gguf')));
    expect(e4.message).toMatch(/^b\.gguf: /);
  });
});

function findLast(hay: Uint8Array, needle: Uint8Array): number {
  for (let i = hay.length - needle.length; i >= 0; i--) if (needle.every((b, j) => hay[i + j] === b)) return i;
  return -1;
}
