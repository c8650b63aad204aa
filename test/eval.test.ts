import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RansGemvError } from '../src/errors.js';
import { evaluateModel, modelSize } from '../src/llm/eval.js';
import { modelFromCheckpoint } from '../src/llm/model.js';
import { llama2cMatrices } from '../src/io/llama2c.js';
import { compressMatrix, totalStats } from '../src/pipeline.js';
import { bundledModel, packageRoot } from '../src/paths.js';

const bin = new Uint8Array(readFileSync(bundledModel().model));
const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

describe('eval: quantized model vs fp32 (KL, perplexity, top-1, all-in bits/weight)', () => {
  it('is deterministic for a seed, changes with it, and ranks finer groups better', async () => {
    const g32 = modelFromCheckpoint(bin, { groupSize: 32 }), g128 = modelFromCheckpoint(bin, { groupSize: 128 });
    const opts = { sequences: 4, tokens: 64, seed: 7 };
    const a = await evaluateModel(g32, opts), b = await evaluateModel(g32, opts);
    expect(b).toEqual(a);
    expect((await evaluateModel(g32, { ...opts, seed: 8 })).klDivergence).not.toBe(a.klDivergence);
    const coarse = await evaluateModel(g128, opts);
    expect(a.klDivergence).toBeGreaterThan(0);
    expect(a.klDivergence).toBeLessThan(coarse.klDivergence);
    expect(a.sqnrDb!).toBeGreaterThan(coarse.sqnrDb!);
    expect(a.bitsPerWeight).toBeGreaterThan(coarse.bitsPerWeight);
    expect(a.perplexity).toBeGreaterThan(a.fp32Perplexity); // the fp32 model sampled the tokens
    expect(a.top1Agreement).toBeGreaterThan(0.5);
    expect(a.top1Agreement).toBeLessThanOrEqual(1);
  }, 60_000);

  it('counts bits/weight all-in: the same total the encoder reports (coded streams + scales)', () => {
    const options = { groupSize: 64 };
    const t = totalStats(llama2cMatrices(bin).flatMap((m) => (m.kind === 'float' ? [compressMatrix(m, options)] : [])));
    expect(modelSize(modelFromCheckpoint(bin, options)).bitsPerWeight).toBeCloseTo(t.bitsPerWeight + t.scaleBitsPerWeight, 9);
  });

  it('refuses what it cannot measure, with typed errors', async () => {
    const m = modelFromCheckpoint(bin, { groupSize: 64 });
    await expect(evaluateModel(m, { tokens: m.config.seqLen + 1 })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    await expect(evaluateModel(m, { sequences: 0 })).rejects.toBeInstanceOf(RansGemvError);
    // A model loaded from a container has no fp32 weights to compare with.
    const noFloat = { ...m, matrices: new Map([...m.matrices].map(([k, v]) => [k, { ...v, float: null }])) };
    await expect(evaluateModel(noFloat)).rejects.toMatchObject({ code: 'NO_FLOAT_WEIGHTS' });
  });

  it('rans-gemv eval --json prints the figures', () => {
    const r = spawnSync(process.execPath, [cli, 'eval', '--group', '64', '--sequences', '2', '--tokens', '32', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    for (const k of ['klDivergence', 'perplexity', 'top1Agreement', 'bitsPerWeight']) expect(Number.isFinite(out[k]), k).toBe(true);
    expect(out).toMatchObject({ quantizer: 'affine', groupSize: 64, sequences: 2, seed: 1 });
  });
});
