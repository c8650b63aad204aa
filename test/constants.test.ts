import { describe, expect, it } from 'vitest';
import { CODER, ECSQ, KERNEL, wgslPrelude } from '../src/constants.js';
import { kernelSource, KERNEL_FILES, type KernelName } from '../src/gpu/kernels.js';
import { q4Words } from '../src/gpu/matvec.js';
import { WGSL_FILES } from '../src/gpu/shaders.generated.js';
import { decodeTable } from '../src/rans/codec.js';
import { cumulative, pairFrequencies } from '../src/rans/frequencies.js';

describe('constants shared by TypeScript and WGSL', () => {
  const names = Object.keys({ ...CODER, ...KERNEL, ...ECSQ });

  it('the prelude declares every shared constant with its TypeScript value', () => {
    const prelude = wgslPrelude();
    for (const [name, value] of Object.entries({ ...CODER, ...KERNEL, ...ECSQ })) expect(prelude).toContain(`const ${name}: u32 = ${value}u;`);
  });

  it('no shader file restates a shared constant, and every kernel starts with the prelude', () => {
    for (const [file, text] of Object.entries(WGSL_FILES)) {
      for (const n of names) expect(text, `${file}.wgsl declares ${n}`).not.toMatch(new RegExp(`(const|override)\\s+${n}\\b`));
    }
    for (const k of Object.keys(KERNEL_FILES) as KernelName[]) {
      for (const variant of [{}, { reduction: 'subgroup' as const, activations: 'f16' as const }]) {
        const src = kernelSource(k, variant);
        expect(src.replace(/^enable [^;]+;\n/gm, '').startsWith(wgslPrelude())).toBe(true);
      }
    }
  });

  it('the CPU decode table uses the entry layout the kernels read: [31:20] frequency | [19:12] pair | [11:0] offset', () => {
    const freqs = Uint16Array.from([600, 500, 400, 300, 300, 300, 300, 300, 250, 250, 150, 150, 100, 100, 50, 46]) // sums to 2^12;
    const pairs = pairFrequencies(freqs, 11);
    const cum = cumulative(pairs);
    const lut = decodeTable(freqs, 11);
    for (const slot of [0, 1, 700, 2047]) {
      const e = lut[slot];
      const pair = (e >>> CODER.TABLE_PAIR_SHIFT) & 0xff;
      expect(e >>> CODER.TABLE_FREQ_SHIFT).toBe(pairs[pair]);
      expect(e & CODER.TABLE_OFFSET_MASK).toBe(slot - cum[pair]);
      expect((e & CODER.TABLE_FIRST_INDEX_MASK) >>> (CODER.TABLE_PAIR_SHIFT + 4)).toBe(pair >> 4);
      expect((e & CODER.TABLE_SECOND_INDEX_MASK) >>> CODER.TABLE_PAIR_SHIFT).toBe(pair & 15);
    }
  });

  it('q4 reads one group per step and keeps W·M ≤ 8', () => {
    expect(q4Words(64, 1)).toBe(4);
    expect(q4Words(32, 2)).toBe(4);
    expect(q4Words(64, 3)).toBe(2);
    expect(q4Words(16, 1)).toBe(2);
    expect(q4Words(8, 1)).toBe(1);
    expect(q4Words(128, 8)).toBe(1);
    for (const g of [8, 16, 32, 64, 128]) for (let m = 1; m <= KERNEL.MAX_VECTORS; m++) {
      const w = q4Words(g, m);
      expect(g % (8 * w)).toBe(0);
      expect(w * m <= 8 || w === 1).toBe(true);
    }
  });
});
