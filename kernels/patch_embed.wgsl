// CLIP's conv1 (kernel = stride = P, no bias) as im2col + matmul. im2col lays frames [N, C, H, W]
// out as patches [N·gh·gw, C·P·P], rows (n, gy, gx) and columns (c, ky, kx), so that conv1.weight
// [D, C, P, P] viewed as [D, C·P·P] is the right-hand side of patches · Wᵀ. Patches do not overlap,
// so col2im (the adjoint) is a permutation: every pixel has exactly one source and no sums are needed.
// Both entry points walk their output in order so writes are contiguous.
// Spec: F16 / T (storage type of frames and patches).
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params {
  total: u32,  // N·C·H·W = elements of frames and of patches
  c: u32,
  h: u32,
  w: u32,
  p: u32,
  gh: u32,     // H / P
  gw: u32,     // W / P
  _pad: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> frames: array<T>;
@group(0) @binding(2) var<storage, read_write> patches: array<T>;
@group(0) @binding(3) var<storage, read> dpatches: array<T>;
@group(0) @binding(4) var<storage, read_write> dframes: array<T>;

@compute @workgroup_size(256)
fn im2col(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.total) { return; }
  let pp = p.p * p.p;
  let k_len = p.c * pp;
  let row = i / k_len;
  let k = i - row * k_len;
  let ch = k / pp;
  let r = k - ch * pp;
  let ky = r / p.p;
  let kx = r - ky * p.p;
  let cells = p.gh * p.gw;
  let img = row / cells;
  let cell = row - img * cells;
  let gy = cell / p.gw;
  let gx = cell - gy * p.gw;
  patches[i] = frames[((img * p.c + ch) * p.h + gy * p.p + ky) * p.w + gx * p.p + kx];
}

@compute @workgroup_size(256)
fn col2im(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.total) { return; }
  let x = i % p.w;
  let t = i / p.w;
  let y = t % p.h;
  let t2 = t / p.h;
  let ch = t2 % p.c;
  let img = t2 / p.c;
  let gy = y / p.p;
  let gx = x / p.p;
  let row = (img * p.gh + gy) * p.gw + gx;
  let k = (ch * p.p + (y - gy * p.p)) * p.p + (x - gx * p.p);
  dframes[i] = dpatches[row * p.c * p.p * p.p + k];
}
