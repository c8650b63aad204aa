// rANS streams → plain q4 nibbles (u32 [rows, ceil(cols/8)], index k in bits 4·(k mod 8) of
// word k/8): for "decode once, then run q4" and for bit-exact tests of the GPU decoder.
// Preceded by rans_lanes.wgsl. Segments start at multiples of 8 columns, so no word is shared.

// The nibbles of this dispatch's rows only (from row tile_offset · rows_per_tile on).
@group(0) @binding(4) var<storage, read_write> nibbles: array<u32>;

// Sum (mod 2^32) of the tile's lane hashes (laneHash in src/rans/codec.ts; a sum, not an XOR, so
// that equal lane hashes do not cancel), compared with the stored check:
// a stream can end in a valid state and still decode wrong indices; this catches it.
var<workgroup> tile_hash: atomic<u32>;

// The lane hash's running sums: a += v + 1, b += a per decoded pair (v in column order).
fn hash_step(h: vec2<u32>, v: u32) -> vec2<u32> {
  let a = h.x + v + 1u;
  return vec2<u32>(a, h.y + a);
}

fn lane_hash(h: vec2<u32>, tile_lane: u32) -> u32 {
  return h.x ^ (h.y * LANE_HASH_B) ^ (tile_lane * LANE_HASH_LANE);
}

// A step's two indices as nibbles in column order (first index in the low nibble).
fn column_order(entry: u32) -> u32 {
  return ((entry & TABLE_FIRST_INDEX_MASK) >> (TABLE_PAIR_SHIFT + 4u)) | ((entry & TABLE_SECOND_INDEX_MASK) >> (TABLE_PAIR_SHIFT - 4u));
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid.x);
  if (lid == 0u) {
    atomicStore(&tile_hash, 0u);
  }
  let ls = start_lanes(lid, t); // its barriers order the store above before any atomicAdd below
  if (ls.in_use) {
    var hash_a = vec2<u32>(0u, 0u);
    var hash_b = vec2<u32>(0u, 0u);
    let words_per_row = (shape.cols + 7u) / 8u;
    let first_row = shape.tile_offset * shape.rows_per_tile;
    let col0 = ls.a.col0;
    let col1 = ls.a.col1;
    var coders = start_pair(ls);
    for (var i = 0u; i < ls.rows_a; i++) {
      coders = begin_row(ls, coders, i);
      let out_a = (ls.a.row0 + i - first_row) * words_per_row;
      let out_b = (ls.b.row0 + i - first_row) * words_per_row;
      var word_a = 0u;
      var word_b = 0u;
      // Pairs start at even offsets from col0 (a multiple of 8), so a pair never straddles words.
      for (var c = col0; c < col1; c += 2u) {
        coders.a = decode_step(ls.a, coders.a);
        coders.b = decode_step(coders.lane_b, coders.b);
        var two_a = column_order(coders.a.entry);
        var two_b = column_order(coders.b.entry);
        // An odd segment's pad is dropped.
        if (c + 1u == col1) {
          two_a &= 15u;
          two_b &= 15u;
        }
        hash_a = hash_step(hash_a, two_a);
        if (i < ls.rows_b) { // past lane b's rows it mirrors lane a: not its indices
          hash_b = hash_step(hash_b, two_b);
        }
        let at = (c & 7u) * 4u;
        word_a |= two_a << at;
        word_b |= two_b << at;
        if ((c & 7u) == 6u || c + 2u >= col1) {
          nibbles[out_a + (c >> 3u)] = word_a;
          if (i < ls.rows_b) {
            nibbles[out_b + (c >> 3u)] = word_b;
          }
          word_a = 0u;
          word_b = 0u;
        }
      }
    }
    finish_pair(ls, coders);
    var h = lane_hash(hash_a, ls.tile_lane_a);
    if (ls.has_b) {
      h += lane_hash(hash_b, ls.tile_lane_b);
    }
    atomicAdd(&tile_hash, h);
  }
  workgroupBarrier();
  if (lid == 0u && shape.has_checks == 1u && atomicLoad(&tile_hash) != lane_meta[shape.checks_offset + t.index]) {
    atomicAdd(&status[2], 1u);
    atomicMin(&status[3], t.index);
  }
}
