// Row-tile GEMV scaffolding shared by q4.wgsl and dense.wgsl, workgroup-memory variant (no
// subgroup support needed). A workgroup of THREADS invocations computes ROWS rows; each
// invocation takes 8-column chunks c0 = 8·w for w = lid, lid + THREADS, … The kernel declares
// `x: array<f32>` ([vectors, cols]) and `shape.cols`.

const ROWS: u32 = 8u;
const THREADS: u32 = 64u;

struct RowInputs {
  @builtin(local_invocation_index) lid: u32,
}

var<workgroup> row_partials: array<f32, THREADS * ROWS>;

// Sums each row's partial over the workgroup (tree reduction); row `lid` gets its total
// (invocations lid < ROWS). Every invocation must call it.
fn reduce_rows(inputs: RowInputs, partial: array<f32, ROWS>) -> f32 {
  let lid = inputs.lid;
  for (var r = 0u; r < ROWS; r++) {
    row_partials[r * THREADS + lid] = partial[r];
  }
  for (var s = THREADS / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lid < s) {
      for (var r = 0u; r < ROWS; r++) {
        row_partials[r * THREADS + lid] += row_partials[r * THREADS + lid + s];
      }
    }
  }
  workgroupBarrier();
  var total = 0.0;
  if (lid < ROWS) {
    total = row_partials[lid * THREADS];
  }
  workgroupBarrier();
  return total;
}
