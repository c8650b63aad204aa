import { containerFrame, PREAMBLE_BYTES, type ContainerFrame } from '../src/container/container.js';
/** Deterministic test data: weight distributions from the shared seeded PRNG. */
import { rng } from '../bench/synthetic.js';

export { rng };

export type Distribution = 'gaussian' | 'laplace' | 'outliers' | 'constant' | 'uniform';

/** n weights of a distribution, scaled like LLM weights (σ ≈ 0.02). */
export function weights(n: number, dist: Distribution, seed = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  for (let i = 0; i < n; i++) {
    switch (dist) {
      case 'gaussian': out[i] = 0.02 * gauss(); break;
      case 'laplace': out[i] = 0.02 * (r() < 0.5 ? 1 : -1) * Math.log(1 - r()); break;
      case 'outliers': out[i] = 0.02 * gauss() * (r() < 0.01 ? 20 : 1); break;
      case 'constant': out[i] = 0.125; break;
      case 'uniform': out[i] = r() * 2 - 1; break;
    }
  }
  return out;
}

/** Random 4-bit indices with a given probability of each value (uniform when omitted). */
export function randomIndices(n: number, seed = 1): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 16));
}

/** Index of the first differing element, or -1 (fast for huge typed arrays, unlike toEqual). */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** The JSON header of a container file and where it lies (any format version). */
export function containerHeaderJson(bytes: Uint8Array): { json: any; frame: ContainerFrame } {
  const frame = containerFrame(bytes.subarray(0, PREAMBLE_BYTES), bytes.length);
  return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(frame.headerOffset, frame.headerOffset + frame.headerLength))), frame };
}

/** A GGUF tensor to write: GGUF dimension order (innermost first), ggml type id, raw data. */
export interface GgufTensor { name: string; type: number; dims: number[]; data: Uint8Array }

/**
 * Writes a GGUF file (v2/v3 layout: u64 counts and lengths) by the spec, independently of the
 * reader: magic, version, counts, string/u32 metadata, tensor infos, alignment padding, data.
 */
export function writeGguf(tensors: GgufTensor[], options: { version?: number; alignment?: number; metadata?: Record<string, string | number> } = {}): Uint8Array {
  const alignment = options.alignment ?? 32;
  const parts: number[] = [];
  const u8 = (...b: number[]) => parts.push(...b);
  const u32 = (v: number) => u8(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
  const u64 = (v: number) => { u32(v % 2 ** 32); u32(Math.floor(v / 2 ** 32)); };
  const str = (s: string) => { const b = new TextEncoder().encode(s); u64(b.length); u8(...b); };
  u8(0x47, 0x47, 0x55, 0x46);
  u32(options.version ?? 3);
  const metadata = { 'general.architecture': 'llama', 'general.alignment': alignment, ...options.metadata };
  u64(tensors.length);
  u64(Object.keys(metadata).length);
  for (const [k, v] of Object.entries(metadata)) {
    str(k);
    if (typeof v === 'string') { u32(8); str(v); } else { u32(4); u32(v); }
  }
  let offset = 0;
  const offsets = tensors.map((t) => { const o = offset; offset = Math.ceil((o + t.data.length) / alignment) * alignment; return o; });
  tensors.forEach((t, i) => { str(t.name); u32(t.dims.length); for (const d of t.dims) u64(d); u32(t.type); u64(offsets[i]); });
  const headerEnd = Math.ceil(parts.length / alignment) * alignment;
  const out = new Uint8Array(headerEnd + offset);
  out.set(parts);
  tensors.forEach((t, i) => out.set(t.data, headerEnd + offsets[i]));
  return out;
}
