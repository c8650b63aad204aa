/** Seeded synthetic data for benchmarks, tests and test pages. */

import { rng } from '../src/rng.js';

export { rng };

/** Seeded Gaussian weights at LLM-like scale (σ = 0.02). */
export function gaussianWeights(n: number, seed = 1): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.02 * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return out;
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * A checksum-valid container holding one constant `rows`×`cols` matrix (per-tensor, 65,536-weight
 * lanes), built without coding `rows` rows: every row codes identically, so one row's streams are
 * repeated. Its claimed size is unrelated to its bytes (2^32 weights take ≈ 1.6 MB): the input that
 * proves readers do not allocate by what a header claims.
 */
export async function constantContainer(rows: number, cols = 1 << 16): Promise<Uint8Array> {
  const { quantize } = await import('../src/quantize/quantize.js');
  const { encodeIndices } = await import('../src/rans/codec.js');
  const { makeGeometry } = await import('../src/rans/layout.js');
  const { ContainerWriter, indexChecksum } = await import('../src/container/container.js');
  const { crc32 } = await import('../src/container/crc.js');
  const { packNibbles } = await import('../src/quantize/import.js');
  const q = quantize(new Float32Array(cols).fill(0.5), 1, cols, { quantizer: 'per-tensor', groupSize: 32 });
  const e = encodeIndices(q.indices, 1, cols, 32, { symbolsPerLane: cols });
  if (e.geometry.lanes !== 1) throw new Error('one lane per row expected');
  const repeat = <T extends Uint16Array | Uint32Array>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(a.length * rows);
    for (let i = 0; i < rows; i++) out.set(a, i * a.length);
    return out;
  };
  const geometry = makeGeometry({ ...e.geometry, rows, rowsPerTile: 1 });
  const encoded = { geometry, freqs: e.freqs, laneStates: repeat(e.laneStates), laneLengths: repeat(e.laneLengths), data: repeat(e.data) };
  // The packed-index CRC of `rows` identical rows, one row at a time.
  const row = packNibbles(q.indices, 1, cols);
  const rowBytes = new Uint8Array(row.buffer);
  let crc = 0;
  for (let r = 0; r < rows; r++) crc = crc32(rowBytes, crc);
  if (rows === 1 && crc !== indexChecksum(q.indices, 1, cols)) throw new Error('checksum mismatch');
  const { indices: _, ...params } = q;
  const chunks: [Uint8Array, number][] = [];
  const writer = new ContainerWriter((c, at) => chunks.push([c.slice(), at]));
  writer.addTensor({ name: 'constant', params: { ...params, rows }, encoded, indexCrc32: crc });
  const bytes = new Uint8Array(writer.finish());
  for (const [c, at] of chunks) bytes.set(c, at);
  return bytes;
}
