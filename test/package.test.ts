import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/paths.js';

/** Bytes of a directory tree. */
function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? treeBytes(p) : e.isFile() ? statSync(p).size : 0;
  }
  return n;
}

describe('the packed package, installed as a user would', () => {
  it('installs in ≤ 20 MB without Dawn, encodes on the CPU, and names the missing package for WebGPU in Node', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rans-gemv-install-'));
    // npm test built dist already; pack it as published (files: dist, shaders, docs, fixtures).
    const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: packageRoot(), encoding: 'utf8' }).trim().split('\n').at(-1)!;
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, tarball)], { cwd: dir, stdio: 'pipe' });
    const bytes = treeBytes(join(dir, 'node_modules'));
    expect(bytes).toBeLessThan(20e6);
    expect(readdirSync(join(dir, 'node_modules'))).not.toContain('webgpu');
    writeFileSync(join(dir, 'use.mjs'), `
      import { compressMatrix, RansGemvError } from 'rans-gemv';
      import { requestNodeDevice } from 'rans-gemv/node';
      const c = compressMatrix({ name: 'w', rows: 8, cols: 64, kind: 'float', weights: new Float32Array(512).map((_, i) => Math.sin(i)) });
      let gpu;
      try { await requestNodeDevice(); gpu = 'device'; } catch (e) { gpu = e instanceof RansGemvError ? e.code + ' ' + e.message : String(e); }
      console.log(JSON.stringify({ bits: c.stats.bitsPerWeight, gpu }));
    `);
    const out = JSON.parse(execFileSync(process.execPath, [join(dir, 'use.mjs')], { cwd: dir, encoding: 'utf8' }));
    expect(out.bits).toBeGreaterThan(1);
    expect(out.gpu).toMatch(/^MISSING_WEBGPU .*npm install webgpu/);
    const cli = spawnSync(join(dir, 'node_modules', '.bin', 'rans-gemv'), ['analyze', '--json', '--quiet'], { cwd: dir, encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).tensors.length).toBe(36);
  }, 180_000);
});
