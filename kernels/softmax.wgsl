// Row softmax over the last dimension with the masks of scaled-dot-product attention.
// Rows are laid out [batch, heads, Lq] over keys Lk (any leading shape works when no mask needs it).
//   y = softmax(scale · x) over the visible keys; invisible keys get exactly 0, and a row with no
//   visible key is all zeros (not NaN): exp() is never evaluated on a masked logit.
//   dx = scale · y ⊙ (dy − Σ dy ⊙ y), 0 on invisible keys (so a non-finite dy there cannot leak).
// Visibility: CAUSAL keeps key c ≤ q (q = row % lq; top-left aligned like PyTorch's is_causal);
// PAD keeps keys allowed by keymask[b] with b = row / batch_rows: with PAD_LENGTHS keymask is [B]
// valid lengths (key c kept iff c < length), otherwise [B, Lk] flags (kept iff nonzero). The mask
// is read as i32; u32 masks have the same bits for every value that makes sense (< 2³¹).
// Spec: F16 / T storage of x, y, dy, dx; WG / TPR / COOP as in row_reduce.wgsl (the row max and sums
// come from there); CAUSAL, PAD, PAD_LENGTHS.
#if F16
enable f16;
#endif
alias T = {{T}};

#include "row_reduce.wgsl"

struct Params {
  rows: u32,
  width: u32,       // Lk
  lq: u32,          // rows per [Lq, Lk] score block
  batch_rows: u32,  // rows per batch item (heads · Lq)
  scale: f32,
  ld: u32,          // row stride ≥ width: padded rows keep attention's P·V GEMM on its vec4 path
  row0: u32,        // rows of this dispatch start at row0 of the scores (the masks use whole-tensor rows)
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> keymask: array<i32>;
#if TEX
// Rows as rgba textures (copies of x, or of y and dy, made with the dispatch; rows of a multiple of 256
// bytes) and outputs written a vec4 at a time: llvmpipe fetches texels as vector gathers where its
// storage loads go lane by lane (software adapters only).
@group(0) @binding(2) var<storage, read_write> y: array<vec4<T>>;
@group(0) @binding(6) var<storage, read_write> dx: array<vec4<T>>;
@group(0) @binding(7) var x_tex: texture_2d<f32>;
@group(0) @binding(8) var y_tex: texture_2d<f32>;
@group(0) @binding(9) var dy_tex: texture_2d<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read> y_in: array<T>;
@group(0) @binding(5) var<storage, read> dy: array<T>;
@group(0) @binding(6) var<storage, read_write> dx: array<T>;
#endif

// Keys at or beyond this column are invisible for the whole row (causal and length masks are
// prefixes), so the loops over the logits can stop there.
fn visible_prefix(local_row: u32) -> u32 {
  let row = local_row + p.row0;
  var n = p.width;
#if CAUSAL
  n = min(n, row % p.lq + 1u);
#endif
#if PAD
#if PAD_LENGTHS
  n = min(n, u32(max(keymask[row / p.batch_rows], 0)));
#endif
#endif
  return n;
}

// Per-key flags, the one mask that is not a prefix.
fn flag(local_row: u32, c: u32) -> bool {
#if PAD
#if !PAD_LENGTHS
  return keymask[((local_row + p.row0) / p.batch_rows) * p.width + c] != 0;
#else
  return true;
#endif
#else
  return true;
#endif
}

#if !TEX
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
  let vis = select(0u, visible_prefix(row), in_range);
  let base = row * p.ld;
  // The lowest finite f32, not −∞: a row whose visible logits are all −∞ then sums to 0 instead of NaN.
  var m = -3.4028234e38;
  for (var c = lane; c < vis; c += TPR) {
    if (flag(row, c)) {
      m = max(m, p.scale * f32(x[base + c]));
    }
  }
  m = row_max(m, lid);
  var s = 0.0;
  for (var c = lane; c < vis; c += TPR) {
    if (flag(row, c)) {
      s += exp(p.scale * f32(x[base + c]) - m);
    }
  }
  s = row_sum(s, lid);
  let inv = select(0.0, 1.0 / s, s > 0.0);
  for (var c = lane; c < n; c += TPR) {
    var v = 0.0;
    if (c < vis && flag(row, c)) {
      v = exp(p.scale * f32(x[base + c]) - m) * inv;
    }
    y[base + c] = T(v);
  }
}

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
  let vis = select(0u, visible_prefix(row), in_range);
  let base = row * p.ld;
  var s = 0.0;
  for (var c = lane; c < vis; c += TPR) {
    if (flag(row, c)) {
      s += f32(dy[base + c]) * f32(y_in[base + c]);
    }
  }
  s = row_sum(s, lid);
  for (var c = lane; c < n; c += TPR) {
    var v = 0.0;
    if (c < vis && flag(row, c)) {
      let yv = f32(y_in[base + c]);
      v = p.scale * yv * (f32(dy[base + c]) - s);
    }
    dx[base + c] = T(v);
  }
}
#else
// Which of texel t's four keys are visible from the row (a prefix, then the per-key flags).
fn visible4(row: u32, t: u32, vis: u32) -> vec4<bool> {
  let c = 4u * t + vec4u(0u, 1u, 2u, 3u);
  var ok = c < vec4u(vis);
#if PAD
#if !PAD_LENGTHS
  ok = ok & vec4<bool>(flag(row, min(c.x, p.width - 1u)), flag(row, min(c.y, p.width - 1u)),
                       flag(row, min(c.z, p.width - 1u)), flag(row, min(c.w, p.width - 1u)));
#endif
#endif
  return ok;
}

// Texel t of a row: whole when its four columns are inside the row, else column by column (the
// columns past `width` are not written).
// (Two functions: one touching both outputs would put both in each entry's binding layout.)
fn store_y4(i: u32, t: u32, n: u32, v: vec4f) {
  if (4u * t + 3u < n) {
    y[i] = vec4<T>(v);
    return;
  }
  for (var j = 0u; j < 4u && 4u * t + j < n; j++) {
    y[i][j] = T(v[j]);
  }
}

fn store_dx4(i: u32, t: u32, n: u32, v: vec4f) {
  if (4u * t + 3u < n) {
    dx[i] = vec4<T>(v);
    return;
  }
  for (var j = 0u; j < 4u && 4u * t + j < n; j++) {
    dx[i][j] = T(v[j]);
  }
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
  let vis = select(0u, visible_prefix(row), in_range);
  let nt = (n + 3u) / 4u;
  let vt = (vis + 3u) / 4u;
  let out_base = row * (p.ld / 4u);
  let lowest = vec4f(-3.4028234e38);
  var m4 = lowest;
  for (var t = lane; t < vt; t += TPR) {
    m4 = max(m4, select(lowest, p.scale * textureLoad(x_tex, vec2u(t, row), 0), visible4(row, t, vis)));
  }
  let m = row_max(max(max(m4.x, m4.y), max(m4.z, m4.w)), lid);
  var s4 = vec4f(0.0);
  for (var t = lane; t < vt; t += TPR) {
    let e = exp(p.scale * textureLoad(x_tex, vec2u(t, row), 0) - m);
    s4 += select(vec4f(0.0), e, visible4(row, t, vis));
  }
  let s = row_sum((s4.x + s4.y) + (s4.z + s4.w), lid);
  let inv = select(0.0, 1.0 / s, s > 0.0);
  for (var t = lane; t < nt; t += TPR) {
    var v = vec4f(0.0);
    if (t < vt) {
      let e = exp(p.scale * textureLoad(x_tex, vec2u(t, row), 0) - m) * inv;
      v = select(vec4f(0.0), e, visible4(row, t, vis));
    }
    store_y4(out_base + t, t, n, v);
  }
}

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
  let vis = select(0u, visible_prefix(row), in_range);
  let nt = (n + 3u) / 4u;
  let vt = (vis + 3u) / 4u;
  let out_base = row * (p.ld / 4u);
  var s4 = vec4f(0.0);
  for (var t = lane; t < vt; t += TPR) {
    let yd = textureLoad(dy_tex, vec2u(t, row), 0) * textureLoad(y_tex, vec2u(t, row), 0);
    s4 += select(vec4f(0.0), yd, visible4(row, t, vis));
  }
  let s = row_sum((s4.x + s4.y) + (s4.z + s4.w), lid);
  for (var t = lane; t < nt; t += TPR) {
    var v = vec4f(0.0);
    if (t < vt) {
      let yv = textureLoad(y_tex, vec2u(t, row), 0);
      let g = p.scale * yv * (textureLoad(dy_tex, vec2u(t, row), 0) - s);
      v = select(vec4f(0.0), g, visible4(row, t, vis));
    }
    store_dx4(out_base + t, t, n, v);
  }
}
#endif
