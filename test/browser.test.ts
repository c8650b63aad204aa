import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWebGpuPage, servePages, type WebGpuBrowser } from '../bench/browser.js';
import type { GpuCheck } from '../src/gpu/verify.js';
import { packageRoot } from '../src/paths.js';

describe('kernels in headless Chromium (vite page on 127.0.0.1, puppeteer)', () => {
  let open: WebGpuBrowser | undefined;
  let close: (() => Promise<void>) | undefined;
  afterAll(async () => { await open?.browser.close(); await close?.(); });

  it('quantizes, encodes, decodes bit-exactly and multiplies in every mode, f32 and f16 activations, in the page', async () => {
    const { url, server } = await servePages(packageRoot(), ['test/browser/kernels.html'], mkdtempSync(join(tmpdir(), 'rans-gemv-page-')));
    close = () => new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
    open = await openWebGpuPage(`${url}/test/browser/kernels.html`);
    const result = await open.page.waitForFunction(() => (window as { __result?: unknown }).__result, { timeout: 300_000 })
      .then((h) => h.jsonValue() as Promise<{ adapter?: string; checks?: GpuCheck[]; blob?: Record<string, unknown>; error?: string }>);
    expect(result.error).toBeUndefined();
    const checks = result.checks!;
    expect(checks.length).toBe(3 * 13 + 5); // three group-quantized matrices, one ecsq (decode + fused only)
    for (const c of checks) expect(c.ok, `${c.tensor} ${c.mode} M=${c.vectors}: ${c.error ?? c.maxRelErr}`).toBe(true);
    expect(new Set(checks.map((c) => c.mode))).toEqual(new Set(['decode', 'fused', 'decode-then-q4', 'q4']));
    expect(checks.filter((c) => c.activations === 'f16').length).toBe(3 * 6 + 2);
    expect(checks.filter((c) => c.tensor === 'ecsq').map((c) => c.mode)).toEqual(['decode', 'fused', 'fused', 'fused', 'fused']);
    // A user's File, read in slices (never whole), encodes exactly as the in-memory path does.
    expect(result.blob).toMatchObject({ matrices: ['w.weight'], identical: true, containerVerified: true, widenedExactly: true });
    expect(result.blob!.largestSlice as number).toBeLessThanOrEqual(16 * 160 * 2);
    expect(result.blob!.largestSlice as number).toBeLessThan(result.blob!.fileBytes as number);
  }, 600_000);
});
