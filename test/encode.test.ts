import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startProgress } from '../src/cli/progress.js';
import { readContainerFile, writeContainer } from '../src/container/container.js';
import { InvalidInputError } from '../src/errors.js';
import { loadModel } from '../src/io/formats.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { encodeModelFile } from '../src/node/encode.js';
import { packageRoot } from '../src/paths.js';
import { compressMatrix } from '../src/pipeline.js';
import { toF16Array } from '../src/quantize/half.js';
import { weights } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rans-gemv-encode-'));
const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

/** A small model with every storage type, a ragged shape, a 1-D tensor, and an MLX triple. */
function writeModel(path: string, nan = false): Uint8Array {
  const w = (n: number, seed: number) => weights(n, 'gaussian', seed);
  const big = w(300 * 128, 1);
  if (nan) big[5 * 128 + 7] = NaN;
  const file = writeSafetensors([
    { name: 'embed.weight', dtype: 'F16', shape: [300, 128], bytes: bytesOf(toF16Array(big)) },
    { name: 'norm.weight', dtype: 'F32', shape: [128], bytes: bytesOf(w(128, 2)) },
    ...Array.from({ length: 6 }, (_, i) => ({ name: `layers.${i}.wq.weight`, dtype: 'F32' as const, shape: [64, 96], bytes: bytesOf(w(64 * 96, 10 + i)) })),
    { name: 'ragged.weight', dtype: 'BF16', shape: [33, 200], bytes: bytesOf(Uint16Array.from(new Uint32Array(w(33 * 200, 3).buffer), (b) => b >>> 16)) },
    { name: 'mlx.weight', dtype: 'U32', shape: [16, 8], bytes: bytesOf(Uint32Array.from({ length: 128 }, (_, i) => (i * 2654435761) >>> 0)) },
    { name: 'mlx.scales', dtype: 'F16', shape: [16, 2], bytes: bytesOf(toF16Array(w(32, 4).map(Math.abs))) },
    { name: 'mlx.biases', dtype: 'F16', shape: [16, 2], bytes: bytesOf(toF16Array(w(32, 5))) },
  ]);
  writeFileSync(path, file);
  return file;
}

describe('streaming encode (encodeModelFile)', () => {
  const model = join(dir, 'model.safetensors');
  const file = writeModel(model);

  it('writes the same bytes for any jobs and block size, equal to the in-memory path', async () => {
    const outputs: Uint8Array[] = [];
    for (const [jobs, chunkBytes] of [[1, 1 << 20], [2, 1000], [3, 256]] as const) {
      const out = join(dir, `jobs${jobs}.rgmv`);
      const progress: number[] = [];
      const r = await encodeModelFile(model, out, { jobs, chunkBytes, groupSize: 32, onProgress: (p) => progress.push(p.weightsDone) });
      expect(r.results.map((t) => t.stats.name)).toEqual(['embed.weight', ...Array.from({ length: 6 }, (_, i) => `layers.${i}.wq.weight`), 'ragged.weight', 'mlx.weight']);
      expect(r.skipped.map((t) => t.name)).toEqual(['norm.weight']);
      expect(progress.at(-1)).toBe(r.results.reduce((n, t) => n + t.stats.rows * t.stats.cols, 0));
      outputs.push(new Uint8Array(readFileSync(out)));
    }
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[2]).toEqual(outputs[0]);
    const inMemory = writeContainer((await loadModel(file)).matrices.map((m) => {
      const c = compressMatrix(m, { groupSize: 32 });
      return { name: c.name, quantized: c.quantized, encoded: c.encoded };
    }));
    expect(outputs[0]).toEqual(inMemory);
    expect(readContainerFile(outputs[0]).tensors.length).toBe(9);
  });

  it('a NaN weight read by a worker is a typed error naming the file, tensor and position', async () => {
    const bad = join(dir, 'nan.safetensors');
    writeModel(bad, true);
    const e = await encodeModelFile(bad, join(dir, 'nan.rgmv'), { jobs: 2 }).catch((err) => err);
    expect(e).toBeInstanceOf(InvalidInputError);
    expect(e.code).toBe('NON_FINITE_WEIGHT');
    expect(e.message).toBe(`${bad}: embed.weight: weight [5, 7] is NaN`);
  });

  it('the CLI encodes with --jobs, lists skipped tensors and verifies; a file without matrices exits 2', () => {
    const a = join(dir, 'a.rgmv'), b = join(dir, 'b.rgmv');
    const r1 = run('encode', model, '-o', a, '--jobs', '1');
    const r2 = run('encode', model, '-o', b, '--jobs', '2', '--quiet');
    expect(r1.status, r1.stderr).toBe(0);
    expect(r2.status, r2.stderr).toBe(0);
    expect(readFileSync(a)).toEqual(readFileSync(b));
    expect(r1.stderr).toContain('norm.weight [128] F32 (1-D)');
    expect(r2.stderr).toBe('');
    expect(run('verify', a).stdout).toContain('OK: 9/9 tensors');
    const none = join(dir, 'none.safetensors');
    writeFileSync(none, writeSafetensors([{ name: 'n', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) }]));
    const r3 = run('analyze', none);
    expect(r3.status).toBe(2);
    expect(r3.stderr).toContain('NO_MATRICES');
    expect(r3.stderr).toContain(none);
  });
});

describe('progress', () => {
  const sink = () => {
    const lines: string[] = [];
    return { lines, stream: { isTTY: false, write: (s: string) => { lines.push(s); return true; } } as unknown as NodeJS.WriteStream };
  };

  it('prints a line per interval on a non-terminal with amount, rate and ETA, and a last one', () => {
    const { lines, stream } = sink();
    const p = startProgress({ label: 'encode', total: 4e9, unit: 'weights', stream, intervalSec: 0 });
    p.update(1e9, 'layers.0.wq');
    p.update(2e9, 'layers.1.wq');
    p.stop();
    expect(lines.length).toBe(3);
    expect(lines[0]).toMatch(/^encode: 25\.0% 1\.00G\/4\.00G weights, [\d.]+[kMG]? weights\/s, ETA .+ \(layers\.0\.wq\)\n$/);
    expect(lines[2]).toContain('50.0%');
  });

  it('prints nothing with quiet, or for a job shorter than one interval', () => {
    const a = sink(), b = sink();
    const q = startProgress({ label: 'x', total: 10, unit: 'weights', stream: a.stream, quiet: true, intervalSec: 0 });
    q.update(5); q.stop();
    const s = startProgress({ label: 'x', total: 10, unit: 'weights', stream: b.stream, intervalSec: 60 });
    s.update(5); s.stop();
    expect(a.lines).toEqual([]);
    expect(b.lines).toEqual([]);
  });
});
