// rANS streams → plain q4 nibbles (u32 [rows, ceil(cols/8)], index k in bits 4·(k mod 8) of
// word k/8): for "decode once, then run q4" and for bit-exact tests of the GPU decoder.
// Preceded by rans_lanes.wgsl. Segments start at multiples of 8 columns, so no word is shared.

// The nibbles of this dispatch's rows only (from row tile_offset · rows_per_tile on).
@group(0) @binding(4) var<storage, read_write> nibbles: array<u32>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = tile_of(wid.x);
  let ln = start_lane(lid, t);
  var coder = Coder(ln.x0, 0u, 0u, 0u);
  if (lid < t.lanes) {
    let reg = region_of(lid, t);
    let words_per_row = (shape.cols + 7u) / 8u;
    let first_row = shape.tile_offset * shape.rows_per_tile;
    for (var r = reg.row0; r < reg.row1; r++) {
      var word = 0u;
      // Pairs start at even offsets from col0 (a multiple of 8), so a pair never straddles words.
      for (var c = reg.col0; c < reg.col1; c += 2u) {
        coder = decode_step(ln, coder);
        // First index to the lower nibble; an odd segment's pad is dropped.
        var two = (coder.pair >> 4u) | ((coder.pair & 15u) << 4u);
        if (c + 1u == reg.col1) {
          two &= 15u;
        }
        word |= two << ((c & 7u) * 4u);
        if ((c & 7u) == 6u || c + 2u >= reg.col1) {
          nibbles[(r - first_row) * words_per_row + (c >> 3u)] = word;
          word = 0u;
        }
      }
    }
    finish_lane(ln, coder);
  }
}
