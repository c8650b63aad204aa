import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/container/crc.js';
import { decodeTensor, PREAMBLE_BYTES, readContainer, readContainerFile, writeContainer, type TensorToWrite } from '../src/container/container.js';
import { ContainerError } from '../src/errors.js';
import { quantize } from '../src/quantize/quantize.js';
import type { QuantizerKind } from '../src/quantize/types.js';
import { encodeIndices } from '../src/rans/codec.js';
import { weights } from './helpers.js';

function tensor(name: string, rows: number, cols: number, quantizer: QuantizerKind = 'affine', seed = 1): TensorToWrite {
  const q = quantize(weights(rows * cols, 'gaussian', seed), rows, cols, { quantizer, groupSize: 32 });
  return { name, quantized: q, encoded: encodeIndices(q.indices, rows, cols, q.groupSize, { symbolsPerLane: 128 }) };
}

/** A small file with three tensors, one per quantizer. */
const small = [tensor('a', 9, 40, 'affine', 1), tensor('b', 4, 64, 'symmetric', 2), tensor('c', 3, 5, 'per-tensor', 3)];
const smallBytes = writeContainer(small);

function header(bytes: Uint8Array): { tensors: Record<string, any>[]; raw?: { section: { offset: number } }[] } {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + n)));
}

/**
 * Rewrites the JSON header with a valid CRC — how a lying header is built. The header is padded
 * 64 bytes longer and every section offset moved by 64 with the data, so edits may grow it.
 */
function withHeader(bytes: Uint8Array, edit: (h: any) => void): Uint8Array {
  const h = header(bytes);
  const oldLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  for (const t of h.tensors) for (const sec of Object.values(t.sections) as { offset: number }[]) sec.offset += 64;
  for (const r of (h as { raw?: { section: { offset: number } }[] }).raw ?? []) r.section.offset += 64;
  edit(h);
  const json = JSON.stringify(h);
  if (json.length > oldLen + 64) throw new Error('edit grew the header too much');
  return withRawHeader(bytes, json.padEnd(oldLen + 64, ' '));
}

/** Replaces the header bytes by `text` (with a valid CRC); the data keeps its place after it. */
function withRawHeader(bytes: Uint8Array, text: string): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const oldStart = (PREAMBLE_BYTES + dv.getUint32(12, true) + 3) & ~3;
  const hb = new TextEncoder().encode(text);
  const start = (PREAMBLE_BYTES + hb.length + 3) & ~3;
  const out = new Uint8Array(start + bytes.length - oldStart);
  out.set(bytes.subarray(0, PREAMBLE_BYTES));
  out.set(hb, PREAMBLE_BYTES);
  out.set(bytes.subarray(oldStart), start);
  new DataView(out.buffer).setUint32(12, hb.length, true);
  new DataView(out.buffer).setUint32(16, crc32(hb), true);
  return out;
}

function code(f: () => unknown): string {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(ContainerError); return (e as ContainerError).code; }
  return 'no error';
}

const readAll = (bytes: Uint8Array) => readContainer(bytes).map(decodeTensor);

describe('container', () => {
  it('round-trips several tensors of every quantizer bit-exactly', () => {
    const back = readAll(smallBytes);
    expect(back.map((t) => t.quantizer)).toEqual(['affine', 'symmetric', 'per-tensor']);
    back.forEach((t, i) => {
      expect(t.indices).toEqual(small[i].quantized.indices);
      expect(t.scales).toEqual(small[i].quantized.scales);
      expect(t.biases).toEqual(small[i].quantized.biases);
    });
  });

  it('carries a model description and raw f32 tensors, checked like the rest', () => {
    const norm = Float32Array.from({ length: 10 }, (_, i) => i / 3);
    const bytes = writeContainer(small, { model: { format: 'llama2c', config: { dim: 5 } }, raw: [{ name: 'norm', shape: [2, 5], data: norm }] });
    const file = readContainerFile(bytes);
    expect(file.model).toEqual({ format: 'llama2c', config: { dim: 5 } });
    expect(file.raw.get('norm')!.data).toEqual(norm);
    expect(file.raw.get('norm')!.shape).toEqual([2, 5]);
    expect(file.tensors.map(decodeTensor)[1].indices).toEqual(small[1].quantized.indices);
    const lie = (edit: (h: any) => void) => code(() => readContainerFile(withHeader(bytes, edit)));
    expect(lie((h) => { h.raw[0].shape = [3, 5]; })).toBe('BAD_SIZE');
    expect(lie((h) => { h.raw[0].section.offset = 1e8; })).toBe('TRUNCATED');
    expect(lie((h) => { h.raw[0].name = 'a'; })).toBe('BAD_HEADER');
    expect(lie((h) => { h.raw[0].section.crc32 ^= 1; })).toBe('CHECKSUM_MISMATCH');
    expect(lie((h) => { h.model = 7; })).toBe('BAD_HEADER');
    expect(() => writeContainer(small, { raw: [{ name: 'x', shape: [3], data: norm }] })).toThrowError(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
  });

  it('reads from an unaligned view', () => {
    const shifted = new Uint8Array(smallBytes.length + 1);
    shifted.set(smallBytes, 1);
    expect(readAll(shifted.subarray(1))[0].indices).toEqual(small[0].quantized.indices);
  });

  it('rejects bad magic and unknown versions', () => {
    const m = smallBytes.slice(); m[1] = 0x51;
    expect(code(() => readContainer(m))).toBe('BAD_MAGIC');
    const v = smallBytes.slice(); v[8] = 2;
    expect(code(() => readContainer(v))).toBe('UNSUPPORTED_VERSION');
  });

  it('rejects truncation at every section boundary and every 4th byte', () => {
    const cuts = new Set<number>([0, 7, PREAMBLE_BYTES - 1, PREAMBLE_BYTES + 5]);
    for (const t of header(smallBytes).tensors) for (const s of Object.values(t.sections) as { offset: number; length: number }[]) {
      cuts.add(s.offset); cuts.add(s.offset + 1); if (s.length > 1) cuts.add(s.offset + s.length - 1);
    }
    for (let i = 0; i < smallBytes.length; i += 4) cuts.add(i);
    for (const n of cuts) {
      if (n >= smallBytes.length) continue;
      expect(code(() => readAll(smallBytes.subarray(0, n))), `cut at ${n}`).toMatch(/^(TRUNCATED|BAD_MAGIC|CHECKSUM_MISMATCH|BAD_HEADER)$/);
    }
  });

  it('every single-byte flip of a small file is caught with a typed error', () => {
    let caught = 0, padding = 0;
    for (let i = 0; i < smallBytes.length; i++) {
      const b = smallBytes.slice();
      b[i] ^= 0x5a;
      try { readAll(b); padding++; } catch (e) { expect(e).toBeInstanceOf(ContainerError); caught++; }
    }
    // Only alignment padding between sections (at most 3 bytes per section) carries no meaning.
    expect(padding).toBeLessThanOrEqual(3 * 6 * small.length);
    expect(caught + padding).toBe(smallBytes.length);
  });

  it('rejects headers that lie about sizes and offsets (valid header CRC)', () => {
    const edits: [string, (h: { tensors: Record<string, any>[] }) => void, string][] = [
      ['offset past the end', (h) => { h.tensors[0].sections.streams.offset = 1e9; }, 'TRUNCATED'],
      ['length past the end', (h) => { h.tensors[0].sections.streams.length = 4e8; }, 'TRUNCATED'],
      ['huge claimed shape', (h) => { h.tensors[0].rows = 4e9; }, 'BAD_SIZE'],
      ['shape vs scales', (h) => { h.tensors[0].rows = 10; }, 'BAD_SIZE'],
      ['columns vs layout', (h) => { h.tensors[0].cols = 39; }, 'BAD_HEADER'],
      ['overlapping sections', (h) => { h.tensors[1].sections.scales.offset = h.tensors[0].sections.scales.offset; }, 'BAD_OFFSET'],
      ['misaligned section', (h) => { h.tensors[0].sections.freqs.offset += 2; }, 'BAD_OFFSET'],
      ['offset inside the header', (h) => { h.tensors[0].sections.freqs.offset = 0; }, 'BAD_OFFSET'],
      ['negative length', (h) => { h.tensors[0].sections.freqs.length = -32; }, 'BAD_HEADER'],
      ['missing section', (h) => { delete h.tensors[0].sections.laneStates; }, 'BAD_HEADER'],
      ['unknown quantizer', (h) => { h.tensors[0].quantizer = 'nf4'; }, 'BAD_HEADER'],
      ['bad precision', (h) => { h.tensors[0].precision = 20; }, 'BAD_HEADER'],
      ['tile too wide', (h) => { h.tensors[0].rowsPerTile = 100000; }, 'BAD_HEADER'],
      ['duplicate name', (h) => { h.tensors[1].name = 'a'; }, 'BAD_HEADER'],
      ['wrong index checksum', (h) => { h.tensors[2].indexCrc32 ^= 1; }, 'INDEX_CHECKSUM_MISMATCH'],
      ['wrong section checksum', (h) => { h.tensors[1].sections.scales.crc32 ^= 1; }, 'CHECKSUM_MISMATCH'],
    ];
    for (const [what, edit, want] of edits) expect(code(() => readAll(withHeader(smallBytes, edit))), what).toBe(want);
  });

  it('rejects a header length beyond the file and non-JSON headers', () => {
    const b = smallBytes.slice();
    new DataView(b.buffer).setUint32(12, 0xfffffff0, true);
    expect(code(() => readContainer(b))).toBe('TRUNCATED');
    for (const text of ['}', '{"tensors": 5}', '[]', '{"tensors": [7]}', '{"tensors": [{"name": "x"}]}']) {
      expect(code(() => readContainer(withRawHeader(smallBytes, text))), text).toBe('BAD_HEADER');
    }
    expect(readAll(withHeader(smallBytes, () => {})).length).toBe(3); // the helper itself keeps files valid
  });

  it('detects garbage streams whose section checksums were recomputed', () => {
    const h = header(smallBytes);
    const s = h.tensors[0].sections.streams as { offset: number; length: number };
    const b = smallBytes.slice();
    for (let i = s.offset; i < s.offset + s.length; i++) b[i] = (i * 131) & 0xff;
    const fixed = withHeader(b, (hh) => { hh.tensors[0].sections.streams.crc32 = crc32(b.subarray(s.offset, s.offset + s.length)); });
    const t = readContainer(fixed);
    expect(code(() => decodeTensor(t[0]))).toMatch(/^(STREAM_CORRUPT|INDEX_CHECKSUM_MISMATCH)$/);
    expect(decodeTensor(t[1]).indices).toEqual(small[1].quantized.indices);
  });
});
