/**
 * mulberry32: a small, fast, seeded generator, uniform in [0, 1). The one source of seeded
 * randomness for evaluation, benchmarks and tests, so a seed means the same numbers everywhere.
 *
 * @example
 * ```ts
 * const next = rng(42);
 * next(); // 0.6011037519201636, every run
 * ```
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
