// Plain 4-bit GEMV baseline on the same quantization: nibbles u32 [rows, ceil(cols/8)] (index k
// in bits 4·(k mod 8) of word k/8) plus one packed scale/bias per group. Preceded by params.wgsl
// activations.wgsl and rows_{subgroup,workgroup}.wgsl. Each invocation reads one u32 (8 weights) per row per
// step, coalesced across the workgroup; the 8 activations are loaded once and reused for all
// ROWS rows; acc += s·(q·x) + b·Σx keeps the scale and bias out of the per-weight work.

struct Q4Shape {
  // Rows of this dispatch (nibbles hold only them) and where they sit in the whole matrix.
  rows: u32,
  first_row: u32,
  total_rows: u32,
  cols: u32,
  group_size: u32,
  groups_per_row: u32,
  bf16_params: u32,
}

@group(0) @binding(0) var<uniform> shape: Q4Shape;
@group(0) @binding(1) var<storage, read> nibbles: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override VECTORS: u32 = 1u;
const MAX_VECTORS: u32 = 8u;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, inputs: RowInputs) {
  // Groups of THREADS_PER_ROW invocations, ROWS rows each (see rows_*.wgsl).
  let lane = inputs.lid % THREADS_PER_ROW;
  let row0 = ((wid.y * groups.x + wid.x) * (THREADS / THREADS_PER_ROW) + inputs.lid / THREADS_PER_ROW) * ROWS;
  let words_per_row = (shape.cols + 7u) / 8u;
  let bf16 = shape.bf16_params != 0u;
  var acc: array<f32, ROWS * MAX_VECTORS>;
  for (var w = lane; w < words_per_row; w += THREADS_PER_ROW) {
    let c0 = w * 8u;
    let g = c0 / shape.group_size;
    var xv: array<array<vec4<f32>, 2>, MAX_VECTORS>;
    var xs: array<f32, MAX_VECTORS>;
    for (var m = 0u; m < VECTORS; m++) {
      xv[m] = load_x8(m, c0);
      xs[m] = dot(xv[m][0] + xv[m][1], vec4<f32>(1.0));
    }
    for (var r = 0u; r < ROWS; r++) {
      let row = row0 + r;
      if (row < shape.rows) {
        let q = unpack_q8(nibbles[row * words_per_row + w]);
        let p = unpack_params(params[(shape.first_row + row) * shape.groups_per_row + g], bf16);
        for (var m = 0u; m < VECTORS; m++) {
          acc[r * MAX_VECTORS + m] += p.x * (dot(q[0], xv[m][0]) + dot(q[1], xv[m][1])) + p.y * xs[m];
        }
      }
    }
  }
  for (var m = 0u; m < VECTORS; m++) {
    var partial: array<f32, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
      partial[r] = acc[r * MAX_VECTORS + m];
    }
    let total = reduce_rows(inputs, partial);
    if (lane < ROWS && row0 + lane < shape.rows) {
      y[m * shape.total_rows + shape.first_row + row0 + lane] = total;
    }
  }
}
