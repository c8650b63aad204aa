// Fused rANS decode + GEMV: y[m] = W · x[m] for VECTORS vectors, W never decompressed in memory.
// Preceded by params.wgsl, an activation variant, rans_lanes.wgsl and a dequantization rule:
// weights_groups.wgsl (a scale and bias per group) or weights_rows.wgsl (ecsq: a step per row,
// exceptions). Each invocation decodes its two lanes in registers and multiplies on the fly, summing
// index·x over a span (a group, or the rule's whole row segment) and applying the span's
// parameters once (`span_value`).

@group(0) @binding(4) var<storage, read> params: array<u32>;
@group(0) @binding(11) var<storage, read_write> y: array<f32>;

override VECTORS: u32 = 1u;

// A step's two indices read in place from its table entry (nibble_floats.wgsl, `scaled_indices`
// in the rule): first·2^16 and second·2^12; the activations they multiply are pre-scaled by
// 2^−16 and 2^−12.
const INDEX_MASKS = vec2<u32>(TABLE_FIRST_INDEX_MASK, TABLE_SECOND_INDEX_MASK);
const PAIR_SCALES = vec2<f32>(1.0 / 65536.0, 1.0 / 4096.0);

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
    var exc_a = exceptions_start(ls.a);
    var exc_b = exceptions_start(ls.b);
    for (var i = 0u; i < ls.rows_a; i++) {
      coders = begin_row(ls, coders, i);
      for (var m = 0u; m < VECTORS; m++) {
        acc_a[m] = 0.0;
        acc_b[m] = 0.0;
      }
      var c = col0;
      for (var g = col0 / gs; c < col1; g++) {
        let span_stop = span_end(col1, g);
        // Explicit zeros: a declaration without initializer in a loop is not re-zeroed by every compiler.
        var dot_a = array<f32, MAX_VECTORS>();
        var dot_b = array<f32, MAX_VECTORS>();
        // Two steps (four weights per lane) per iteration; group sizes are even, so only a
        // row's last span can end on a lone weight (odd cols), handled after the loop.
        for (; c + 4u <= span_stop; c += 4u) {
          coders.a = decode_step(ls.a, coders.a);
          coders.b = decode_step(coders.lane_b, coders.b);
          let ea0 = coders.a.entry;
          let eb0 = coders.b.entry;
          coders.a = decode_step(ls.a, coders.a);
          coders.b = decode_step(coders.lane_b, coders.b);
          let qa = vec4<f32>(scaled_indices(ea0), scaled_indices(coders.a.entry));
          let qb = vec4<f32>(scaled_indices(eb0), scaled_indices(coders.b.entry));
          for (var m = 0u; m < VECTORS; m++) {
            let xq = x_quad(m * cols + c) * vec4<f32>(PAIR_SCALES, PAIR_SCALES);
            dot_a[m] += dot(qa, xq);
            dot_b[m] += dot(qb, xq);
          }
        }
        for (; c < span_stop; c += 2u) {
          coders.a = decode_step(ls.a, coders.a);
          coders.b = decode_step(coders.lane_b, coders.b);
          let qa = scaled_indices(coders.a.entry);
          let qb = scaled_indices(coders.b.entry);
          let paired = c + 1u < span_stop;
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
        // ecsq (a constant false otherwise): the row's exceptions, once its span is summed.
        if (HAS_EXCEPTIONS) {
          exc_a = apply_exceptions(exc_a, i, ls.a, &dot_a);
          if (i < ls.rows_b) {
            exc_b = apply_exceptions(exc_b, i, ls.b, &dot_b);
          }
        }
        let pa = span_params(ls.a.row0 + i, g);
        let pb = span_params(coders.lane_b.row0 + i, g);
        for (var m = 0u; m < VECTORS; m++) {
          acc_a[m] += span_value(pa, dot_a[m], m, g);
          acc_b[m] += span_value(pb, dot_b[m], m, g);
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
    if (HAS_EXCEPTIONS) {
      finish_exceptions(ls.a, exc_a);
      if (ls.has_b) {
        finish_exceptions(ls.b, exc_b);
      }
    }
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
