// Activation loads with bounds, for q4.wgsl and dense.wgsl (which declare `shape.cols`); preceded
// by an activation variant (x_f32.wgsl or x_f16.wgsl).

// x[m, c0 .. c0+8) as two vec4s, zero past the row's end (never garbage: a 0 weight times an
// Inf read past the end would still be NaN).
fn load_x8(m: u32, c0: u32) -> array<vec4<f32>, 2> {
  let i = m * shape.cols + c0;
  var v: array<vec4<f32>, 2>;
  if (c0 + 8u <= shape.cols) {
    v[0] = x_quad(i);
    v[1] = x_quad(i + 4u);
  } else {
    for (var j = 0u; j < 8u; j++) {
      v[j / 4u][j % 4u] = select(0.0, x_at(min(i + j, x_count() - 1u)), c0 + j < shape.cols);
    }
  }
  return v;
}
