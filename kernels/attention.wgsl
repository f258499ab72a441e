// Fused scaled-dot-product attention (FlashAttention-2 style), driven by lib/tensor/ops/attention-fused.ts.
// Nothing Lq×Lk is stored: the forward keeps the log-sum-exp L of each row besides O; the backward
// recomputes p = exp(s − L) from it.
//   forward:     one invocation per query row; O and L [B, H, Lq] (f32).
//   backward_q:  one invocation per query row; δ = Σ dO ⊙ O (written for backward_kv), dQ.
//   backward_kv: one invocation per key row; dK and dV (no atomics).
// Two variants of each, chosen by SMALL: straight-line code unrolled over every key (Lq, Lk ≤ 64, one
// workgroup per (b, h)), and a general one streaming key tiles in a loop with an online softmax.
// Visibility matches softmax.wgsl: CAUSAL keeps key j ≤ i; PAD with PAD_LENGTHS keeps j < keymask[b],
// otherwise keymask [B, Lk] flags (nonzero = attend). A row with no visible key gives O = 0 and no
// gradient, as the composed path's all-zero probabilities do.
// Spec: F16 / T storage; DH head dim; WG rows per workgroup; CAUSAL, PAD, PAD_LENGTHS; SMALL with LQ and
// LK (0 for the general variant) or TK rows per tile; KV_SHARED: dK and dV are views of one tensor (the
// packed gradient), written through dk alone because two writable bindings may not alias.
#if F16
enable f16;
#endif
alias T = {{T}};

const DH: u32 = {{DH}}u;
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

#if SMALL
// Small sequences (LQ, LK ≤ 64, one workgroup per (b, h), one invocation per row). llvmpipe runs a
// workgroup as a loop over 8-lane SIMD groups, and it loads memory one lane at a time (a branch and a
// scalar load per lane) unless the address is a constant outside all control flow: then it loads once
// and broadcasts. So K and V (or Q, dO, L, δ) are copied once into workgroup memory and then read at
// constant offsets by straight-line code unrolled over keys and head dim, with masks as selects —
// no loop, branch or early return around the reads (a loop or branch turns every load per-lane).
// All scores of a row stay in registers, so each gets one exp and the softmax needs no rescaling.
const LQ: u32 = {{LQ}}u;
const LK: u32 = {{LK}}u;

var<workgroup> kt: array<f32, LK * DH>;
var<workgroup> vt: array<f32, LK * DH>;
var<workgroup> qt: array<f32, LQ * DH>;
var<workgroup> gt: array<f32, LQ * DH>;
var<workgroup> lt: array<f32, LQ>;
var<workgroup> dt: array<f32, LQ>;
#if PAD
#if !PAD_LENGTHS
var<workgroup> ft: array<u32, LK>;
#endif
#endif

// (b, h) of this workgroup; workgroups past the last (b, h) redo it and store nothing.
fn head_of(wg: vec3u, nwg: vec3u) -> vec2u {
  let bh = min(wg.x + wg.y * nwg.x, p.total - 1u);
  return vec2u(bh / p.heads, bh % p.heads);
}

// K and V rows of head h into kt and vt (and the key flags into ft).
fn stage_kv(b: u32, h: u32, lid: u32) {
  for (var e = lid; e < LK * DH; e += WG) {
    let r = b * LK + e / DH;
    let c = h * DH + e % DH;
    kt[e] = f32(k[p.k_off + r * p.k_ld + c]);
    vt[e] = f32(v[p.v_off + r * p.v_ld + c]);
  }
#if PAD
#if !PAD_LENGTHS
  for (var j = lid; j < LK; j += WG) {
    ft[j] = select(0u, 1u, keymask[b * LK + j] != 0);
  }
#endif
#endif
}

// Whether key j is visible to query i: a prefix (key_limit `n`) and, with flags, its flag.
fn seen(n: u32, j: u32) -> bool {
  var ok = j < n;
#if PAD
#if !PAD_LENGTHS
  ok = ok & (ft[j] != 0u);
#endif
#endif
  return ok;
}

@compute @workgroup_size({{WG}})
fn forward(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let bhv = head_of(wg, nwg);
  let b = bhv.x;
  let h = bhv.y;
  stage_kv(b, h, lid);
  workgroupBarrier();
  let i = min(lid, LQ - 1u);
  let n = key_limit(b, i);
  let qrow = p.q_off + (b * LQ + i) * p.q_ld + h * DH;
#unroll C DH
  let q{{C}} = f32(q[qrow + {{C}}u]) * p.scale;
#endunroll
  var m = LOWEST;
#unroll J LK
  var s{{J}} = 0.0;
#unroll C DH
  s{{J}} += q{{C}} * kt[{{J}}u * DH + {{C}}u];
#endunroll
  let ok{{J}} = seen(n, {{J}}u);
  m = select(m, max(m, s{{J}}), ok{{J}});
#endunroll
  var l = 0.0;
#unroll J LK
  let e{{J}} = select(0.0, exp(s{{J}} - m), ok{{J}});
  l += e{{J}};
#endunroll
  let inv = select(0.0, 1.0 / l, l > 0.0);
#unroll C DH
  var a{{C}} = 0.0;
#endunroll
#unroll J LK
#unroll C DH
  a{{C}} += e{{J}} * vt[{{J}}u * DH + {{C}}u];
#endunroll
#endunroll
  let bh = wg.x + wg.y * nwg.x;
  if (lid < LQ && bh < p.total) {
    let orow = (b * LQ + i) * p.o_ld + h * DH;
#unroll C DH
    o[orow + {{C}}u] = T(a{{C}} * inv);
#endunroll
    // a row with no visible key: a huge L keeps exp(s − L) at 0 in the backward
    lse[bh * LQ + i] = select(-LOWEST, m + log(l), l > 0.0);
  }
}

@compute @workgroup_size({{WG}})
fn backward_q(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let bhv = head_of(wg, nwg);
  let b = bhv.x;
  let h = bhv.y;
  stage_kv(b, h, lid);
  workgroupBarrier();
  let i = min(lid, LQ - 1u);
  let n = key_limit(b, i);
  let qrow = p.q_off + (b * LQ + i) * p.q_ld + h * DH;
  let orow = (b * LQ + i) * p.o_ld + h * DH;
  var dd = 0.0;
#unroll C DH
  let q{{C}} = f32(q[qrow + {{C}}u]) * p.scale;
  let g{{C}} = f32(dout[orow + {{C}}u]);
  dd += g{{C}} * f32(o_in[orow + {{C}}u]);
#endunroll
  let bh = b * p.heads + h;
  let li = lse_in[bh * LQ + i];
#unroll J LK
  var s{{J}} = 0.0;
  var dp{{J}} = 0.0;
#unroll C DH
  s{{J}} += q{{C}} * kt[{{J}}u * DH + {{C}}u];
  dp{{J}} += g{{C}} * vt[{{J}}u * DH + {{C}}u];
#endunroll
  let ds{{J}} = select(0.0, exp(s{{J}} - li) * (dp{{J}} - dd), seen(n, {{J}}u));
#endunroll
#unroll C DH
  var a{{C}} = 0.0;
#endunroll
#unroll J LK
#unroll C DH
  a{{C}} += ds{{J}} * kt[{{J}}u * DH + {{C}}u];
#endunroll
#endunroll
  if (lid < LQ && wg.x + wg.y * nwg.x < p.total) {
    let grow = p.dq_off + (b * LQ + i) * p.g_ld + h * DH;
#unroll C DH
    dq[grow + {{C}}u] = T(a{{C}} * p.scale);
#endunroll
    delta[bh * LQ + i] = dd;
  }
}

@compute @workgroup_size({{WG}})
fn backward_kv(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let bhv = head_of(wg, nwg);
  let b = bhv.x;
  let h = bhv.y;
  let bh = b * p.heads + h;
  for (var e = lid; e < LQ * DH; e += WG) {
    let r = b * LQ + e / DH;
    let c = h * DH + e % DH;
    qt[e] = f32(q[p.q_off + r * p.q_ld + c]);
    gt[e] = f32(dout[r * p.o_ld + c]);
  }
  for (var e = lid; e < LQ; e += WG) {
    lt[e] = lse_in[bh * LQ + e];
    dt[e] = delta_in[bh * LQ + e];
  }
  workgroupBarrier();
  let j = min(lid, LK - 1u);
  let krow = p.k_off + (b * LK + j) * p.k_ld + h * DH;
  let vrow = p.v_off + (b * LK + j) * p.v_ld + h * DH;
#unroll C DH
  let k{{C}} = f32(k[krow + {{C}}u]) * p.scale;
  let v{{C}} = f32(v[vrow + {{C}}u]);
#endunroll
  var flag = true;
#if PAD
#if !PAD_LENGTHS
  flag = keymask[b * LK + j] != 0;
#endif
#endif
#unroll I LQ
  var s{{I}} = 0.0;
  var dp{{I}} = 0.0;
#unroll C DH
  s{{I}} += k{{C}} * qt[{{I}}u * DH + {{C}}u];
  dp{{I}} += v{{C}} * gt[{{I}}u * DH + {{C}}u];
#endunroll
  let ok{{I}} = (j < key_limit(b, {{I}}u)) & flag;
  let pr{{I}} = select(0.0, exp(s{{I}} - lt[{{I}}u]), ok{{I}});
  let ds{{I}} = pr{{I}} * (dp{{I}} - dt[{{I}}u]);
#endunroll
#unroll C DH
  var gk{{C}} = 0.0;
  var gv{{C}} = 0.0;
#endunroll
#unroll I LQ
#unroll C DH
  gv{{C}} += pr{{I}} * gt[{{I}}u * DH + {{C}}u];
  gk{{C}} += ds{{I}} * qt[{{I}}u * DH + {{C}}u];
#endunroll
#endunroll
  if (lid < LK && wg.x + wg.y * nwg.x < p.total) {
    let dkrow = p.dk_off + (b * LK + j) * p.g_ld + h * DH;
    let dvrow = p.dv_off + (b * LK + j) * p.g_ld + h * DH;
#unroll C DH
    dk[dkrow + {{C}}u] = T(gk{{C}} * p.scale);
#if KV_SHARED
    dk[dvrow + {{C}}u] = T(gv{{C}});
#else
    dv[dvrow + {{C}}u] = T(gv{{C}});
#endif
#endunroll
  }
}
#else
// The general variant. Tiles of K and V (or of Q, dO, L and δ) go through workgroup memory as f32.
const TK: u32 = {{TK}}u;

var<workgroup> ta: array<f32, TK * DH>;
var<workgroup> tb: array<f32, TK * DH>;
var<workgroup> tl: array<f32, TK>;
var<workgroup> td: array<f32, TK>;

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
#if KV_SHARED
    dk[dvrow + {{C}}u] = T(gv[{{C}}]);
#else
    dv[dvrow + {{C}}u] = T(gv[{{C}}]);
#endif
#endunroll
  }
}
#endif
