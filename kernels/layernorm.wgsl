// LayerNorm over the last dimension with PyTorch semantics: biased variance, eps inside the square
// root, y = (x − mean)·rstd·weight + bias.
// Storage: x, y, weight, bias, dy, dx are T; the saved mean/rstd and the weight/bias gradient
// partials are f32 (statistics are always f32, and parameter gradients feed f32 master weights).
// Spec: F16 / T; WG workgroup size; TPR lanes per row (a power of two dividing WG); COOP = TPR > 1.
// With TPR = 1 an invocation owns a whole row and no barrier is compiled in: llvmpipe runs barriers
// as coroutine switches, so on software adapters that is the fast layout. On GPUs TPR lanes share a
// row and sum through workgroup memory.
#if F16
enable f16;
#endif
alias T = {{T}};

const TPR: u32 = {{TPR}}u;

struct Params {
  rows: u32,
  width: u32,
  eps: f32,
  chunk: u32,   // param_grads: rows summed by one invocation (the partials are reduced afterwards)
  part0: u32,   // param_grads: where this dispatch's first partial lies in the bound partial windows
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> weight: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<T>;
@group(0) @binding(8) var<storage, read> mean_in: array<f32>;
@group(0) @binding(9) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<T>;
@group(0) @binding(11) var<storage, read_write> dweight_part: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbias_part: array<f32>;

#if COOP
var<workgroup> shared_sum: array<vec2f, {{WG}}>;
#endif

// Sum over the TPR lanes of one row; every lane gets the total. Must be reached by the whole
// workgroup (callers keep out-of-range rows alive with an empty loop instead of returning).
fn row_sum(v: vec2f, lid: u32) -> vec2f {
#if COOP
  let lane = lid % TPR;
  shared_sum[lid] = v;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      shared_sum[lid] += shared_sum[lid + s];
    }
    workgroupBarrier();
  }
  let total = shared_sum[lid - lane];
  // The next call overwrites shared_sum: everyone must have read the total first.
  workgroupBarrier();
  return total;
#else
  return v;
#endif
}

@compute @workgroup_size({{WG}})
fn forward(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = ((wg.x + wg.y * nwg.x) * {{WG}}u + lid) / TPR;
  let lane = lid % TPR;
  let in_range = row < p.rows;
#if !COOP
  if (!in_range) { return; }
#endif
  let n = select(0u, p.width, in_range);
  let base = row * p.width;
  let inv_n = 1.0 / f32(p.width);
  // Two passes (mean, then squared deviations) instead of E[x²] − E[x]², which cancels badly in f32.
  var s = 0.0;
  for (var c = lane; c < n; c += TPR) {
    s += f32(x[base + c]);
  }
  let mu = row_sum(vec2f(s, 0.0), lid).x * inv_n;
  var q = 0.0;
  for (var c = lane; c < n; c += TPR) {
    let d = f32(x[base + c]) - mu;
    q += d * d;
  }
  let rstd = inverseSqrt(row_sum(vec2f(q, 0.0), lid).x * inv_n + p.eps);
  for (var c = lane; c < n; c += TPR) {
    y[base + c] = T((f32(x[base + c]) - mu) * rstd * f32(weight[c]) + f32(bias[c]));
  }
  if (in_range && lane == 0u) {
    mean_out[row] = mu;
    rstd_out[row] = rstd;
  }
}

// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·weight and x̂ = (x − mean)·rstd.
@compute @workgroup_size({{WG}})
fn backward(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = ((wg.x + wg.y * nwg.x) * {{WG}}u + lid) / TPR;
  let lane = lid % TPR;
  let in_range = row < p.rows;
#if !COOP
  if (!in_range) { return; }
#endif
  let n = select(0u, p.width, in_range);
  let r = select(0u, row, in_range);
  let base = row * p.width;
  let mu = mean_in[r];
  let rstd = rstd_in[r];
  var acc = vec2f(0.0);
  for (var c = lane; c < n; c += TPR) {
    let g = f32(dy[base + c]) * f32(weight[c]);
    let xh = (f32(x[base + c]) - mu) * rstd;
    acc += vec2f(g, g * xh);
  }
  let m = row_sum(acc, lid) / f32(p.width);
  for (var c = lane; c < n; c += TPR) {
    let g = f32(dy[base + c]) * f32(weight[c]);
    let xh = (f32(x[base + c]) - mu) * rstd;
    dx[base + c] = T(rstd * (g - m.x - xh * m.y));
  }
}

// Column sums for dweight = Σ dy·x̂ and dbias = Σ dy without atomics: invocation (k, c) sums rows
// [k·chunk, (k+1)·chunk) of column c into partial[k·width + c]; the op then sums the partials over k.
// Adjacent invocations read adjacent columns, so the loads coalesce on GPUs.
@compute @workgroup_size({{WG}})
fn param_grads(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * {{WG}}u;
  // max(…, 1): with no rows at all the gradients are zeros, not left unwritten.
  let chunks = max((p.rows + p.chunk - 1u) / p.chunk, 1u);
  if (i >= chunks * p.width) { return; }
  let k = i / p.width;
  let c = i % p.width;
  let r1 = min((k + 1u) * p.chunk, p.rows);
  var dw = 0.0;
  var db = 0.0;
  for (var r = k * p.chunk; r < r1; r++) {
    let d = f32(dy[r * p.width + c]);
    dw += d * (f32(x[r * p.width + c]) - mean_in[r]) * rstd_in[r];
    db += d;
  }
  dweight_part[p.part0 + i] = dw;
  dbias_part[p.part0 + i] = db;
}
