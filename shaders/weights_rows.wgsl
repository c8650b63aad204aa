// Dequantization by rows (ecsq): w = Δ_r·v, one f32 step per row in `params` (the f16 step
// widened on the host). Index i ≠ ESCAPE_INDEX stands for v = i − ZERO_INDEX and is read as such
// straight from the table entry; an escape index reads as ESCAPE_INDEX − ZERO_INDEX and a
// correction (v − that)·x is added from the lane's escape list (docs/FORMAT.md, "Escapes"). A row
// segment is one span: its Σv·x is multiplied by the step once, with no group sums.

@group(0) @binding(12) var<storage, read> escapes: array<u32>;

const HAS_ESCAPES = true;

// The index fields of an entry minus ZERO_INDEX in place: masked_to_f32x2 leaves q·2^b, and
// 2^23 + ZERO_INDEX·2^b is exact in f32, so (q − ZERO_INDEX)·2^b costs no extra operation.
const SIGNED_BIAS = vec2<f32>(f32(ZERO_INDEX << (TABLE_PAIR_SHIFT + 4u)), f32(ZERO_INDEX << TABLE_PAIR_SHIFT));

fn scaled_indices(entry: u32) -> vec2<f32> {
  return masked_to_f32x2(vec2<u32>(entry) & INDEX_MASKS) - SIGNED_BIAS;
}

fn span_end(c: u32, col1: u32, g: u32) -> u32 {
  return col1;
}

fn span_params(row: u32, g: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(params[row]), 0.0);
}

fn span_value(p: vec2<f32>, dot_qx: f32, m: u32, g: u32) -> f32 {
  return p.x * dot_qx;
}

fn escape_start(ln: Lane) -> u32 {
  return lane_meta[shape.escapes_offset + ln.index];
}

fn has_escape(entry: u32) -> bool {
  return (entry & TABLE_FIRST_INDEX_MASK) == (ESCAPE_INDEX << (TABLE_PAIR_SHIFT + 4u))
    || (entry & TABLE_SECOND_INDEX_MASK) == (ESCAPE_INDEX << TABLE_PAIR_SHIFT);
}

// Nibble k of the escape lists; clamped to the buffer, so a corrupt list reads garbage, never out
// of bounds (the end-of-lane check reports it).
fn escape_nibble(k: u32) -> u32 {
  return (escapes[min(k >> 3u, arrayLength(&escapes) - 1u)] >> ((k & 7u) * 4u)) & 0xfu;
}

// The next value of the list (|v| ≥ ESCAPE_MIN), as the correction v − (ESCAPE_INDEX − ZERO_INDEX).
fn escape_correction(cursor: ptr<function, u32>) -> f32 {
  let first = escape_nibble(*cursor);
  *cursor += 1u;
  var mag = first & ESCAPE_DIGIT_MASK;
  if (mag == ESCAPE_DIGIT_MASK) {
    // Bounded whatever the data says: at most ESCAPE_MAX_DIGITS digits.
    for (var d = 0u; d < ESCAPE_MAX_DIGITS; d++) {
      let n = escape_nibble(*cursor);
      *cursor += 1u;
      mag += (n & ESCAPE_DIGIT_MASK) << (3u * d);
      if ((n & ESCAPE_MORE_BIT) == 0u) {
        break;
      }
    }
  }
  let v = f32(ESCAPE_MIN + mag);
  return select(v, -v, (first & ESCAPE_SIGN_BIT) != 0u) + f32(ZERO_INDEX - ESCAPE_INDEX);
}

// Corrections of a step's two weights (the second only when `paired`: an odd segment's pad is
// not a weight), taking their values from the list at `cursor`.
fn escape_pair(entry: u32, paired: bool, cursor: ptr<function, u32>) -> vec2<f32> {
  var fix = vec2<f32>(0.0);
  if ((entry & TABLE_FIRST_INDEX_MASK) == (ESCAPE_INDEX << (TABLE_PAIR_SHIFT + 4u))) {
    fix.x = escape_correction(cursor);
  }
  if (paired && (entry & TABLE_SECOND_INDEX_MASK) == (ESCAPE_INDEX << TABLE_PAIR_SHIFT)) {
    fix.y = escape_correction(cursor);
  }
  return fix;
}

// An intact lane has read exactly its own list: it ends where the next lane's starts.
fn finish_escapes(ln: Lane, c: Coder) {
  if (c.esc != lane_meta[shape.escapes_offset + ln.index + 1u]) {
    atomicAdd(&status[0], 1u);
    atomicMin(&status[1], ln.index);
  }
}
