// f32 products → f16 output, two per u32 (element i in the low half of word i/2 when i is even),
// for products asked for with f16 activations. The kernels accumulate and write f32; this pass
// rounds once at the end (pack2x16float, core WGSL).

struct PackShape {
  // f32 values to pack (an odd count leaves the last word's high half 0).
  count: u32,
}

@group(0) @binding(0) var<uniform> shape: PackShape;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let w = gid.y * groups.x * 64u + gid.x;
  let i = 2u * w;
  if (i >= shape.count) {
    return;
  }
  var second = 0.0;
  if (i + 1u < shape.count) {
    second = values[i + 1u];
  }
  packed[w] = pack2x16float(vec2<f32>(values[i], second));
}
