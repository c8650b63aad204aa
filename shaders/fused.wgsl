// Fused rANS decode + GEMV: y[m] = W · x[m] for VECTORS vectors, W never decompressed in memory.
// Preceded by params.wgsl, an activation variant and rans_lanes.wgsl. Each invocation decodes its
// two lanes in registers and multiplies on the fly; the group scale and bias are applied once
// per group: acc += s·Σq·x + b·Σx, where the group sums Σx come from xsum.wgsl.

@group(0) @binding(4) var<storage, read> params: array<u32>;
@group(0) @binding(6) var<storage, read> x_group_sums: array<f32>;
@group(0) @binding(11) var<storage, read_write> y: array<f32>;

override VECTORS: u32 = 1u;

// A step's two indices read in place from its table entry (nibble_floats.wgsl): first·2^16 and
// second·2^12; the activations they multiply are pre-scaled by 2^−16 and 2^−12.
const INDEX_MASKS = vec2<u32>(TABLE_FIRST_INDEX_MASK, TABLE_SECOND_INDEX_MASK);
const PAIR_SCALES = vec2<f32>(1.0 / 65536.0, 1.0 / 4096.0);

fn scaled_indices(entry: u32) -> vec2<f32> {
  return masked_to_f32x2(vec2<u32>(entry) & INDEX_MASKS);
}

// The segment partials pass through the decode table's workgroup memory (below).
const_assert (1u << MIN_PRECISION) >= MAX_LANES_PER_TILE * MAX_VECTORS;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid.x);
  let ls = start_lanes(lid, t);
  var acc_a: array<f32, MAX_VECTORS>;
  var acc_b: array<f32, MAX_VECTORS>;
  if (ls.in_use) {
    let cols = shape.cols;
    let gs = shape.group_size;
    let col0 = ls.a.col0;
    let col1 = ls.a.col1;
    var coders = start_pair(ls);
    for (var i = 0u; i < ls.rows_a; i++) {
      coders = begin_row(ls, coders, i);
      for (var m = 0u; m < VECTORS; m++) {
        acc_a[m] = 0.0;
        acc_b[m] = 0.0;
      }
      var c = col0;
      for (var g = col0 / gs; c < col1; g++) {
        let group_end = min(col1, (g + 1u) * gs);
        // Explicit zeros: a declaration without initializer in a loop is not re-zeroed by every compiler.
        var dot_a = array<f32, MAX_VECTORS>();
        var dot_b = array<f32, MAX_VECTORS>();
        // Two steps (four weights per lane) per iteration; group sizes are even, so only a
        // row's last group can end on a lone weight (odd cols), handled after the loop.
        for (; c + 4u <= group_end; c += 4u) {
          coders.a = decode_step(ls.a, coders.a);
          coders.b = decode_step(coders.lane_b, coders.b);
          let qa0 = scaled_indices(coders.a.entry);
          let qb0 = scaled_indices(coders.b.entry);
          coders.a = decode_step(ls.a, coders.a);
          coders.b = decode_step(coders.lane_b, coders.b);
          let qa = vec4<f32>(qa0, scaled_indices(coders.a.entry));
          let qb = vec4<f32>(qb0, scaled_indices(coders.b.entry));
          for (var m = 0u; m < VECTORS; m++) {
            let xq = x_quad(m * cols + c) * vec4<f32>(PAIR_SCALES, PAIR_SCALES);
            dot_a[m] += dot(qa, xq);
            dot_b[m] += dot(qb, xq);
          }
        }
        for (; c < group_end; c += 2u) {
          coders.a = decode_step(ls.a, coders.a);
          coders.b = decode_step(coders.lane_b, coders.b);
          let qa = scaled_indices(coders.a.entry);
          let qb = scaled_indices(coders.b.entry);
          let paired = c + 1u < group_end;
          for (var m = 0u; m < VECTORS; m++) {
            var xp = vec2<f32>(x_at(m * cols + c), 0.0);
            if (paired) {
              xp.y = x_at(m * cols + c + 1u);
            }
            xp *= PAIR_SCALES;
            dot_a[m] += dot(qa, xp);
            dot_b[m] += dot(qb, xp);
          }
        }
        let pa = unpack_params(params[(ls.a.row0 + i) * shape.groups_per_row + g], shape.bf16_params != 0u);
        let pb = unpack_params(params[(coders.lane_b.row0 + i) * shape.groups_per_row + g], shape.bf16_params != 0u);
        for (var m = 0u; m < VECTORS; m++) {
          let sx = x_group_sums[m * shape.groups_per_row + g];
          acc_a[m] += pa.x * dot_a[m] + pa.y * sx;
          acc_b[m] += pb.x * dot_b[m] + pb.y * sx;
        }
      }
      if (shape.segments_per_row == 1u) {
        for (var m = 0u; m < VECTORS; m++) {
          y[m * shape.rows + ls.a.row0 + i] = acc_a[m];
          if (i < ls.rows_b) {
            y[m * shape.rows + ls.b.row0 + i] = acc_b[m];
          }
        }
      }
    }
    finish_pair(ls, coders);
  }
  // Rows cut into segments (then one row per lane): add the segments' partials, passed through
  // the decode table's workgroup memory once every lane is done with it, so the kernel needs no
  // more workgroup memory than the table itself.
  if (shape.segments_per_row > 1u) {
    workgroupBarrier();
    for (var m = 0u; m < VECTORS; m++) {
      if (ls.in_use) {
        table[ls.tile_lane_a * VECTORS + m] = bitcast<u32>(acc_a[m]);
      }
      if (ls.has_b) {
        table[ls.tile_lane_b * VECTORS + m] = bitcast<u32>(acc_b[m]);
      }
    }
    workgroupBarrier();
    for (var block_index = lid; block_index < t.blocks; block_index += WG_SIZE) {
      for (var m = 0u; m < VECTORS; m++) {
        var sum = 0.0;
        for (var s = 0u; s < shape.segments_per_row; s++) {
          sum += bitcast<f32>(table[(s * t.blocks + block_index) * VECTORS + m]);
        }
        y[m * shape.rows + t.first_row + block_index] = sum;
      }
    }
  }
}
