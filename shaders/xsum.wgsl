// Group sums of the activations, Σ x over each quantization group, for every vector:
// the fused kernel folds the bias out of its inner loop with them (acc += b·Σx). Preceded by an
// activation variant (x_f32.wgsl or x_f16.wgsl).

struct SumShape {
  cols: u32,
  group_size: u32,
  groups_per_row: u32,
  vectors: u32,
}

@group(0) @binding(0) var<uniform> shape: SumShape;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= shape.groups_per_row * shape.vectors) {
    return;
  }
  let m = i / shape.groups_per_row;
  let g = i % shape.groups_per_row;
  let end = min(shape.cols, (g + 1u) * shape.group_size);
  var s = 0.0;
  for (var c = g * shape.group_size; c < end; c++) {
    s += x_at(m * shape.cols + c);
  }
  sums[i] = s;
}
