/**
 * 16-bit float parameters. Scales and biases are stored as raw 16-bit patterns so that
 * imported models (f16 or bf16) round-trip bit-exactly; f16 conversion uses
 * `@petamoriken/float16`, bf16 is a plain bit shift.
 */
import { getFloat16, setFloat16 } from '@petamoriken/float16';

/** Storage type of the 16-bit quantization parameters. */
export type ParamType = 'f16' | 'bf16';

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

/**
 * Decodes a 16-bit parameter array of the given type into f32 values.
 *
 * @example
 * ```ts
 * const scales = decodeParams(q.scales, q.paramType);
 * ```
 */
export function decodeParams(bits: Uint16Array, type: ParamType): Float32Array {
  const out = new Float32Array(bits.length);
  const decode = type === 'f16' ? fromF16Bits : fromBf16Bits;
  for (let i = 0; i < bits.length; i++) out[i] = decode(bits[i]);
  return out;
}

/**
 * Rounds every value to the nearest f16 and returns the bit patterns (the reverse of
 * `decodeParams(bits, 'f16')`).
 *
 * @example
 * ```ts
 * const xBits = toF16Array(x); // f16 activations for fusedMatVec
 * ```
 */
export function toF16Array(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values, toF16Bits);
}
