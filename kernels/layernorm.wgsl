// LayerNorm over the last dimension with PyTorch semantics: biased variance, eps inside the square
// root, y = (x − mean)·rstd·weight + bias; with RESIDUAL, of the residual sum: s = x + r is stored
// (rounded to T, and the statistics are taken of the stored s, so the backward sees what the forward
// normalized) and y = LN(s), one pass fewer than an add followed by a LayerNorm.
// Storage: x, r, s, y, weight, bias, dy, ds, dx are T; the saved mean/rstd and the weight/bias gradient
// partials are f32 (statistics are always f32, and parameter gradients feed f32 master weights).
// Spec: F16 / T; WG, TPR, COOP as in row_reduce.wgsl; VEC4: rows are read as vec4<T> (width % 4 = 0),
// a quarter of the load instructions (llvmpipe issues one gather per lane per load, so this is its
// main cost; GPUs get 8/16-byte transactions); RESIDUAL: the fused residual variants.
#if F16
enable f16;
#endif
alias T = {{T}};

#if VEC4
alias V = vec4<T>;
alias VF = vec4f;
const VL: u32 = 4u;
fn hsum(v: VF) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}
fn first(v: VF) -> f32 {
  return v.x;
}
#else
alias V = T;
alias VF = f32;
const VL: u32 = 1u;
fn hsum(v: VF) -> f32 {
  return v;
}
fn first(v: VF) -> f32 {
  return v;
}
#endif

#include "row_reduce.wgsl"

struct Params {
  rows: u32,
  width: u32,   // elements (a multiple of 4 with VEC4)
  eps: f32,
  chunk: u32,   // param_grads: rows summed by one invocation (the partials are reduced afterwards)
  part0: u32,   // param_grads: where this dispatch's first partial lies in the bound partial windows
};

@group(0) @binding(0) var<uniform> p: Params;
// forward: the input (the residual stream with RESIDUAL); backward, param_grads: the LayerNorm's input
// (the saved sum with RESIDUAL).
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> weight: array<V>;
@group(0) @binding(3) var<storage, read> bias: array<V>;
@group(0) @binding(4) var<storage, read_write> y: array<V>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<V>;
@group(0) @binding(8) var<storage, read> mean_in: array<f32>;
@group(0) @binding(9) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<V>;
@group(0) @binding(11) var<storage, read_write> dweight_part: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbias_part: array<f32>;
#if RESIDUAL
@group(0) @binding(13) var<storage, read> r: array<V>;
@group(0) @binding(14) var<storage, read_write> sum_out: array<V>;
@group(0) @binding(15) var<storage, read> dsum: array<V>;
#endif

#if TEX
// The inputs as rgba textures (copies of x, r, weight, bias, dy, ds made with the dispatch): llvmpipe fetches
// texels as vector gathers where its storage loads go lane by lane, so on software adapters this is
// 4–7× faster (measured at 1576×768) for the price of a memcpy per input. VEC4 only; never on GPUs.
@group(0) @binding(16) var x_tex: texture_2d<f32>;
#if RESIDUAL
@group(0) @binding(17) var r_tex: texture_2d<f32>;
#endif
@group(0) @binding(18) var w_tex: texture_2d<f32>;
@group(0) @binding(19) var b_tex: texture_2d<f32>;
@group(0) @binding(20) var dy_tex: texture_2d<f32>;
#if RESIDUAL
@group(0) @binding(21) var ds_tex: texture_2d<f32>;
#endif
#endif

// The backward's inputs: x (the saved sum with RESIDUAL), dy, ds.
fn xv(row: u32, base: u32, c: u32) -> VF {
#if TEX
  return textureLoad(x_tex, vec2u(c, row), 0);
#else
  return VF(x[base + c]);
#endif
}

fn dyv(row: u32, base: u32, c: u32) -> VF {
#if TEX
  return textureLoad(dy_tex, vec2u(c, row), 0);
#else
  return VF(dy[base + c]);
#endif
}

#if RESIDUAL
fn dsv(row: u32, base: u32, c: u32) -> VF {
#if TEX
  return textureLoad(ds_tex, vec2u(c, row), 0);
#else
  return VF(dsum[base + c]);
#endif
}
#endif

fn wv(c: u32) -> VF {
#if TEX
  return textureLoad(w_tex, vec2u(c, 0u), 0);
#else
  return VF(weight[c]);
#endif
}

fn bv(c: u32) -> VF {
#if TEX
  return textureLoad(b_tex, vec2u(c, 0u), 0);
#else
  return VF(bias[c]);
#endif
}

// Vector c of the row being normalized (x, or x + r rounded to T as it is stored).
fn in_vec(row: u32, base: u32, c: u32) -> VF {
#if TEX
#if RESIDUAL
  return VF(V(textureLoad(x_tex, vec2u(c, row), 0) + textureLoad(r_tex, vec2u(c, row), 0)));
#else
  return textureLoad(x_tex, vec2u(c, row), 0);
#endif
#else
#if RESIDUAL
  return VF(V(VF(x[base + c]) + VF(r[base + c])));
#else
  return VF(x[base + c]);
#endif
#endif
}

// The same vector in a later pass: re-fetched, or (storage with RESIDUAL) the sum this invocation
// stored in the first pass, read back by the lane that wrote it, so no barrier is needed.
fn again(row: u32, base: u32, c: u32) -> VF {
#if RESIDUAL
#if !TEX
  return VF(sum_out[base + c]);
#endif
#endif
  return in_vec(row, base, c);
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
  let nv = select(0u, p.width / VL, in_range);
  let base = row * (p.width / VL);
  let inv_n = 1.0 / f32(p.width);
  // Two passes (mean, then squared deviations) instead of E[x²] − E[x]², which cancels badly in f32
  // when a row's mean is large against its spread; the second pass reads the row from cache.
  var s = VF(0.0);
  for (var c = lane; c < nv; c += TPR) {
    let v = in_vec(row, base, c);
#if RESIDUAL
    sum_out[base + c] = V(v);
#endif
    s += v;
  }
  let mu = row_sum(hsum(s), lid) * inv_n;
  var q = VF(0.0);
  for (var c = lane; c < nv; c += TPR) {
    let d = again(row, base, c) - mu;
    q += d * d;
  }
  let rstd = inverseSqrt(row_sum(hsum(q), lid) * inv_n + p.eps);
  for (var c = lane; c < nv; c += TPR) {
    y[base + c] = V((again(row, base, c) - mu) * rstd * wv(c) + bv(c));
  }
  if (in_range && lane == 0u) {
    mean_out[row] = mu;
    rstd_out[row] = rstd;
  }
}

// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·weight and x̂ = (x − mean)·rstd; with RESIDUAL
// plus ds, the gradient reaching the stored sum from the residual stream (x and r both get the total).
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
  let nv = select(0u, p.width / VL, in_range);
  let rr = select(0u, row, in_range);
  let base = row * (p.width / VL);
  let mu = mean_in[rr];
  let rstd = rstd_in[rr];
  var sg = VF(0.0);
  var sgx = VF(0.0);
  for (var c = lane; c < nv; c += TPR) {
    let g = dyv(row, base, c) * wv(c);
    sg += g;
    sgx += g * (xv(row, base, c) - mu) * rstd;
  }
  let m = row_sum2(vec2f(hsum(sg), hsum(sgx)), lid) / f32(p.width);
  for (var c = lane; c < nv; c += TPR) {
    let g = dyv(row, base, c) * wv(c);
    let xh = (xv(row, base, c) - mu) * rstd;
    var d = rstd * (g - m.x - xh * m.y);
#if RESIDUAL
    d += dsv(row, base, c);
#endif
    dx[base + c] = V(d);
  }
}

// Column sums for dweight = Σ dy·x̂ and dbias = Σ dy without atomics: invocation (k, c) sums rows
// [k·chunk, (k+1)·chunk) of column (vector) c into partial[k·width + c·VL …]; the op then sums the
// partials over k. Adjacent invocations read adjacent columns, so the loads coalesce on GPUs.
@compute @workgroup_size({{WG}})
fn param_grads(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * {{WG}}u;
  let nv = p.width / VL;
  // max(…, 1): with no rows at all the gradients are zeros, not left unwritten.
  let chunks = max((p.rows + p.chunk - 1u) / p.chunk, 1u);
  if (i >= chunks * nv) { return; }
  let k = i / nv;
  let c = i % nv;
  let r1 = min((k + 1u) * p.chunk, p.rows);
  var dw = VF(0.0);
  var db = VF(0.0);
  for (var rw = k * p.chunk; rw < r1; rw++) {
    let d = dyv(rw, rw * nv, c);
    dw += d * (xv(rw, rw * nv, c) - mean_in[rw]) * rstd_in[rw];
    db += d;
  }
  let o = p.part0 + k * p.width + c * VL;
#if VEC4
  for (var j = 0u; j < 4u; j++) {
    dweight_part[o + j] = dw[j];
    dbias_part[o + j] = db[j];
  }
#else
  dweight_part[o] = dw;
  dbias_part[o] = db;
#endif
}
