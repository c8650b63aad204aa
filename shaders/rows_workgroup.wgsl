// Row-tile GEMV scaffolding shared by q4.wgsl and dense.wgsl, workgroup-memory variant (no
// subgroup support needed). A workgroup of THREADS invocations is split into groups of
// THREADS_PER_ROW (8..64, chosen by the host so that short rows keep every invocation busy);
// each group computes ROWS rows, invocation `lane` of a group taking the 8-column chunks
// c0 = 8·w for w = lane, lane + THREADS_PER_ROW, … The kernel declares `x: array<f32>`
// ([vectors, cols]) and `shape.cols`.

const ROWS: u32 = 8u;
const THREADS: u32 = 64u;
override THREADS_PER_ROW: u32 = 64u;

struct RowInputs {
  @builtin(local_invocation_index) lid: u32,
}

var<workgroup> row_partials: array<f32, THREADS * ROWS>;

// Sums each row's partial over its group (tree reduction within the group's contiguous
// invocations); invocation `lane` < ROWS of each group gets the total of its group's row `lane`.
// Every invocation must call it.
fn reduce_rows(inputs: RowInputs, partial: array<f32, ROWS>) -> f32 {
  let lid = inputs.lid;
  let lane = lid % THREADS_PER_ROW;
  for (var r = 0u; r < ROWS; r++) {
    row_partials[r * THREADS + lid] = partial[r];
  }
  for (var s = THREADS_PER_ROW / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lane < s) {
      for (var r = 0u; r < ROWS; r++) {
        row_partials[r * THREADS + lid] += row_partials[r * THREADS + lid + s];
      }
    }
  }
  workgroupBarrier();
  var total = 0.0;
  if (lane < ROWS) {
    total = row_partials[lane * THREADS + lid - lane];
  }
  workgroupBarrier();
  return total;
}
