import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import puppeteer from 'puppeteer-core';
import { describe, expect, it } from 'vitest';
import { findChrome } from '../bench/browser.js';
import type { BenchResult } from '../bench/result.js';
import { checkCalibration } from '../src/gpu/auto.js';
import { packageRoot } from '../src/paths.js';

const root = packageRoot();
const out = mkdtempSync(join(tmpdir(), 'rans-gemv-bench-'));

describe('npm run bench (tiny preset, headless Chromium)', () => {
  let result: BenchResult;
  let htmlFile: string;

  it('runs in the browser and writes JSON that matches the schema, every kernel verified', () => {
    execFileSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'bench/run.ts'), '--preset', 'tiny', '--out', out], { cwd: root, stdio: 'pipe', timeout: 600_000 });
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('.json') && !f.startsWith('calibration-'))!;
    htmlFile = join(out, files.find((f) => f.endsWith('.html'))!);
    result = JSON.parse(readFileSync(join(out, json), 'utf8'));
    const schema = JSON.parse(readFileSync(join(root, 'bench/result.schema.json'), 'utf8'));
    const validate = new Ajv({ allErrors: true }).compile(schema);
    expect(validate(result), JSON.stringify(validate.errors)).toBe(true);
    expect(result.runtime).toBe('browser');
    expect(result.shapes.length).toBe(2);
    for (const s of result.shapes) {
      expect(s.kernels.map((k) => k.kernel).sort()).toEqual(['decode', 'decode-then-q4', 'dense-f32', 'fused', 'fused-ecsq', 'q4']);
      for (const k of s.kernels) {
        expect(k.verified, `${s.name} ${k.kernel}`).toBe(true);
        expect(k.medianMs).toBeGreaterThan(0);
        // Interleaved rounds: every timed kernel has a per-round ratio to dense f32 and to q4.
        expect(k.vsDense!.min).toBeGreaterThan(0);
        expect(k.vsDense!.min).toBeLessThanOrEqual(k.vsDense!.median);
        expect(k.vsDense!.median).toBeLessThanOrEqual(k.vsDense!.max);
        expect(k.vsQ4!.median).toBeGreaterThan(0);
        expect(k.recordUs, `${s.name} ${k.kernel} host µs per recorded product`).toBeGreaterThan(0);
      }
      expect(s.kernels.find((k) => k.kernel === 'dense-f32')!.vsDense).toEqual({ median: 1, min: 1, max: 1 });
      expect(s.fusedOverQ4).toBe(s.kernels.find((k) => k.kernel === 'fused')!.vsQ4!.median);
      // fused on the ecsq quantization of the same weights: fewer bits at the same SQNR, timed against fused affine.
      expect(s.ecsqOverFused).toBe(s.kernels.find((k) => k.kernel === 'fused-ecsq')!.vsFused!.median);
      expect(s.ecsq!.bitsPerWeight).toBeLessThan(s.bitsPerWeight + s.scaleBitsPerWeight);
      expect(Math.abs(s.ecsq!.sqnrDb - s.sqnrDb)).toBeLessThan(0.1);
    }
    const ecsqPoints = result.sweep.filter((p) => p.quantizer === 'ecsq');
    expect(ecsqPoints.length).toBeGreaterThanOrEqual(3);
    for (const p of ecsqPoints) {
      expect(Number.isFinite(p.klDivergence) && p.q4BytesPerWeight === null).toBe(true);
      expect(Math.abs(8 * p.ransBytesPerWeight - Number(p.label.split(' ')[1]))).toBeLessThan(0.02); // its --bits target
    }
    expect(result.sweep.every((p) => p.gaussian.sqnrDb > 0 && p.gaussian.bitsPerWeight > 0)).toBe(true);
    if (result.device.software) expect(result.device.label).toBe('software (SwiftShader)');
    const calibration = JSON.parse(readFileSync(join(out, files.find((f) => f.startsWith('calibration-'))!), 'utf8'));
    checkCalibration(calibration);
    expect(calibration.entries.length).toBe(2);
  }, 600_000);

  it('says what to install when there is no browser', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'bench/run.ts'), '--preset', 'tiny', '--out', out], { cwd: root, encoding: 'utf8', env: { ...process.env, CHROME_PATH: '/nonexistent/chrome' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('CHROME_PATH is set to /nonexistent/chrome');
  });

  it('the HTML report opens from disk and draws its six charts', async () => {
    const browser = await puppeteer.launch({ executablePath: findChrome(), headless: true, args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1200, height: 1600 });
      await page.goto(`file://${htmlFile}`, { waitUntil: 'load' });
      await page.waitForFunction(() => document.body.dataset.chartsReady === 'true', { timeout: 30_000 });
      // Each chart canvas must hold drawn pixels, not a blank rectangle.
      const inked = await page.evaluate(() => [...document.querySelectorAll('canvas')].map((c) => {
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;
      }));
      expect(inked.length).toBe(6);
      for (const n of inked) expect(n).toBeGreaterThan(1000);
      const shot = await page.screenshot({ fullPage: true });
      expect(shot.length).toBeGreaterThan(10_000);
      if (result.device.software) expect(await page.content()).toContain('software (SwiftShader)');
    } finally {
      await browser.close();
    }
  }, 120_000);
});
