// Activations stored as f32: x [vectors, cols] row-major, element i at x[i]. One of the two
// activation variants (x_f16.wgsl is the other); kernels read x only through these functions.

@group(0) @binding(10) var<storage, read> x: array<f32>;

fn x_at(i: u32) -> f32 {
  return x[i];
}

fn x_pair(i: u32) -> vec2<f32> {
  return vec2<f32>(x[i], x[i + 1u]);
}

fn x_quad(i: u32) -> vec4<f32> {
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

// Activations the binding holds (reads past the row's end are clamped to it).
fn x_count() -> u32 {
  return arrayLength(&x);
}
