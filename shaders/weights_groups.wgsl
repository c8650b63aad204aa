// Dequantization by groups (affine, symmetric, per-tensor): w = s·q + b per group of a row, with
// (s, b) packed in `params` [rows, groups_per_row]. fused.wgsl sums q·x over a group and applies
// s·Σq·x + b·Σx once per group; the group sums Σx come from xsum.wgsl. No exceptions.

@group(0) @binding(6) var<storage, read> x_group_sums: array<f32>;

const HAS_EXCEPTIONS = false;

// A step's two indices as q·2^16 and q·2^12 (nibble_floats.wgsl).
fn scaled_indices(entry: u32) -> vec2<f32> {
  return masked_to_f32x2(vec2<u32>(entry) & INDEX_MASKS);
}

// End of the span of group g: the group's end, within the lane's columns (ending at col1).
fn span_end(col1: u32, g: u32) -> u32 {
  return min(col1, (g + 1u) * shape.group_size);
}

// (scale, bias) of group g of a row.
fn span_params(row: u32, g: u32) -> vec2<f32> {
  return unpack_params(params[row * shape.groups_per_row + g], shape.bf16_params != 0u);
}

// A span's share of y for vector m: s·Σq·x + b·Σx.
fn span_value(p: vec2<f32>, dot_qx: f32, m: u32, g: u32) -> f32 {
  return p.x * dot_qx + p.y * x_group_sums[m * shape.groups_per_row + g];
}

// No exceptions: the stand-ins the fused kernel compiles away (HAS_EXCEPTIONS is false).
struct Exceptions {
  at: u32,
}

fn exceptions_start(ln: Lane) -> Exceptions {
  return Exceptions(0u);
}

fn apply_exceptions(e: Exceptions, i: u32, ln: Lane, dots: ptr<function, array<f32, MAX_VECTORS>>) -> Exceptions {
  return e;
}

fn finish_exceptions(ln: Lane, e: Exceptions) {
}
