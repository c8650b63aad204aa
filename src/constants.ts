/**
 * Every constant that TypeScript and WGSL both rely on, in one place. The kernels receive them as
 * a generated WGSL prelude ({@link wgslPrelude}), so no shader file restates a number the host
 * also uses; the couplings between them are asserted below at module load and, where WGSL can
 * check them, by `const_assert` in the shader that depends on them.
 */

/** The rANS coder and its decode table (docs/FORMAT.md, "Coder"). */
export const CODER = {
  /** Lower bound L of the coder state: x ∈ [L, 2^32) between steps; 16-bit renormalization words. */
  STATE_LOWER_BOUND: 1 << 16,
  /** Pair-table precisions the coder accepts (bits): 11 loses 0.09 % on Gaussian weights, 12 0.01 %, 10 would lose 0.3 %. */
  MIN_PRECISION: 11,
  MAX_PRECISION: 12,
  /**
   * Decode-table entry, one u32 per slot: `[31:20] frequency | [19:12] pair | [11:0] slot − cumulative`
   * (pair = 16·first index + second: the first index in bits 16–19, the second in bits 12–15).
   * Frequencies and offsets are < 2^12. The offset needs no shift, and each index can be masked
   * in place and read as a float without a shift or a conversion (nibble_floats.wgsl).
   */
  TABLE_FREQ_SHIFT: 20,
  TABLE_PAIR_SHIFT: 12,
  TABLE_OFFSET_MASK: 0xfff,
  TABLE_FIRST_INDEX_MASK: 0xf0000,
  TABLE_SECOND_INDEX_MASK: 0xf000,
  /** Multipliers of the per-lane integrity hash the decode kernel checks (`laneHash` in src/rans/codec.ts). */
  LANE_HASH_B: 0x9e3779b1,
  LANE_HASH_LANE: 0x85ebca6b,
} as const;

/** Geometry of the stream kernels (fused, decode) and of the row kernels (q4, dense). */
export const KERNEL = {
  /** Most vectors (M) one product multiplies; kernels are specialized for 1..MAX_VECTORS. */
  MAX_VECTORS: 8,
  /** Upper bound on lanes per tile: WebGPU's guaranteed maxComputeInvocationsPerWorkgroup. */
  MAX_LANES_PER_TILE: 256,
  /**
   * Lane streams one invocation of the fused and decode kernels decodes side by side (adjacent
   * row blocks of one segment): they share every activation load and interleave two independent
   * dependency chains. Measured 0.74–0.77× the time of one lane per invocation (SwiftShader).
   */
  LANES_PER_INVOCATION: 2,
  /** q4 / dense: invocations per workgroup. */
  ROW_THREADS: 64,
  /** q4 / dense: rows each group of invocations computes, reusing the activations it loaded. */
  ROWS_PER_GROUP: 8,
  /** q4: most u32 nibble words (8 weights each) an invocation reads per row and step. */
  MAX_Q4_WORDS: 4,
} as const;

/**
 * The entropy-constrained quantizer `ecsq` (docs/FORMAT.md, "ecsq"): a weight is an integer v
 * times its row's step. Index i stands for v = i − ZERO_INDEX, so an index holds v ∈ [−8, 7];
 * weights beyond are exceptions listed per lane (src/rans/exceptions.ts).
 */
export const ECSQ = {
  ZERO_INDEX: 8,
} as const;

// Couplings. The fused kernel passes its segment partials (one f32 per lane and vector) through
// the decode table's workgroup memory once decoding is over: the smallest table must hold them.
if ((1 << CODER.MIN_PRECISION) < KERNEL.MAX_LANES_PER_TILE * KERNEL.MAX_VECTORS) {
  throw new Error('constants: the decode table cannot hold the segment partials of a full tile');
}
// Table fields: a frequency or an offset < 2^12 must fit its 12-bit field, the pair its 8 bits.
if (CODER.MAX_PRECISION > 12 || CODER.TABLE_OFFSET_MASK !== 2 ** CODER.TABLE_PAIR_SHIFT - 1 || CODER.TABLE_FREQ_SHIFT - CODER.TABLE_PAIR_SHIFT !== 8
  || CODER.TABLE_SECOND_INDEX_MASK !== 15 << CODER.TABLE_PAIR_SHIFT || CODER.TABLE_FIRST_INDEX_MASK !== 15 << (CODER.TABLE_PAIR_SHIFT + 4)) {
  throw new Error('constants: decode-table entry fields overlap');
}

/**
 * The WGSL prelude every kernel starts with: each constant above as a `const` of type u32.
 *
 * @example
 * ```ts
 * wgslPrelude(); // "const STATE_LOWER_BOUND: u32 = 65536u;\n…"
 * ```
 */
export function wgslPrelude(): string {
  const lines = Object.entries({ ...CODER, ...KERNEL, ...ECSQ }).map(([name, value]) => `const ${name}: u32 = ${value}u;`);
  return `// Generated from src/constants.ts (the one source of these numbers).\n${lines.join('\n')}\n`;
}
