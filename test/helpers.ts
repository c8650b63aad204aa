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
