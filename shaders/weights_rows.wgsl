// Dequantization by rows (ecsq): w = Δ_r·v, one f32 step per row in `params` (the E5M3 step
// widened on the host). Index i stands for v = i − ZERO_INDEX, read as such straight from the
// table entry. A weight whose v lies beyond [−8, 7] was coded clamped and is an exception in its
// lane's list (docs/FORMAT.md, "Exceptions"): after each row of the main loop the lane adds
// (v − clamped v)·x for the row's exceptions, so the loop itself does no exception work. A row
// segment is one span: its Σv·x is multiplied by the step once, with no group sums.

@group(0) @binding(12) var<storage, read> exceptions: array<u32>;

const HAS_EXCEPTIONS = true;

// The index fields of an entry minus ZERO_INDEX in place: masked_to_f32x2 leaves q·2^b, and
// 2^23 + ZERO_INDEX·2^b is exact in f32, so (q − ZERO_INDEX)·2^b costs no extra operation.
const SIGNED_BIAS = vec2<f32>(f32(ZERO_INDEX << (TABLE_PAIR_SHIFT + 4u)), f32(ZERO_INDEX << TABLE_PAIR_SHIFT));

fn scaled_indices(entry: u32) -> vec2<f32> {
  return masked_to_f32x2(vec2<u32>(entry) & INDEX_MASKS) - SIGNED_BIAS;
}

fn span_end(col1: u32, g: u32) -> u32 {
  return col1;
}

fn span_params(row: u32, g: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(params[row]), 0.0);
}

fn span_value(p: vec2<f32>, dot_qx: f32, m: u32, g: u32) -> f32 {
  return p.x * dot_qx;
}

const NO_EXCEPTION = 0xffffffffu;

// A lane's place in its exception list: the next exception (its position in the lane's block,
// decode order, and its correction v − clamped v) and where reading goes on.
struct Exceptions {
  at: u32,    // next unread bit of the lists
  end: u32,   // the lane's list ends here (the next lane's starts)
  next: u32,  // position of the next exception; NO_EXCEPTION when none is left
  fix: f32,   // its correction
  after: u32, // the position after the previous exception (gaps count from it)
}

// 32 bits of the lists from bit `at` (clamped to the buffer: corrupt starts read garbage, never
// out of bounds; the end-of-lane check reports them).
fn list_bits(at: u32) -> u32 {
  let last = arrayLength(&exceptions) - 1u;
  let lo = exceptions[min(at >> 5u, last)];
  let s = at & 31u;
  if (s == 0u) {
    return lo;
  }
  return (lo >> s) | (exceptions[min((at >> 5u) + 1u, last)] << (32u - s));
}

// Exp-Golomb of order k at bit `at`, least significant bit first: (value, bits it takes).
fn exp_golomb(at: u32, k: u32) -> vec2<u32> {
  let z = min(countTrailingZeros(list_bits(at)), 31u);
  var m = 1u << z;
  if (z > 0u) {
    m |= list_bits(at + z + 1u) & ((1u << z) - 1u);
  }
  var low = 0u;
  if (k > 0u) {
    low = list_bits(at + 2u * z + 1u) & ((1u << k) - 1u);
  }
  return vec2<u32>(((m - 1u) << k) | low, 2u * z + 1u + k);
}

// Reads the next entry: gap (order exception_gap_bits), sign, excess (order 0).
fn next_exception(e: Exceptions) -> Exceptions {
  var r = e;
  if (r.at >= r.end) {
    r.next = NO_EXCEPTION;
    return r;
  }
  let gap = exp_golomb(r.at, shape.exception_gap_bits);
  r.next = r.after + gap.x;
  r.after = r.next + 1u;
  let negative = (list_bits(r.at + gap.y) & 1u) != 0u;
  let excess = exp_golomb(r.at + gap.y + 1u, 0u);
  r.at += gap.y + 1u + excess.y;
  // v = 8 + excess over the clamped 7, or −9 − excess under the clamped −8: v − clamped = ±(excess + 1).
  let d = f32(excess.x) + 1.0;
  r.fix = select(d, -d, negative);
  return r;
}

fn exceptions_start(ln: Lane) -> Exceptions {
  let first_bit = lane_meta[shape.exceptions_offset + ln.index];
  return next_exception(Exceptions(first_bit, lane_meta[shape.exceptions_offset + ln.index + 1u], NO_EXCEPTION, 0.0, 0u));
}

// Adds row i's exceptions (lane positions [i·width, (i + 1)·width)) to its sums. Positions only
// grow and every entry takes ≥ 3 bits of a bounded list, so the loop ends whatever the data says.
fn apply_exceptions(e: Exceptions, i: u32, ln: Lane, dots: ptr<function, array<f32, MAX_VECTORS>>) -> Exceptions {
  var r = e;
  let width = ln.col1 - ln.col0;
  let row_start = i * width;
  loop {
    if (r.next >= row_start + width || r.next < row_start) {
      break;
    }
    let col = ln.col0 + r.next - row_start;
    for (var m = 0u; m < VECTORS; m++) {
      (*dots)[m] += r.fix * x_at(m * shape.cols + col);
    }
    r = next_exception(r);
  }
  return r;
}

// An intact lane has applied every exception and read exactly its own list.
fn finish_exceptions(ln: Lane, e: Exceptions) {
  if (e.next != NO_EXCEPTION || e.at != e.end) {
    atomicAdd(&status[0], 1u);
    atomicMin(&status[1], ln.index);
  }
}
