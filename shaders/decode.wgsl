// rANS streams → plain q4 nibbles (u32 [rows, ceil(cols/8)], index k in bits 4·(k mod 8) of
// word k/8): for "decode once, then run q4" and for bit-exact tests of the GPU decoder.
// Preceded by rans_lanes.wgsl. Segments start at multiples of 8 columns, so no word is shared.

// The nibbles of this dispatch's rows only (from row tile_offset · rows_per_tile on).
@group(0) @binding(4) var<storage, read_write> nibbles: array<u32>;

// A step's two indices as nibbles in column order (first index in the low nibble).
fn column_order(entry: u32) -> u32 {
  return ((entry & TABLE_FIRST_INDEX_MASK) >> (TABLE_PAIR_SHIFT + 4u)) | ((entry & TABLE_SECOND_INDEX_MASK) >> (TABLE_PAIR_SHIFT - 4u));
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid.x);
  let ls = start_lanes(lid, t);
  if (ls.in_use) {
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
  }
}
