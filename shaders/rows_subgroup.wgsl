enable subgroups;
// Row-tile GEMV scaffolding shared by q4.wgsl and dense.wgsl, subgroup variant: subgroupAdd
// first, then one pass over the subgroup totals. Correct for any subgroup size (4 to 128) and
// any mapping of invocations to subgroups; used when one group spans the whole workgroup
// (THREADS_PER_ROW = ROW_THREADS, long rows). See rows_workgroup.wgsl for the contract.

override THREADS_PER_ROW: u32 = 64u;

struct RowInputs {
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) subgroup_lane: u32,
}

var<workgroup> row_partials: array<f32, ROW_THREADS * ROWS_PER_GROUP>;

fn reduce_rows(inputs: RowInputs, partial: array<f32, ROWS_PER_GROUP>) -> f32 {
  let lid = inputs.lid;
  for (var r = 0u; r < ROWS_PER_GROUP; r++) {
    let s = subgroupAdd(partial[r]);
    row_partials[r * ROW_THREADS + lid] = select(0.0, s, inputs.subgroup_lane == 0u);
  }
  workgroupBarrier();
  var total = 0.0;
  if (lid < ROWS_PER_GROUP) {
    for (var i = 0u; i < ROW_THREADS; i++) {
      total += row_partials[lid * ROW_THREADS + i];
    }
  }
  workgroupBarrier();
  return total;
}
