/**
 * 16-bit float parameters. Scales and biases are stored as raw 16-bit patterns so that
 * imported models (f16 or bf16) round-trip bit-exactly; f16 conversion uses
 * `@petamoriken/float16`, bf16 is a plain bit shift.
 */
import { getFloat16, setFloat16 } from '@petamoriken/float16';

/**
 * Storage type of the quantization parameters: 16-bit floats (f16, bf16), or `e5m3`, the 8-bit
 * unsigned float of ecsq's row steps ({@link e5m3Value}), kept in the same Uint16Array slots.
 */
export type ParamType = 'f16' | 'bf16' | 'e5m3';

/**
 * Bytes one stored parameter takes.
 *
 * @example
 * ```ts
 * paramBytes('e5m3'); // 1 (f16, bf16: 2)
 * ```
 */
export function paramBytes(type: ParamType): number {
  return type === 'e5m3' ? 1 : 2;
}

/** E5M3: value = (8 + m)·2^(e − E5M3_BIAS) for e ≥ 1, m·2^(1 − E5M3_BIAS) for e = 0 (code 0 is 0). */
const E5M3_BIAS = 24;

/**
 * The value of an 8-bit E5M3 code (5-bit exponent e, 3-bit mantissa m, no sign): (8 + m)·2^(e − 24),
 * or m·2^(−23) for e = 0; from 2^−23 (1.2e-7) to 1920. Exact in f32. ecsq stores its row steps so:
 * a step only sets where the quantizer's levels lie, so 6–12 % granularity costs no quality at a
 * given rate, and 8 bits instead of 16 per row save 0.125 bits/weight on 64-column matrices.
 *
 * @example
 * ```ts
 * e5m3Value(0x6b); // (8 + 3)·2^(13 − 24)
 * ```
 */
export function e5m3Value(code: number): number {
  const e = code >>> 3, m = code & 7;
  return e === 0 ? m * 2 ** (1 - E5M3_BIAS) : (8 + m) * 2 ** (e - E5M3_BIAS);
}

/**
 * The E5M3 code nearest to `value` (ties to the larger code), clamped to 1..255 for value > 0;
 * 0 for value ≤ 0.
 *
 * @example
 * ```ts
 * e5m3Value(toE5m3(0.0062)); // 0.0062 within 6 %
 * ```
 */
export function toE5m3(value: number): number {
  if (!(value > 0)) return 0;
  let lo = 1, hi = 255; // codes are increasing in value: binary search for the last code ≤ value
  while (lo < hi) { const mid = (lo + hi + 1) >>> 1; if (e5m3Value(mid) <= value) lo = mid; else hi = mid - 1; }
  if (lo < 255 && e5m3Value(lo + 1) - value <= value - e5m3Value(lo)) return lo + 1;
  return lo;
}

const scratch = new DataView(new ArrayBuffer(4));

/**
 * Rounds `value` to the nearest f16 and returns its bit pattern.
 *
 * @example
 * ```ts
 * toF16Bits(1); // 0x3c00
 * ```
 */
export function toF16Bits(value: number): number {
  setFloat16(scratch, 0, value, true);
  return scratch.getUint16(0, true);
}

/**
 * Decodes an f16 bit pattern.
 *
 * @example
 * ```ts
 * fromF16Bits(0x3c00); // 1
 * ```
 */
export function fromF16Bits(bits: number): number {
  scratch.setUint16(0, bits, true);
  return getFloat16(scratch, 0, true);
}

/**
 * Decodes a bf16 bit pattern (the top half of an f32).
 *
 * @example
 * ```ts
 * fromBf16Bits(0x3f80); // 1
 * ```
 */
export function fromBf16Bits(bits: number): number {
  scratch.setUint32(0, (bits & 0xffff) << 16, true);
  return scratch.getFloat32(0, true);
}

/**
 * Rounds `value` to the nearest bf16 (ties to even) and returns its bit pattern.
 *
 * @example
 * ```ts
 * toBf16Bits(1); // 0x3f80
 * ```
 */
export function toBf16Bits(value: number): number {
  scratch.setFloat32(0, value, true);
  const bits = scratch.getUint32(0, true);
  if (Number.isNaN(value)) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

// f16 → f32 by table: the 65,536 f32 bit patterns of every f16 value, built once on first use.
// A u32 table copies bits (NaN payloads kept) and measured 450–875 M values/s on this project's
// 2-core machine, against ≈ 1 M/s for the polyfill's Float16Array (Node 20 has no native one).
let f16Table: Uint32Array | null = null;
function f16BitsTable(): Uint32Array {
  if (!f16Table) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = fromF16Bits(h);
    f16Table = new Uint32Array(t.buffer);
  }
  return f16Table;
}

/**
 * Widens parameter patterns (f16, bf16 or E5M3 codes) to f32, into `out` when given. Exact for
 * every pattern (NaN payloads included); bf16 is the top half of an f32, f16 goes through a table.
 *
 * @example
 * ```ts
 * const w = halfToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n), 'f16');
 * ```
 */
export function halfToF32(bits: Uint16Array, type: ParamType, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  if (out.length < bits.length) throw new RangeError(`output holds ${out.length} values, input has ${bits.length}`);
  const o32 = new Uint32Array(out.buffer, out.byteOffset, bits.length);
  if (type === 'bf16') {
    for (let i = 0; i < bits.length; i++) o32[i] = bits[i] << 16;
  } else if (type === 'e5m3') {
    for (let i = 0; i < bits.length; i++) out[i] = e5m3Value(bits[i]);
  } else {
    const table = f16BitsTable();
    for (let i = 0; i < bits.length; i++) o32[i] = table[bits[i]];
  }
  return out;
}

const f64 = new Float64Array(1);
const f64Hi = new Uint32Array(f64.buffer, 4, 1); // little-endian hosts (every WebGPU platform)

/** 2^(10 − e) for the exponents e = −14 … 15 of normal f16 values (Math.pow is slow in hot loops). */
const MANTISSA_SCALE = Float64Array.from({ length: 30 }, (_, i) => 2 ** (10 - (i - 14)));

/** Rounds m ≥ 0 to the nearest integer, ties to even. */
function roundHalfEven(m: number): number {
  const r = Math.round(m);
  return r - m === 0.5 && (r & 1) === 1 ? r - 1 : r;
}

/**
 * Rounds `value` to the nearest f16 (ties to even, straight from the f64, no double rounding) and
 * returns its bit pattern: the same result as {@link toF16Bits}, ≈ 20× faster, for hot loops
 * (one call per quantization group).
 *
 * @example
 * ```ts
 * f16Round(1 / 3); // 0x3555
 * ```
 */
export function f16Round(value: number): number {
  const sign = value < 0 || (value === 0 && 1 / value < 0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (!(a < 65520)) return a !== a ? 0x7e00 : sign | 0x7c00; // NaN; ≥ 65520 rounds to ∞
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal (1024 → smallest normal)
  f64[0] = a;
  let e = (f64Hi[0] >>> 20) - 1023; // −14 … 15 here
  let m = roundHalfEven(a * MANTISSA_SCALE[e + 14]); // a·2^(10−e), in [1024, 2048]
  if (m === 2048) { m = 1024; e++; }
  return sign | ((e + 15) << 10) | (m - 1024);
}

/**
 * The f32 value of an f16 pattern, by table (the fast form of {@link fromF16Bits}).
 *
 * @example
 * ```ts
 * f16Value(0x3c00); // 1
 * ```
 */
export function f16Value(bits: number): number {
  return f16ValueTable()[bits & 0xffff];
}
let f16Values: Float32Array | null = null;
function f16ValueTable(): Float32Array {
  return (f16Values ??= new Float32Array(f16BitsTable().buffer));
}

/**
 * Rounds every value to the nearest f16 and returns the bit patterns (the reverse of
 * `halfToF32(bits, 'f16')`).
 *
 * @example
 * ```ts
 * const xBits = toF16Array(x); // f16 activations for fusedMatVec
 * ```
 */
export function toF16Array(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values, toF16Bits);
}
