// Reductions over the lanes that share one row, written once for every row-wise kernel (layernorm,
// softmax) and pulled in with #include "row_reduce.wgsl".
// Spec read here: WG (workgroup size), TPR (lanes per row, a power of two dividing WG), COOP (TPR > 1).
// With COOP off a lane owns its row and these are identities with no barrier compiled in: llvmpipe runs
// a barrier as a coroutine switch, so software adapters get one row per invocation. With COOP on, the
// TPR lanes of a row reduce through workgroup memory in log2(TPR) halving steps (GPUs: one row per
// workgroup of 64–256 lanes, or several narrow rows per workgroup).
// Every lane gets the result. A call must be reached by the whole workgroup: callers keep lanes of
// out-of-range rows alive with empty loops instead of returning early.

const TPR: u32 = {{TPR}}u;

#if COOP
var<workgroup> row_red: array<vec2f, {{WG}}>;

// Sums the row's TPR slots of row_red (each lane has written its own) into every lane of the row; the
// halving steps keep a row inside its own slots.
fn row_tree_sum(lid: u32) -> vec2f {
  let lane = lid % TPR;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      row_red[lid] += row_red[lid + s];
    }
    workgroupBarrier();
  }
  let total = row_red[lid - lane];
  // The next reduction overwrites row_red: every lane must have read this total first.
  workgroupBarrier();
  return total;
}
#endif

/** Two sums at once (mean and variance, or Σg and Σg·x̂): one pass of barriers for both. */
fn row_sum2(v: vec2f, lid: u32) -> vec2f {
#if COOP
  row_red[lid] = v;
  return row_tree_sum(lid);
#else
  return v;
#endif
}

fn row_sum(v: f32, lid: u32) -> f32 {
  return row_sum2(vec2f(v, 0.0), lid).x;
}

fn row_max(v: f32, lid: u32) -> f32 {
#if COOP
  let lane = lid % TPR;
  row_red[lid] = vec2f(v, 0.0);
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      row_red[lid].x = max(row_red[lid].x, row_red[lid + s].x);
    }
    workgroupBarrier();
  }
  let total = row_red[lid - lane].x;
  workgroupBarrier();
  return total;
#else
  return v;
#endif
}
