// Per-lane rANS decoding of the GPU stream layout (docs/FORMAT.md, "Streams").
// Shared by fused.wgsl and decode.wgsl: the host puts this file in front of the kernel file
// (WGSL has no #include). One workgroup decodes one tile; invocation `lid` decodes lane `lid`.

struct StreamShape {
  rows: u32,
  cols: u32,
  segment_length: u32,
  rows_per_lane: u32,
  rows_per_tile: u32,
  segments_per_row: u32,
  group_size: u32,
  groups_per_row: u32,
  lanes_per_full_tile: u32,
  // First tile of this dispatch: matrices too large for one binding are split by tiles.
  tile_offset: u32,
  // 1 when the 16-bit quantization parameters are bf16, 0 for f16.
  bf16_params: u32,
  // Where the lane states, lane lengths and tile directory start in `lane_meta`.
  states_offset: u32,
  lengths_offset: u32,
  tiles_offset: u32,
}

@group(0) @binding(0) var<uniform> shape: StreamShape;
// This dispatch's stream units; the tile directory holds bases relative to this buffer.
@group(0) @binding(1) var<storage, read> streams: array<u32>;
// One buffer (WebGPU guarantees only 8 storage bindings per stage), in u32s:
//  [0, 129)            cumulative pair frequencies c_0 = 0 … c_256 = 2^P as u16 pairs, c_2i in the
//                      low half of u32 i (the decode table is built from them);
//  states_offset + l   initial state of lane l;
//  lengths_offset + i  lengths (in units) of lanes 2i (low half) and 2i+1 (high half);
//  tiles_offset + 2t   tile t's first unit in `streams`, then its striped depth (host-derived).
@group(0) @binding(2) var<storage, read> lane_meta: array<u32>;
// [lanes that failed the end-of-stream check, lowest failed lane]; the host resets it.
@group(0) @binding(3) var<storage, read_write> status: array<atomic<u32>, 2>;

override PRECISION: u32 = 11u;
override TABLE_SIZE: u32 = 1u << PRECISION;
override WG_SIZE: u32 = 64u;
const STATE_LOWER_BOUND: u32 = 65536u;

var<workgroup> table: array<u32, TABLE_SIZE>;
var<workgroup> tail_scan: array<u32, WG_SIZE>;

struct Tile {
  index: u32,
  first_row: u32,
  rows_in_tile: u32,
  blocks: u32,
  lanes: u32,
}

// What a lane needs to find its words; constant while it decodes. The changing state is a
// `Coder`, passed by value (SwiftShader's compiler does not keep a struct behind a pointer in
// registers: a pointer-based step cost it 17 %).
struct Lane {
  x0: u32,      // initial coder state
  words: u32,   // words the lane owns (2 per unit)
  base: u32,    // unit 0 of the striped part
  stride: u32,  // lanes in the tile
  depth: u32,   // striped units per lane
  tail: u32,    // first tail unit
  index: u32,   // global lane number
}

fn tile_of(workgroup_index: u32) -> Tile {
  var t: Tile;
  t.index = workgroup_index + shape.tile_offset;
  t.first_row = t.index * shape.rows_per_tile;
  t.rows_in_tile = min(shape.rows_per_tile, shape.rows - t.first_row);
  t.blocks = (t.rows_in_tile + shape.rows_per_lane - 1u) / shape.rows_per_lane;
  t.lanes = t.blocks * shape.segments_per_row;
  return t;
}

// c_i, the start of pair i's slots (u16 values packed two per u32).
fn cumulative_pair(i: u32) -> u32 {
  return (lane_meta[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
}

// Builds the decode table of the pair alphabet in workgroup memory from the 257 cumulative pair
// frequencies (516 bytes read instead of a 2^P-entry table) and sets up lane `lid`. Every invocation
// of the workgroup must call it (it has barriers); lanes past t.lanes get an idle, valid state.
// Table entry: pair (bits 0-7; first index in bits 4-7), slot - start (bits 8-19), frequency
// (bits 20-31, < 2^12 by construction).
fn start_lane(lid: u32, t: Tile) -> Lane {
  for (var s = lid; s < 256u; s += WG_SIZE) {
    let lo = cumulative_pair(s);
    let hi = min(cumulative_pair(s + 1u), TABLE_SIZE); // clamped: corrupt tables stay in bounds
    for (var slot = lo; slot < hi; slot++) {
      table[slot] = s | ((slot - lo) << 8u) | ((hi - lo) << 20u);
    }
  }
  let is_active = lid < t.lanes;
  let lane = t.index * shape.lanes_per_full_tile + lid;
  let dir = vec2<u32>(lane_meta[shape.tiles_offset + 2u * t.index], lane_meta[shape.tiles_offset + 2u * t.index + 1u]);
  var len = 0u;
  if (is_active) {
    len = (lane_meta[shape.lengths_offset + (lane >> 1u)] >> ((lane & 1u) * 16u)) & 0xffffu;
  }
  // A lane's tail starts after the tails of the lanes before it: inclusive prefix sum.
  let tail_len = select(0u, len - dir.y, is_active);
  tail_scan[lid] = tail_len;
  for (var offset = 1u; offset < WG_SIZE; offset = offset * 2u) {
    workgroupBarrier();
    var v = 0u;
    if (lid >= offset) {
      v = tail_scan[lid - offset];
    }
    workgroupBarrier();
    tail_scan[lid] += v;
  }
  workgroupBarrier();
  var ln: Lane;
  ln.x0 = STATE_LOWER_BOUND;
  if (is_active) {
    ln.x0 = lane_meta[shape.states_offset + lane];
  }
  ln.words = 2u * len;
  ln.base = dir.x + lid;
  ln.stride = t.lanes;
  ln.depth = dir.y;
  ln.tail = dir.x + dir.y * t.lanes + tail_scan[lid] - tail_len;
  ln.index = lane;
  return ln;
}

// Unit u (two 16-bit words) of the lane: striped part first, then the lane's tail. The address
// is clamped to the buffer, so corrupt lengths read garbage, never out of bounds; the
// end-of-lane check reports them. No loop depends on the data.
fn lane_unit(ln: Lane, u: u32) -> u32 {
  var addr = ln.tail + (u - ln.depth);
  if (u < ln.depth) {
    addr = ln.base + u * ln.stride;
  }
  return streams[min(addr, arrayLength(&streams) - 1u)];
}

// The decoder's changing state, carried by value so that every compiler keeps it in registers.
struct Coder {
  x: u32,     // coder state, in [L, 2^32) between steps
  k: u32,     // 16-bit words read so far
  unit: u32,  // the u32 holding word k (loaded when k is even)
  pair: u32,  // the pair the last step decoded: first index in bits 4-7, second in bits 0-3
}

// One rANS step: slot lookup, state update f·⌊x/M⌋ + slot − c, at most one word of
// renormalization. Decodes a pair: two weights.
fn decode_step(ln: Lane, c: Coder) -> Coder {
  let e = table[c.x & (TABLE_SIZE - 1u)];
  var next = c;
  next.x = (e >> 20u) * (c.x >> PRECISION) + ((e >> 8u) & 0xfffu);
  if (next.x < STATE_LOWER_BOUND) {
    if ((c.k & 1u) == 0u) {
      next.unit = lane_unit(ln, c.k >> 1u);
    }
    next.x = (next.x << 16u) | ((next.unit >> ((c.k & 1u) * 16u)) & 0xffffu);
    next.k = c.k + 1u;
  }
  next.pair = e & 0xffu;
  return next;
}

// An intact lane ends in state L with every word read (the last unit's high half may be padding).
fn finish_lane(ln: Lane, c: Coder) {
  let padding_only = c.k + 1u == ln.words && (lane_unit(ln, c.k >> 1u) >> 16u) == 0u;
  if (c.x != STATE_LOWER_BOUND || !(c.k == ln.words || padding_only)) {
    atomicAdd(&status[0], 1u);
    atomicMin(&status[1], ln.index);
  }
}

// The matrix block lane `lid` codes: rows [row0, row1) × columns [col0, col1).
struct Region {
  row0: u32,
  row1: u32,
  col0: u32,
  col1: u32,
}

fn region_of(lid: u32, t: Tile) -> Region {
  let segment_index = lid / t.blocks;
  let block_index = lid % t.blocks;
  var r: Region;
  r.row0 = t.first_row + block_index * shape.rows_per_lane;
  r.row1 = min(r.row0 + shape.rows_per_lane, t.first_row + t.rows_in_tile);
  r.col0 = segment_index * shape.segment_length;
  r.col1 = min(shape.cols, r.col0 + shape.segment_length);
  return r;
}
