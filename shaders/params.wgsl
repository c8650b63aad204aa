// Scale and bias of a quantization group, packed in one u32 as two 16-bit floats: scale in
// the low half, bias in the high half; f16 (unpack2x16float, no shader-f16 needed) or bf16.
fn unpack_params(p: u32, bf16: bool) -> vec2<f32> {
  if (bf16) {
    return vec2<f32>(bitcast<f32>(p << 16u), bitcast<f32>(p & 0xffff0000u));
  }
  return unpack2x16float(p);
}
