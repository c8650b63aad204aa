// Dense f32 GEMV baseline, the yardstick the benchmark normalizes by: each invocation reads 8
// consecutive weights per row per step; activations reused for all ROWS_PER_GROUP rows.
// Preceded by rows_{subgroup,workgroup}.wgsl, x_f32.wgsl and activations.wgsl.

struct DenseShape {
  rows: u32,
  cols: u32,
}

@group(0) @binding(0) var<uniform> shape: DenseShape;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(11) var<storage, read_write> y: array<f32>;

override VECTORS: u32 = 1u;

fn load8(i: u32, valid: u32) -> array<vec4<f32>, 2> {
  var v: array<vec4<f32>, 2>;
  if (valid >= 8u) {
    v[0] = vec4<f32>(weights[i], weights[i + 1u], weights[i + 2u], weights[i + 3u]);
    v[1] = vec4<f32>(weights[i + 4u], weights[i + 5u], weights[i + 6u], weights[i + 7u]);
  } else {
    for (var j = 0u; j < 8u; j++) {
      v[j / 4u][j % 4u] = select(0.0, weights[i + j], j < valid);
    }
  }
  return v;
}

@compute @workgroup_size(ROW_THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, inputs: RowInputs) {
  // Groups of THREADS_PER_ROW invocations, ROWS_PER_GROUP rows each (see rows_*.wgsl).
  let lane = inputs.lid % THREADS_PER_ROW;
  let row0 = ((wid.y * groups.x + wid.x) * (ROW_THREADS / THREADS_PER_ROW) + inputs.lid / THREADS_PER_ROW) * ROWS_PER_GROUP;
  let chunks = (shape.cols + 7u) / 8u;
  var acc: array<f32, ROWS_PER_GROUP * MAX_VECTORS>;
  for (var w = lane; w < chunks; w += THREADS_PER_ROW) {
    let c0 = w * 8u;
    let valid = shape.cols - c0;
    var xv: array<array<vec4<f32>, 2>, MAX_VECTORS>;
    for (var m = 0u; m < VECTORS; m++) {
      xv[m] = load_x8(m, c0);
    }
    for (var r = 0u; r < ROWS_PER_GROUP; r++) {
      let row = row0 + r;
      if (row < shape.rows) {
        let wv = load8(row * shape.cols + c0, valid);
        for (var m = 0u; m < VECTORS; m++) {
          acc[r * MAX_VECTORS + m] += dot(wv[0], xv[m][0]) + dot(wv[1], xv[m][1]);
        }
      }
    }
  }
  for (var m = 0u; m < VECTORS; m++) {
    var partial: array<f32, ROWS_PER_GROUP>;
    for (var r = 0u; r < ROWS_PER_GROUP; r++) {
      partial[r] = acc[r * MAX_VECTORS + m];
    }
    let total = reduce_rows(inputs, partial);
    if (lane < ROWS_PER_GROUP && row0 + lane < shape.rows) {
      y[m * shape.rows + row0 + lane] = total;
    }
  }
}
