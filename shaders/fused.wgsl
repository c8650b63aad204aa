// Fused rANS decode + GEMV: y[m] = W · x[m] for VECTORS vectors, W never decompressed in memory.
// Preceded by params.wgsl and rans_lanes.wgsl. Each lane decodes its block in registers and multiplies on the
// fly; the group scale and bias are applied once per group: acc += s·Σq·x + b·Σx, where the
// group sums Σx come from xsum.wgsl.

@group(0) @binding(4) var<storage, read> params: array<u32>;
@group(0) @binding(5) var<storage, read> x: array<f32>;
@group(0) @binding(6) var<storage, read> x_group_sums: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

override VECTORS: u32 = 1u;
const MAX_VECTORS: u32 = 8u;


@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid.x);
  let ln = start_lane(lid, t);
  var coder = Coder(ln.x0, 0u, 0u, 0u);
  var acc: array<f32, MAX_VECTORS>;
  if (lid < t.lanes) {
    let reg = region_of(lid, t);
    let cols = shape.cols;
    let gs = shape.group_size;
    for (var r = reg.row0; r < reg.row1; r++) {
      for (var m = 0u; m < VECTORS; m++) {
        acc[m] = 0.0;
      }
      var c = reg.col0;
      for (var g = reg.col0 / gs; c < reg.col1; g++) {
        let group_end = min(reg.col1, (g + 1u) * gs);
        var group_dot: array<f32, MAX_VECTORS>;
        for (var m = 0u; m < VECTORS; m++) {
          group_dot[m] = 0.0;
        }
        // One step decodes a pair of weights; only a row's last group can end on a lone
        // weight (odd cols), whose pad partner is multiplied by nothing.
        for (; c < group_end; c += 2u) {
          coder = decode_step(ln, coder);
          let q0 = f32(coder.pair >> 4u);
          let q1 = f32(coder.pair & 15u);
          let paired = c + 1u < group_end;
          for (var m = 0u; m < VECTORS; m++) {
            let i = m * cols + c;
            var x1 = 0.0;
            if (paired) {
              x1 = x[i + 1u];
            }
            group_dot[m] = fma(q1, x1, fma(q0, x[i], group_dot[m]));
          }
        }
        let p = unpack_params(params[r * shape.groups_per_row + g], shape.bf16_params != 0u);
        for (var m = 0u; m < VECTORS; m++) {
          acc[m] += p.x * group_dot[m] + p.y * x_group_sums[m * shape.groups_per_row + g];
        }
      }
      if (shape.segments_per_row == 1u) {
        for (var m = 0u; m < VECTORS; m++) {
          y[m * shape.rows + r] = acc[m];
        }
      }
    }
    finish_lane(ln, coder);
  }
  // Rows cut into segments (then one row per lane): add the segments' partials, passed through
  // the decode table's workgroup memory once every lane is done with it (2^P ≥ 2048 ≥ 256 lanes ×
  // 8 vectors), so the kernel needs no more than the table itself.
  if (shape.segments_per_row > 1u) {
    workgroupBarrier();
    for (var m = 0u; m < VECTORS; m++) {
      table[lid * VECTORS + m] = bitcast<u32>(acc[m]);
    }
    workgroupBarrier();
    if (lid < t.blocks) {
      for (var m = 0u; m < VECTORS; m++) {
        var sum = 0.0;
        for (var s = 0u; s < shape.segments_per_row; s++) {
          sum += bitcast<f32>(table[(s * t.blocks + lid) * VECTORS + m]);
        }
        y[m * shape.rows + t.first_row + lid] = sum;
      }
    }
  }
}
