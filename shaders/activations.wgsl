// Eight consecutive activations x[m, c0 .. c0+8) as two vec4s, zero past the row's end (never
// garbage: a 0 index times an Inf read past the end would still be NaN). For q4.wgsl and
// dense.wgsl, which declare `x: array<f32>` ([vectors, cols]) and `shape.cols`.
fn load_x8(m: u32, c0: u32) -> array<vec4<f32>, 2> {
  let i = m * shape.cols + c0;
  var v: array<vec4<f32>, 2>;
  if (c0 + 8u <= shape.cols) {
    v[0] = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
    v[1] = vec4<f32>(x[i + 4u], x[i + 5u], x[i + 6u], x[i + 7u]);
  } else {
    for (var j = 0u; j < 8u; j++) {
      v[j / 4u][j % 4u] = select(0.0, x[min(i + j, arrayLength(&x) - 1u)], c0 + j < shape.cols);
    }
  }
  return v;
}

// The eight 4-bit indices of a packed word as two vec4<f32> (index j in bits 4j).
fn unpack_q8(word: u32) -> array<vec4<f32>, 2> {
  let w = vec4<u32>(word);
  return array<vec4<f32>, 2>(
    vec4<f32>((w >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)),
    vec4<f32>((w >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)),
  );
}
