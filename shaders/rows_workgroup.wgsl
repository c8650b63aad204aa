// Row-tile GEMV scaffolding shared by q4.wgsl and dense.wgsl, workgroup-memory variant (no
// subgroup support needed). A workgroup of ROW_THREADS invocations is split into groups of
// THREADS_PER_ROW (8..64, chosen by the host so that short rows keep every invocation busy);
// each group computes ROWS_PER_GROUP rows, invocation `lane` of a group taking the column
// chunks w = lane, lane + THREADS_PER_ROW, … of its rows.

override THREADS_PER_ROW: u32 = 64u;

struct RowInputs {
  @builtin(local_invocation_index) lid: u32,
}

var<workgroup> row_partials: array<f32, ROW_THREADS * ROWS_PER_GROUP>;

// Sums each row's partial over its group (tree reduction within the group's contiguous
// invocations); invocation `lane` < ROWS_PER_GROUP of each group gets the total of its group's row `lane`.
// Every invocation must call it.
fn reduce_rows(inputs: RowInputs, partial: array<f32, ROWS_PER_GROUP>) -> f32 {
  let lid = inputs.lid;
  let lane = lid % THREADS_PER_ROW;
  for (var r = 0u; r < ROWS_PER_GROUP; r++) {
    row_partials[r * ROW_THREADS + lid] = partial[r];
  }
  for (var s = THREADS_PER_ROW / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lane < s) {
      for (var r = 0u; r < ROWS_PER_GROUP; r++) {
        row_partials[r * ROW_THREADS + lid] += row_partials[r * ROW_THREADS + lid + s];
      }
    }
  }
  workgroupBarrier();
  var total = 0.0;
  if (lane < ROWS_PER_GROUP) {
    total = row_partials[lane * ROW_THREADS + lid - lane];
  }
  workgroupBarrier();
  return total;
}
