// Plain 4-bit GEMV baseline on the same quantization: nibbles u32 [rows, ceil(cols/8)] (index k
// in bits 4·(k mod 8) of word k/8) plus one packed scale/bias per group. Preceded by
// rows_{subgroup,workgroup}.wgsl, params.wgsl, nibble_floats.wgsl, an activation variant and
// activations.wgsl.
//
// Each invocation reads WORDS consecutive u32 (8·WORDS weights, one group) per row per step,
// coalesced across the workgroup; the activations are loaded once per step and reused for all
// ROWS_PER_GROUP rows; acc += s·(q·x) + b·Σx keeps the scale and bias out of the per-weight work.
// Per weight the hot loop does AND, OR, subtract and FMA: no shift and no int→float conversion
// (quarter-rate on Apple GPUs), as MLX's qmv avoids them too.

struct Q4Shape {
  // Rows of this dispatch (nibbles hold only them) and where they sit in the whole matrix.
  rows: u32,
  first_row: u32,
  total_rows: u32,
  cols: u32,
  group_size: u32,
  groups_per_row: u32,
  bf16_params: u32,
}

@group(0) @binding(0) var<uniform> shape: Q4Shape;
// As vec4s: a step of four words is one 16-byte load when rows are a multiple of 32 columns (the
// host rounds these buffers up to 16 bytes); other shapes read single words out of the vec4s.
@group(0) @binding(1) var<storage, read> nibbles: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(11) var<storage, read_write> y: array<f32>;

override VECTORS: u32 = 1u;
// u32 words an invocation reads per row and step (1..MAX_Q4_WORDS). The host picks it so that
// 8·WORDS divides the group size (a step never crosses a group) and WORDS·VECTORS ≤ 8 (registers).
override WORDS: u32 = 4u;
const_assert MAX_Q4_WORDS == 4u; // one vec4<u32> of nibbles per step

// The four nibbles in bits 0..15 of a word are read in place as q_j·16^j (nibble_floats.wgsl);
// the activations they multiply are pre-scaled by 16^−j.
const NIBBLE_MASKS = vec4<u32>(0xfu, 0xf0u, 0xf00u, 0xf000u);
const NIBBLE_SCALES = vec4<f32>(1.0, 1.0 / 16.0, 1.0 / 256.0, 1.0 / 4096.0);

fn scaled_nibbles(half: u32) -> vec4<f32> {
  return masked_to_f32(vec4<u32>(half) & NIBBLE_MASKS);
}

@compute @workgroup_size(ROW_THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, inputs: RowInputs) {
  // Groups of THREADS_PER_ROW invocations, ROWS_PER_GROUP rows each (see rows_*.wgsl).
  let lane = inputs.lid % THREADS_PER_ROW;
  let row0 = ((wid.y * groups.x + wid.x) * (ROW_THREADS / THREADS_PER_ROW) + inputs.lid / THREADS_PER_ROW) * ROWS_PER_GROUP;
  let words_per_row = (shape.cols + 7u) / 8u;
  let steps = (words_per_row + WORDS - 1u) / WORDS;
  let bf16 = shape.bf16_params != 0u;
  var acc: array<f32, ROWS_PER_GROUP * MAX_VECTORS>;
  for (var s = lane; s < steps; s += THREADS_PER_ROW) {
    let w0 = s * WORDS;
    let c0 = 8u * w0;
    let g = c0 / shape.group_size;
    // The step's activations, four per nibble position j pre-scaled by 16^-j, and their sum.
    var xv: array<array<vec4<f32>, 2u * MAX_Q4_WORDS>, MAX_VECTORS>;
    var xs: array<f32, MAX_VECTORS>;
    for (var m = 0u; m < VECTORS; m++) {
      var sum = vec4<f32>(0.0);
      for (var k = 0u; k < MAX_Q4_WORDS; k++) {
        if (k >= WORDS) {
          break;
        }
        let v = load_x8(m, c0 + 8u * k);
        sum += v[0] + v[1];
        xv[m][2u * k] = v[0] * NIBBLE_SCALES;
        xv[m][2u * k + 1u] = v[1] * NIBBLE_SCALES;
      }
      xs[m] = dot(sum, vec4<f32>(1.0));
    }
    // Only a row's last step can run past its words: those read as 0 (their x are 0 too).
    let whole = w0 + WORDS <= words_per_row;
    let aligned = whole && WORDS == 4u && words_per_row % 4u == 0u;
    for (var r = 0u; r < ROWS_PER_GROUP; r++) {
      let row = row0 + r;
      if (row < shape.rows) {
        let base = row * words_per_row + w0;
        // Explicit zeros: a declaration without initializer in a loop is not re-zeroed by every compiler.
        var dots = array<f32, MAX_VECTORS>();
        var words = vec4<u32>();
        if (aligned) {
          words = nibbles[base >> 2u];
        } else {
          for (var k = 0u; k < WORDS && w0 + k < words_per_row; k++) {
            words[k] = nibbles[(base + k) >> 2u][(base + k) & 3u];
          }
        }
        for (var k = 0u; k < MAX_Q4_WORDS; k++) {
          if (k >= WORDS) {
            break;
          }
          let word = words[k];
          let low = scaled_nibbles(word);
          let high = scaled_nibbles(word >> 16u);
          for (var m = 0u; m < VECTORS; m++) {
            dots[m] += dot(low, xv[m][2u * k]) + dot(high, xv[m][2u * k + 1u]);
          }
        }
        let p = unpack_params(params[(shape.first_row + row) * shape.groups_per_row + g], bf16);
        for (var m = 0u; m < VECTORS; m++) {
          acc[r * MAX_VECTORS + m] += p.x * dots[m] + p.y * xs[m];
        }
      }
    }
  }
  for (var m = 0u; m < VECTORS; m++) {
    var partial: array<f32, ROWS_PER_GROUP>;
    for (var r = 0u; r < ROWS_PER_GROUP; r++) {
      partial[r] = acc[r * MAX_VECTORS + m];
    }
    let total = reduce_rows(inputs, partial);
    if (lane < ROWS_PER_GROUP && row0 + lane < shape.rows) {
      y[m * shape.total_rows + shape.first_row + row0 + lane] = total;
    }
  }
}
