// Per-lane rANS decoding of the GPU stream layout (docs/FORMAT.md, "Streams").
// Shared by fused.wgsl and decode.wgsl: the host puts this file in front of the kernel file
// (WGSL has no #include). One workgroup decodes one tile. Invocation `lid` decodes two lanes side
// by side (LANES_PER_INVOCATION): blocks 2k and 2k+1 of one segment, so both read the same
// activations, and the two independent state chains hide each other's latency.

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
  // Where the tile checks start in `lane_meta` (decode.wgsl); has_checks 0 when the streams have none.
  checks_offset: u32,
  has_checks: u32,
  // ecsq (weights_rows.wgsl): where the lanes' exception-list starts (lanes + 1 bit offsets) are
  // in `lane_meta`, and the Exp-Golomb order of the lists' gaps.
  exceptions_offset: u32,
  exception_gap_bits: u32,
}

@group(0) @binding(0) var<uniform> shape: StreamShape;
// This dispatch's stream units; the tile directory holds bases relative to this buffer.
@group(0) @binding(1) var<storage, read> streams: array<u32>;
// One buffer (WebGPU guarantees only 8 storage bindings per stage), in u32s:
//  [0, 129)            cumulative pair frequencies c_0 = 0 … c_256 = 2^P as u16 pairs, c_2i in the
//                      low half of u32 i (the decode table is built from them);
//  states_offset + l   initial state of lane l;
//  lengths_offset + i  lengths (in units) of lanes 2i (low half) and 2i+1 (high half);
//  tiles_offset + 2t   tile t's first unit in `streams`, then its striped depth (host-derived);
//  checks_offset + t   tile t's integrity check (sum of its lanes' hashes; decode.wgsl), if any;
//  exceptions_offset + l  ecsq: bit offset of lane l's exception list (host-derived; lanes + 1 entries).
@group(0) @binding(2) var<storage, read> lane_meta: array<u32>;
// [lanes that failed the end-of-stream check, lowest failed lane, tiles that failed the index
// check (decode.wgsl), lowest failed tile]; the host resets it.
@group(0) @binding(3) var<storage, read_write> status: array<atomic<u32>, 4>;

override PRECISION: u32 = 11u;
override TABLE_SIZE: u32 = 1u << PRECISION;
// Invocations per workgroup: the widest tile's lanes / LANES_PER_INVOCATION, rounded up.
override WG_SIZE: u32 = 32u;

var<workgroup> table: array<u32, TABLE_SIZE>;
var<workgroup> tail_scan: array<u32, MAX_LANES_PER_TILE>;

struct Tile {
  index: u32,
  first_row: u32,
  rows_in_tile: u32,
  blocks: u32,
  lanes: u32,
  // Invocations per segment: ⌈blocks / 2⌉ (a lone last block gets an invocation of its own).
  block_pairs: u32,
}

// What a lane needs to find its words and its matrix block; constant while it decodes. The
// changing state is a `Coder`, passed by value (SwiftShader's compiler does not keep a struct
// behind a pointer in registers: a pointer-based step cost it 17 %).
struct Lane {
  x0: u32,      // initial coder state
  words: u32,   // words the lane owns (2 per unit)
  base: u32,    // unit 0 of the striped part
  stride: u32,  // lanes in the tile
  depth: u32,   // striped units per lane
  tail: u32,    // first tail unit
  index: u32,   // global lane number
  // The block the lane codes: rows [row0, row1) × columns [col0, col1).
  row0: u32,
  row1: u32,
  col0: u32,
  col1: u32,
}

// An invocation's two lanes. `b` exists when its block does (has_b); a lone block's invocation
// and the rows past a short last block decode lane a twice (LanePair, below).
struct Lanes {
  in_use: bool,   // the invocation has lanes (workgroups are rounded up)
  has_b: bool,
  a: Lane,
  b: Lane,
  // Rows each lane codes (rows_b = 0 without b); rows_b ≤ rows_a.
  rows_a: u32,
  rows_b: u32,
  // Lane numbers within the tile (segment-major), for the segment partials.
  tile_lane_a: u32,
  tile_lane_b: u32,
}

fn tile_of(workgroup_index: u32) -> Tile {
  var t: Tile;
  t.index = workgroup_index + shape.tile_offset;
  t.first_row = t.index * shape.rows_per_tile;
  t.rows_in_tile = min(shape.rows_per_tile, shape.rows - t.first_row);
  t.blocks = (t.rows_in_tile + shape.rows_per_lane - 1u) / shape.rows_per_lane;
  t.lanes = t.blocks * shape.segments_per_row;
  t.block_pairs = (t.blocks + 1u) / 2u;
  return t;
}

// c_i, the start of pair i's slots (u16 values packed two per u32).
fn cumulative_pair(i: u32) -> u32 {
  return (lane_meta[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
}

fn lane_length(t: Tile, tile_lane: u32) -> u32 {
  let lane = t.index * shape.lanes_per_full_tile + tile_lane;
  return (lane_meta[shape.lengths_offset + (lane >> 1u)] >> ((lane & 1u) * 16u)) & 0xffffu;
}

// Lane `tile_lane` of tile t, whose tail starts `tail_before` units into the tile's tails.
fn make_lane(t: Tile, tile_lane: u32, len: u32, dir: vec2<u32>, tail_before: u32) -> Lane {
  var ln: Lane;
  ln.index = t.index * shape.lanes_per_full_tile + tile_lane;
  ln.x0 = lane_meta[shape.states_offset + ln.index];
  ln.words = 2u * len;
  ln.base = dir.x + tile_lane;
  ln.stride = t.lanes;
  ln.depth = dir.y;
  ln.tail = dir.x + dir.y * t.lanes + tail_before;
  let segment = tile_lane / t.blocks;
  let block_index = tile_lane % t.blocks;
  ln.row0 = t.first_row + block_index * shape.rows_per_lane;
  ln.row1 = min(ln.row0 + shape.rows_per_lane, t.first_row + t.rows_in_tile);
  ln.col0 = segment * shape.segment_length;
  ln.col1 = min(shape.cols, ln.col0 + shape.segment_length);
  return ln;
}

// Builds the decode table of the pair alphabet in workgroup memory from the 257 cumulative pair
// frequencies (516 bytes read instead of a 2^P-entry table) and sets up the invocation's lanes.
// Every invocation of the workgroup must call it (it has barriers).
fn start_lanes(lid: u32, t: Tile) -> Lanes {
  for (var s = lid; s < 256u; s += WG_SIZE) {
    let lo = cumulative_pair(s);
    let hi = min(cumulative_pair(s + 1u), TABLE_SIZE); // clamped: corrupt tables stay in bounds
    for (var slot = lo; slot < hi; slot++) {
      table[slot] = (slot - lo) | (s << TABLE_PAIR_SHIFT) | ((hi - lo) << TABLE_FREQ_SHIFT);
    }
  }
  var ls: Lanes;
  let segment = lid / t.block_pairs;
  let block_index = 2u * (lid % t.block_pairs);
  ls.in_use = segment < shape.segments_per_row;
  ls.has_b = ls.in_use && block_index + 1u < t.blocks;
  ls.tile_lane_a = segment * t.blocks + block_index;
  ls.tile_lane_b = ls.tile_lane_a + 1u;
  let dir = vec2<u32>(lane_meta[shape.tiles_offset + 2u * t.index], lane_meta[shape.tiles_offset + 2u * t.index + 1u]);
  var len_a = 0u;
  var len_b = 0u;
  if (ls.in_use) {
    len_a = lane_length(t, ls.tile_lane_a);
  }
  if (ls.has_b) {
    len_b = lane_length(t, ls.tile_lane_b);
  }
  // A lane's tail starts after the tails of the lanes before it: inclusive prefix sum over the
  // tile's lanes (each owned by exactly one invocation), ⌈log2 lanes⌉ rounds.
  let tail_a = select(0u, len_a - dir.y, ls.in_use);
  let tail_b = select(0u, len_b - dir.y, ls.has_b);
  if (ls.in_use) {
    tail_scan[ls.tile_lane_a] = tail_a;
  }
  if (ls.has_b) {
    tail_scan[ls.tile_lane_b] = tail_b;
  }
  for (var offset = 1u; offset < t.lanes; offset = offset * 2u) {
    workgroupBarrier();
    var va = 0u;
    var vb = 0u;
    if (ls.in_use && ls.tile_lane_a >= offset) {
      va = tail_scan[ls.tile_lane_a - offset];
    }
    if (ls.has_b && ls.tile_lane_b >= offset) {
      vb = tail_scan[ls.tile_lane_b - offset];
    }
    workgroupBarrier();
    if (ls.in_use) {
      tail_scan[ls.tile_lane_a] += va;
    }
    if (ls.has_b) {
      tail_scan[ls.tile_lane_b] += vb;
    }
  }
  workgroupBarrier();
  if (ls.in_use) {
    ls.a = make_lane(t, ls.tile_lane_a, len_a, dir, tail_scan[ls.tile_lane_a] - tail_a);
    ls.rows_a = ls.a.row1 - ls.a.row0;
    ls.b = ls.a;
    if (ls.has_b) {
      ls.b = make_lane(t, ls.tile_lane_b, len_b, dir, tail_scan[ls.tile_lane_b] - tail_b);
      ls.rows_b = ls.b.row1 - ls.b.row0;
    }
  }
  return ls;
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
// Units are loaded two ahead of the one being read (`next`, `after`): a load is first read about
// eight steps after it was issued, so a lane's serial chain does not wait on memory every step.
struct Coder {
  x: u32,     // coder state, in [L, 2^32) between steps
  k: u32,     // 16-bit words read so far
  unit: u32,  // unit k/2: holds word k, the next word to read
  next: u32,  // unit k/2 + 1, loaded ahead
  after: u32, // unit k/2 + 2, loaded ahead
  entry: u32, // the table entry of the last step: its pair's first index in bits 16-19, second in 12-15
}

fn first_coder(ln: Lane) -> Coder {
  return Coder(ln.x0, 0u, lane_unit(ln, 0u), lane_unit(ln, 1u), lane_unit(ln, 2u), 0u);
}

// One rANS step: slot lookup, state update f·⌊x/M⌋ + slot − c, at most one word of
// renormalization. Decodes a pair: two weights. The renormalization is a select, not a branch:
// the next word is always at hand in `unit`, so lanes of a SIMD group that refill and lanes that
// do not run the same instructions. Moving to the next unit (a quarter of the steps) is a
// branch, so that its load only writes `after` and nothing reads it in this step (a `select`
// over the loaded value would read it at once). On an H200 decode-only ran 7–10 % faster so than
// with the unit loaded in the same step; fused unchanged (docs/KERNELS.md).
fn decode_step(ln: Lane, c: Coder) -> Coder {
  let e = table[c.x & (TABLE_SIZE - 1u)];
  let x = (e >> TABLE_FREQ_SHIFT) * (c.x >> PRECISION) + (e & TABLE_OFFSET_MASK);
  let refill = x < STATE_LOWER_BOUND;
  let word = select(c.unit, c.unit >> 16u, (c.k & 1u) == 1u) & 0xffffu;
  var d = Coder(select(x, (x << 16u) | word, refill), c.k + u32(refill), c.unit, c.next, c.after, e);
  if (refill && (c.k & 1u) == 1u) {
    d.unit = c.next;
    d.next = c.after;
    d.after = lane_unit(ln, (d.k >> 1u) + 2u);
  }
  return d;
}

// An intact lane ends in state L with every word read (the last unit's high half may be padding).
fn finish_lane(ln: Lane, c: Coder) {
  let padding_only = c.k + 1u == ln.words && (lane_unit(ln, c.k >> 1u) >> 16u) == 0u;
  if (c.x != STATE_LOWER_BOUND || !(c.k == ln.words || padding_only)) {
    atomicAdd(&status[0], 1u);
    atomicMin(&status[1], ln.index);
  }
}

// The coders of an invocation's two lanes. Lane b may code fewer rows than lane a (a tile's
// short last block) or none (a lone block): from its last row on, b mirrors a — it decodes lane
// a's stream again (same reads, results dropped) — after its own final state was kept in b_end.
struct LanePair {
  a: Coder,
  b: Coder,
  lane_b: Lane,  // the lane b decodes now: ls.b, then ls.a once mirroring
  b_end: Coder,  // lane b's state after its last row
}

fn start_pair(ls: Lanes) -> LanePair {
  let a = first_coder(ls.a);
  let b = first_coder(ls.b);
  return LanePair(a, b, ls.b, b);
}

// Call before decoding row i of lane a.
fn begin_row(ls: Lanes, p: LanePair, i: u32) -> LanePair {
  if (i != ls.rows_b) {
    return p;
  }
  return LanePair(p.a, p.a, ls.a, p.b);
}

// The end-of-stream checks of both lanes, after lane a's last row.
fn finish_pair(ls: Lanes, p: LanePair) {
  finish_lane(ls.a, p.a);
  if (ls.has_b) {
    var b = p.b_end;
    if (ls.rows_b == ls.rows_a) {
      b = p.b;
    }
    finish_lane(ls.b, b);
  }
}
