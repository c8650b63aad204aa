// 4-bit indices → f32 without a shift or an int→float conversion (both quarter-rate on Apple
// GPUs). An index q masked in place at bits b (b + 4 ≤ 23) and OR-ed into the mantissa of 2^23 is
// the float 2^23 + q·2^b, exactly; subtracting 2^23 leaves q·2^b. The activation it multiplies is
// pre-scaled by 2^−b (exact: a power of two), so each product is the same f32 as q·x.

const TWO_POW_23_BITS = 0x4b000000u;
const TWO_POW_23 = 8388608.0;

// Already-masked indices (q·2^b, b ≤ 19) as floats q·2^b.
fn masked_to_f32(masked: vec4<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(masked | vec4<u32>(TWO_POW_23_BITS)) - vec4<f32>(TWO_POW_23);
}

fn masked_to_f32x2(masked: vec2<u32>) -> vec2<f32> {
  return bitcast<vec2<f32>>(masked | vec2<u32>(TWO_POW_23_BITS)) - vec2<f32>(TWO_POW_23);
}
