// Soft-target cross-entropy over logits [B, C] with targets [B, C] (label-smoothed or mixup rows):
//   row_loss_b = Σ_c −t_bc · log_softmax(x_b)_c = Σ_c t_bc·(m_b − x_bc) + T_b·log s_b,
// with m_b = max_c x_bc, s_b = Σ_c exp(x_bc − m_b), T_b = Σ_c t_bc (≠ 1 in general), and
// loss = mean_b row_loss_b.  Its exact gradient is ∂loss/∂x_bc = (softmax(x_b)_c · T_b − t_bc) / B.
// One 256-wide workgroup per row; reductions are fixed trees, so results are deterministic.
// Spec: F16 / T (storage type of logits and dlogits); targets, losses and dloss are f32.
#if F16
enable f16;
#endif
alias T = {{T}};

const WG = 256u;
// The most negative finite f32: WGSL has no infinity literal.
const LOWEST = -3.4028234663852886e38;

struct Params {
  rows: u32,
  cols: u32,
  scale: f32,  // 1 / B
  loss0: u32,  // forward: where this dispatch's first row loss lies in the bound row_loss window
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read> dloss: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<T>;

var<workgroup> red: array<vec3f, WG>;

fn reduce_max(lid: u32, v: f32) -> f32 {
  red[lid].x = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid].x = max(red[lid].x, red[lid + s].x); }
    workgroupBarrier();
  }
  let r = red[0].x;
  workgroupBarrier();
  return r;
}

fn reduce_sum(lid: u32, v: vec3f) -> vec3f {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// (m, s, T, Σ t·(m − x)) of one row, known to every invocation of the workgroup.
fn row_stats(base: u32, lid: u32) -> vec4f {
  var m = LOWEST;
  for (var c = lid; c < p.cols; c += WG) { m = max(m, f32(logits[base + c])); }
  m = reduce_max(lid, m);
  var acc = vec3f(0.0);
  for (var c = lid; c < p.cols; c += WG) {
    let x = f32(logits[base + c]);
    let t = targets[base + c];
    acc += vec3f(exp(x - m), t, t * (m - x));
  }
  acc = reduce_sum(lid, acc);
  return vec4f(m, acc);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
           @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let st = row_stats(row * p.cols, lid);
  if (lid == 0u) { row_loss[p.loss0 + row] = st.w + st.z * log(st.y); }
}

// A separate single-workgroup pass instead of atomics: the mean is summed in a fixed order.
@compute @workgroup_size(WG)
fn mean(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var r = lid; r < p.rows; r += WG) { acc += row_loss[r]; }
  let total = reduce_sum(lid, vec3f(acc, 0.0, 0.0)).x;
  if (lid == 0u) { loss[0] = total * p.scale; }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
            @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let st = row_stats(base, lid);
  let g = dloss[0] * p.scale;
  let inv_s = 1.0 / st.y;
  for (var c = lid; c < p.cols; c += WG) {
    let sm = exp(f32(logits[base + c]) - st.x) * inv_s;
    dlogits[base + c] = T((sm * st.z - targets[base + c]) * g);
  }
}
