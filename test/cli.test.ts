import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerHeaderJson } from './helpers.js';
import { writeContainer } from '../src/container/container.js';
import { encodeIndices } from '../src/rans/codec.js';
import { bundledModel, packageRoot } from '../src/paths.js';
import { F16_PRODUCT_TOLERANCE, F32_PRODUCT_TOLERANCE } from '../src/reference.js';

// The built CLI, exactly what `npx rans-gemv` runs (npm test builds it first).
const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'rans-gemv-cli-'));

describe('rans-gemv CLI', () => {
  it('analyze --json reports every matrix of the bundled model and a total within 3 % of entropy', () => {
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'analyze', '--json'], { encoding: 'utf8' }));
    expect(out.tensors.length).toBe(36);
    for (const t of [...out.tensors, out.total]) {
      for (const f of ['name', 'rows', 'cols', 'entropyBits', 'bitsPerWeight', 'overheadPct', 'scaleBitsPerWeight', 'sqnrDb']) expect(t).toHaveProperty(f);
    }
    expect(out.total.bitsPerWeight).toBeLessThanOrEqual(out.total.entropyBits * 1.03);
    expect(out.total.sqnrDb).toBeGreaterThan(19);
  });

  it('analyze prints a table and a histogram chart; options change the quantizer', () => {
    const r = run('analyze', bundledModel().model, '--group', '32', '--quantizer', 'symmetric');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('symmetric g32');
    expect(r.stdout).toMatch(/layers\.4\.w3\s+172×64/);
    expect(r.stdout).toContain('█');
    expect(run('analyze', '--group', '48').status).not.toBe(0);
  });

  it('ecsq: --bits hits its all-in target; encode → verify; eval and generate take the same options; bad targets exit 2', () => {
    const a = JSON.parse(execFileSync(process.execPath, [cli, 'analyze', '--quantizer', 'ecsq', '--bits', '4', '--json'], { encoding: 'utf8' }));
    expect(Math.abs(a.total.bitsPerWeight + a.total.scaleBitsPerWeight - 4)).toBeLessThan(0.02);
    expect(a.total.exceptionBitsPerWeight).toBeGreaterThan(0);
    const file = join(dir, 'ecsq.rgmv');
    const enc = run('encode', bundledModel().model, '-o', file, '--quantizer', 'ecsq', '--match', 'q4-g32', '--quiet');
    expect(enc.status, enc.stderr).toBe(0);
    const ver = run('verify', file, '--json');
    expect(ver.status, ver.stderr).toBe(0);
    const e = JSON.parse(execFileSync(process.execPath, [cli, 'eval', '--quantizer', 'ecsq', '--sqnr', '22', '--sequences', '2', '--tokens', '24', '--json', '--quiet'], { encoding: 'utf8' }));
    expect(e.quantizer).toBe('ecsq');
    expect(e.sqnrDb).toBeGreaterThan(21.9);
    expect(e.klDivergence).toBeGreaterThan(0);
    const fixed = JSON.parse(execFileSync(process.execPath, [cli, 'analyze', '--quantizer', 'ecsq', '--step-scale', '0.3', '--json'], { encoding: 'utf8' }));
    expect(new Set(fixed.tensors.map((t: { stepScale: number }) => t.stepScale))).toEqual(new Set([0.3])); // one s for every matrix
    const g = run('generate', '--steps', '12', '--mode', 'cpu', '--quantizer', 'ecsq', '--bits', '4.1');
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout.startsWith('Once upon a time')).toBe(true);
    for (const args of [['--bits', '4'], ['--quantizer', 'ecsq', '--bits', '0.01'], ['--quantizer', 'ecsq', '--bits', '4', '--sqnr', '20'], ['--quantizer', 'ecsq', '--step-scale', '0']]) {
      const bad = run('analyze', ...args);
      expect(bad.status, args.join(' ')).toBe(2);
      expect(bad.stderr).toMatch(/\[(BAD_RATE_TARGET|RATE_UNREACHABLE)\]/);
    }
  });

  it('encode → verify succeeds; a flipped stream byte fails naming the tensor', () => {
    const file = join(dir, 'model.rgmv');
    const enc = run('encode', bundledModel().model, '-o', file, '--group', '128', '--precision', '12');
    expect(enc.status, enc.stderr).toBe(0);
    const ok = run('verify', file, '--json');
    expect(ok.status).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.ok).toBe(true);
    expect(report.tensors.length).toBe(36);

    const bytes = new Uint8Array(readFileSync(file));
    const header = containerHeaderJson(bytes).json;
    const target = header.tensors[7];
    bytes[target.sections.streams.offset + 3] ^= 0x10;
    writeFileSync(file, bytes);
    const bad = run('verify', file);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain(target.name);
    expect(bad.stderr).toContain('CHECKSUM_MISMATCH');
  });

  it('verify --gpu --json: GPU decode bit-exact and one record per tensor × mode × M × activation type', () => {
    const file = join(dir, 'gpu.rgmv');
    expect(run('encode', bundledModel().model, '-o', file).status).toBe(0);
    const r = run('verify', file, '--gpu', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(true);
    expect(out.gpu.checks.length).toBe(36 * 13);
    for (const c of out.gpu.checks) {
      expect(c.ok).toBe(true);
      expect(c.maxRelErr).toBeLessThan(c.activations === 'f16' ? F16_PRODUCT_TOLERANCE : F32_PRODUCT_TOLERANCE);
    }
    expect(out.gpu.checks.filter((c: { activations?: string }) => c.activations === 'f16').length).toBe(36 * 6);
    expect(out.gpu.checks.filter((c: { mode: string }) => c.mode === 'decode').length).toBe(36);
  }, 120_000);

  it('verify --gpu runs the GPU decode on tensors the CPU rejected and says whether it rejects them too', () => {
    // Two tiles of mirror patterns swapped: every lane ends in a valid state on the wrong indices.
    const rows = 128, cols = 64;
    const indices = Uint8Array.from({ length: rows * cols }, (_, i) => ((i % cols) + (Math.floor(i / cols) < 64 ? 0 : 1)) % 2);
    const enc = encodeIndices(indices, rows, cols, 32, { symbolsPerLane: 64, lanesPerTile: 64 });
    const half = enc.data.length / 2, lanes = enc.geometry.lanes / 2;
    const swapped = {
      ...enc,
      data: Uint32Array.from([...enc.data.subarray(half), ...enc.data.subarray(0, half)]),
      laneStates: Uint32Array.from([...enc.laneStates.subarray(lanes), ...enc.laneStates.subarray(0, lanes)]),
    };
    const quantized = { rows, cols, quantizer: 'affine' as const, groupSize: 32, paramType: 'f16' as const, indices, scales: new Uint16Array(rows * 2).fill(0x3c00), biases: new Uint16Array(rows * 2) };
    const file = join(dir, 'swapped.rgmv');
    writeFileSync(file, writeContainer([{ name: 'intact', quantized, encoded: enc }, { name: 'swapped', quantized, encoded: swapped }]));
    const r = run('verify', file, '--gpu', '--json');
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.tensors.map((t: { name: string; ok: boolean; code?: string }) => [t.name, t.ok, t.code ?? null])).toEqual([['intact', true, null], ['swapped', false, 'INDEX_CHECKSUM_MISMATCH']]);
    const swappedChecks = report.gpu.checks.filter((c: { tensor: string }) => c.tensor === 'swapped');
    expect(swappedChecks).toHaveLength(1);
    expect(swappedChecks[0]).toMatchObject({ mode: 'decode', ok: true });
    expect(swappedChecks[0].error).toContain('integrity check');
  }, 120_000);

  it('generate: greedy text from the bundled model, on the CPU and from an encoded container on the GPU', () => {
    const cpu = run('generate', '--steps', '30', '--mode', 'cpu', '--group', '32');
    expect(cpu.status, cpu.stderr).toBe(0);
    expect(cpu.stdout.startsWith('Once upon a time, there was a little girl named Lily')).toBe(true);
    expect(cpu.stderr).toMatch(/tokens\/s \(cpu\)/);
    const file = join(dir, 'g32.rgmv');
    expect(run('encode', bundledModel().model, '-o', file, '--group', '32').status).toBe(0);
    // As in CI and containers: no XDG_RUNTIME_DIR. A successful run prints no "error:" lines.
    const env = { ...process.env };
    delete env.XDG_RUNTIME_DIR;
    const gpu = spawnSync(process.execPath, [cli, 'generate', '--model', file, '--steps', '30', '--mode', 'fused'], { encoding: 'utf8', env });
    expect(gpu.status, gpu.stderr).toBe(0);
    expect(gpu.stdout).toBe(cpu.stdout);
    expect(gpu.stderr).toMatch(/weight bytes read per token/);
    expect(gpu.stderr).not.toMatch(/^error:/m);
    // Without a GPU device node Dawn goes straight to SwiftShader and never probes lavapipe.
    if (!existsSync('/dev/dri')) expect(gpu.stderr).not.toMatch(/Warning: Vulkan/);
    const bad = run('generate', '--tokenizer', bundledModel().model, '--steps', '5', '--mode', 'cpu');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('TOKENIZER_MISMATCH');
  }, 120_000);

  it('reports unreadable input with a typed error and a non-zero exit', () => {
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, new Uint8Array(100));
    const r = run('analyze', junk);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('UNKNOWN_FORMAT');
    const v = run('verify', junk);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain('BAD_MAGIC');
  });
});
