// Activations stored as f16, two per u32: element i in the low half of word i/2 when i is even,
// in the high half when odd. Read with unpack2x16float (core WGSL: no shader-f16 needed);
// every product and sum stays f32. Same functions as x_f32.wgsl.

@group(0) @binding(10) var<storage, read> x: array<u32>;

fn x_at(i: u32) -> f32 {
  return unpack2x16float(x[i >> 1u])[i & 1u];
}

// x[i], x[i + 1]: one word when i is even, two when a pair straddles words (odd i: x [M, cols]
// with odd cols puts every other vector's columns at odd offsets).
fn x_pair(i: u32) -> vec2<f32> {
  let first = unpack2x16float(x[i >> 1u]);
  if ((i & 1u) == 0u) {
    return first;
  }
  return vec2<f32>(first.y, unpack2x16float(x[(i >> 1u) + 1u]).x);
}

fn x_quad(i: u32) -> vec4<f32> {
  return vec4<f32>(x_pair(i), x_pair(i + 2u));
}

// Activations the binding holds (reads past the row's end are clamped to it).
fn x_count() -> u32 {
  return 2u * arrayLength(&x);
}
