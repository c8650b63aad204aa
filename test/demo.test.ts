import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWebGpuPage, servePages, type WebGpuBrowser } from '../bench/browser.js';
import type { DemoRun } from '../demo/main.js';
import { cpuBackend } from '../src/llm/backends.js';
import { generate, LlamaRuntime } from '../src/llm/engine.js';
import { modelFromCheckpoint } from '../src/llm/model.js';
import { readTokenizer } from '../src/llm/tokenizer.js';
import { bundledModel, packageRoot } from '../src/paths.js';

describe('npm run demo page in headless Chromium', () => {
  let open: WebGpuBrowser | undefined;
  let close: (() => Promise<void>) | undefined;
  afterAll(async () => { await open?.browser.close(); await close?.(); });

  it('generates the CPU reference tokens in fused, decode-then-q4 and q4 modes (g32, 64 tokens)', async () => {
    const model = modelFromCheckpoint(new Uint8Array(readFileSync(bundledModel().model)), { groupSize: 32 });
    const tokenizer = readTokenizer(new Uint8Array(readFileSync(bundledModel().tokenizer)), model.config.vocabSize);
    const ref = await generate(new LlamaRuntime(model, cpuBackend(model, 'cpu')), tokenizer, { steps: 64 });

    const { url, server } = await servePages(packageRoot(), ['demo/index.html'], mkdtempSync(join(tmpdir(), 'rans-gemv-demo-')));
    close = () => new Promise<void>((r) => server.httpServer.close(() => r()));
    open = await openWebGpuPage(`${url}/demo/index.html`);
    const adapter = await open.page.evaluate(() => window.demo.ready);
    expect(adapter).not.toContain('no WebGPU');
    const runs: DemoRun[] = [];
    for (const mode of ['fused', 'decode-then-q4', 'q4', 'fp32'] as const) {
      runs.push(await open.page.evaluate((m) => window.demo.run({ mode: m, steps: 64, group: 32 }), mode));
    }
    for (const r of runs.slice(0, 3)) expect(r.tokens, r.mode).toEqual(ref.tokens);
    expect(runs[3].text.startsWith('Once upon a time, there was a little girl named Lily. She loved to play outside in the park.')).toBe(true);
    // fp32 reads 4 bytes per weight; the 4-bit modes about an eighth of that.
    expect(runs[3].bytesPerToken!).toBeGreaterThan(5 * runs[0].bytesPerToken!);
    expect(await open.page.$$eval('#stats tr', (rows) => rows.length)).toBe(4);
    expect(await open.page.$eval('#out', (e) => e.textContent)).toBe(runs[3].text);

    // ecsq at 4.1 bits/weight: fused matches the CPU reference of the same quantization; q4 is refused.
    const ecsq = modelFromCheckpoint(new Uint8Array(readFileSync(bundledModel().model)), { quantizer: 'ecsq', rate: { bits: 4.1 } });
    const ecsqRef = await generate(new LlamaRuntime(ecsq, cpuBackend(ecsq, 'cpu')), tokenizer, { steps: 48 });
    const fused = await open.page.evaluate(() => window.demo.run({ mode: 'fused', steps: 48, group: 64, quantizer: 'ecsq', bits: 4.1 }));
    expect(fused.tokens).toEqual(ecsqRef.tokens);
    expect(fused.bytesPerToken!).toBeLessThan(runs[0].bytesPerToken!);
    const refused = await open.page.evaluate(() => window.demo.run({ mode: 'q4', steps: 8, group: 64, quantizer: 'ecsq' }).then(() => 'ran', (e: Error) => e.message));
    expect(refused).toContain('plain q4');
    expect(await open.page.$eval('#stats tr:last-child td', (e) => e.textContent)).toBe('fused (ecsq 4.1 b/w)');
  }, 600_000);
});
