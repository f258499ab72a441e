// Fused scaled-dot-product attention (FlashAttention-2 style), driven by lib/tensor/ops/attention-fused.ts.
// Nothing Lq×Lk is stored: the forward streams key tiles past each query row with an online softmax and
// keeps the log-sum-exp L of each row; the backward recomputes p = exp(s − L) from it.
//   forward:     one invocation per query row; O and L [B, H, Lq] (f32).
//   backward_q:  one invocation per query row; δ = Σ dO ⊙ O (written for backward_kv), dQ.
//   backward_kv: one invocation per key row, looping over query tiles; dK and dV (no atomics).
// Tiles of K and V (or of Q, dO, L and δ) go through workgroup memory as f32: on lavapipe a workgroup
// runs on one thread in SIMD lanes and storage loads are gathers, so one cooperative load per tile beats
// every row reading the same keys from storage.
// Visibility matches softmax.wgsl: CAUSAL keeps key j ≤ i; PAD with PAD_LENGTHS keeps j < keymask[b],
// otherwise keymask [B, Lk] flags (nonzero = attend). A row with no visible key gives O = 0 and no
// gradient, as the composed path's all-zero probabilities do.
// Spec: F16 / T storage; DH head dim; TK rows per tile; WG rows per workgroup; CAUSAL, PAD, PAD_LENGTHS.
#if F16
enable f16;
#endif
alias T = {{T}};

const DH: u32 = {{DH}}u;
const TK: u32 = {{TK}}u;
const WG: u32 = {{WG}}u;
// The lowest finite f32, not −∞: exp(LOWEST − s) is 0 without an ∞ − ∞.
const LOWEST: f32 = -3.4028234e38;

struct Params {
  heads: u32,
  lq: u32,
  lk: u32,
  blocks: u32,   // row blocks of WG per (b, h): over Lq (forward, backward_q) or Lk (backward_kv)
  total: u32,    // blocks · B · H
  scale: f32,
  q_off: u32,
  q_ld: u32,
  k_off: u32,
  k_ld: u32,
  v_off: u32,
  v_ld: u32,
  o_ld: u32,     // rows of O and dO: [B, Lq, D]
  dq_off: u32,
  dk_off: u32,
  dv_off: u32,
  g_ld: u32,     // row stride of dQ, dK and dV (D, or 3·D for the packed layout)
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read> keymask: array<i32>;
@group(0) @binding(5) var<storage, read_write> o: array<T>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read> o_in: array<T>;
@group(0) @binding(8) var<storage, read> dout: array<T>;
@group(0) @binding(9) var<storage, read> lse_in: array<f32>;
@group(0) @binding(10) var<storage, read_write> delta: array<f32>;
@group(0) @binding(11) var<storage, read> delta_in: array<f32>;
@group(0) @binding(12) var<storage, read_write> dq: array<T>;
@group(0) @binding(13) var<storage, read_write> dk: array<T>;
@group(0) @binding(14) var<storage, read_write> dv: array<T>;

var<workgroup> ta: array<f32, TK * DH>;
var<workgroup> tb: array<f32, TK * DH>;
var<workgroup> tl: array<f32, TK>;
var<workgroup> td: array<f32, TK>;

// Keys past this are invisible to query i of batch item b (causal and length masks are prefixes).
fn key_limit(b: u32, i: u32) -> u32 {
  var n = p.lk;
#if CAUSAL
  n = min(n, i + 1u);
#endif
#if PAD
#if PAD_LENGTHS
  n = min(n, u32(max(keymask[b], 0)));
#endif
#endif
  return n;
}

fn visible(b: u32, i: u32, j: u32) -> bool {
  var ok = j < key_limit(b, i);
#if PAD
#if !PAD_LENGTHS
  ok = ok && keymask[b * p.lk + j] != 0;
#endif
#endif
  return ok;
}

// Key rows t0.. of head h into ta (K) and tb (V) as f32; rows past Lk read as 0. (Two loaders, not one
// with a flag: an auto layout binds every buffer a function it calls touches.)
fn load_kv(b: u32, h: u32, t0: u32, lid: u32) {
  for (var e = lid; e < TK * DH; e += WG) {
    let r = t0 + e / DH;
    let c = h * DH + e % DH;
    var x = 0.0;
    var y = 0.0;
    if (r < p.lk) {
      x = f32(k[p.k_off + (b * p.lk + r) * p.k_ld + c]);
      y = f32(v[p.v_off + (b * p.lk + r) * p.v_ld + c]);
    }
    ta[e] = x;
    tb[e] = y;
  }
}

// Query rows t0.. of head h into ta (Q) and tb (dO) as f32; rows past Lq read as 0.
fn load_qd(b: u32, h: u32, t0: u32, lid: u32) {
  for (var e = lid; e < TK * DH; e += WG) {
    let r = t0 + e / DH;
    let c = h * DH + e % DH;
    var x = 0.0;
    var y = 0.0;
    if (r < p.lq) {
      x = f32(q[p.q_off + (b * p.lq + r) * p.q_ld + c]);
      y = f32(dout[(b * p.lq + r) * p.o_ld + c]);
    }
    ta[e] = x;
    tb[e] = y;
  }
}

@compute @workgroup_size({{WG}})
fn forward(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let blk = wg.x + wg.y * nwg.x;
  if (blk >= p.total) { return; }
  let bh = blk / p.blocks;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let i0 = (blk % p.blocks) * WG;
  let i = i0 + lid;
  let live = i < p.lq;
  let qrow = p.q_off + (b * p.lq + min(i, p.lq - 1u)) * p.q_ld + h * DH;
  var qv: array<f32, DH>;
  var acc: array<f32, DH>;
#unroll C DH
  qv[{{C}}] = f32(q[qrow + {{C}}u]) * p.scale;
  acc[{{C}}] = 0.0;
#endunroll
  var m = LOWEST;
  var l = 0.0;
  let n = key_limit(b, min(i0 + WG, p.lq) - 1u);
  let mine = select(0u, key_limit(b, i), live);
  for (var t0 = 0u; t0 < n; t0 += TK) {
    workgroupBarrier();
    load_kv(b, h, t0, lid);
    workgroupBarrier();
    let tn = min(TK, mine - min(mine, t0));
    for (var jj = 0u; jj < tn; jj++) {
      if (visible(b, i, t0 + jj)) {
        let base = jj * DH;
        var s = 0.0;
#unroll C DH
        s += qv[{{C}}] * ta[base + {{C}}u];
#endunroll
        let mn = max(m, s);
        let corr = exp(m - mn);
        let e = exp(s - mn);
        l = l * corr + e;
#unroll C DH
        acc[{{C}}] = acc[{{C}}] * corr + e * tb[base + {{C}}u];
#endunroll
        m = mn;
      }
    }
  }
  if (live) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let orow = (b * p.lq + i) * p.o_ld + h * DH;
#unroll C DH
    o[orow + {{C}}u] = T(acc[{{C}}] * inv);
#endunroll
    // a row with no visible key: any L works (its keys are skipped), a huge one keeps exp(s − L) at 0
    lse[bh * p.lq + i] = select(-LOWEST, m + log(l), l > 0.0);
  }
}

@compute @workgroup_size({{WG}})
fn backward_q(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let blk = wg.x + wg.y * nwg.x;
  if (blk >= p.total) { return; }
  let bh = blk / p.blocks;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let i0 = (blk % p.blocks) * WG;
  let i = i0 + lid;
  let live = i < p.lq;
  let ic = min(i, p.lq - 1u);
  let qrow = p.q_off + (b * p.lq + ic) * p.q_ld + h * DH;
  let orow = (b * p.lq + ic) * p.o_ld + h * DH;
  var qv: array<f32, DH>;
  var gv: array<f32, DH>;
  var acc: array<f32, DH>;
  var dd = 0.0;
#unroll C DH
  qv[{{C}}] = f32(q[qrow + {{C}}u]) * p.scale;
  gv[{{C}}] = f32(dout[orow + {{C}}u]);
  dd += gv[{{C}}] * f32(o_in[orow + {{C}}u]);
  acc[{{C}}] = 0.0;
#endunroll
  let li = lse_in[bh * p.lq + ic];
  let n = key_limit(b, min(i0 + WG, p.lq) - 1u);
  let mine = select(0u, key_limit(b, i), live);
  for (var t0 = 0u; t0 < n; t0 += TK) {
    workgroupBarrier();
    load_kv(b, h, t0, lid);
    workgroupBarrier();
    let tn = min(TK, mine - min(mine, t0));
    for (var jj = 0u; jj < tn; jj++) {
      if (visible(b, i, t0 + jj)) {
        let base = jj * DH;
        var s = 0.0;
        var dp = 0.0;
#unroll C DH
        s += qv[{{C}}] * ta[base + {{C}}u];
        dp += gv[{{C}}] * tb[base + {{C}}u];
#endunroll
        let ds = exp(s - li) * (dp - dd);
#unroll C DH
        acc[{{C}}] += ds * ta[base + {{C}}u];
#endunroll
      }
    }
  }
  if (live) {
    let grow = p.dq_off + (b * p.lq + i) * p.g_ld + h * DH;
#unroll C DH
    dq[grow + {{C}}u] = T(acc[{{C}}] * p.scale);
#endunroll
    delta[bh * p.lq + i] = dd;
  }
}

@compute @workgroup_size({{WG}})
fn backward_kv(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let blk = wg.x + wg.y * nwg.x;
  if (blk >= p.total) { return; }
  let bh = blk / p.blocks;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let j0 = (blk % p.blocks) * WG;
  let j = j0 + lid;
  let live = j < p.lk;
  let jc = min(j, p.lk - 1u);
  let krow = p.k_off + (b * p.lk + jc) * p.k_ld + h * DH;
  let vrow = p.v_off + (b * p.lk + jc) * p.v_ld + h * DH;
  var kv: array<f32, DH>;
  var vv: array<f32, DH>;
  var gk: array<f32, DH>;
  var gv: array<f32, DH>;
#unroll C DH
  kv[{{C}}] = f32(k[krow + {{C}}u]) * p.scale;
  vv[{{C}}] = f32(v[vrow + {{C}}u]);
  gk[{{C}}] = 0.0;
  gv[{{C}}] = 0.0;
#endunroll
  // causal: query i sees key j only from i = j on, so tiles before the block's first key are skipped
  var first = 0u;
#if CAUSAL
  first = j0;
#endif
  for (var t0 = first; t0 < p.lq; t0 += TK) {
    workgroupBarrier();
    load_qd(b, h, t0, lid);
    for (var e = lid; e < TK; e += WG) {
      let r = min(t0 + e, p.lq - 1u);
      tl[e] = lse_in[bh * p.lq + r];
      td[e] = delta_in[bh * p.lq + r];
    }
    workgroupBarrier();
    let tn = min(TK, p.lq - t0);
    for (var ii = 0u; ii < tn; ii++) {
      if (live && visible(b, t0 + ii, j)) {
        let base = ii * DH;
        var s = 0.0;
        var dp = 0.0;
#unroll C DH
        s += kv[{{C}}] * ta[base + {{C}}u];
        dp += vv[{{C}}] * tb[base + {{C}}u];
#endunroll
        let pr = exp(s - tl[ii]);
        let ds = pr * (dp - td[ii]);
#unroll C DH
        gv[{{C}}] += pr * tb[base + {{C}}u];
        gk[{{C}}] += ds * ta[base + {{C}}u];
#endunroll
      }
    }
  }
  if (live) {
    let dkrow = p.dk_off + (b * p.lk + j) * p.g_ld + h * DH;
    let dvrow = p.dv_off + (b * p.lk + j) * p.g_ld + h * DH;
#unroll C DH
    dk[dkrow + {{C}}u] = T(gk[{{C}}] * p.scale);
    dv[dvrow + {{C}}u] = T(gv[{{C}}]);
#endunroll
  }
}
