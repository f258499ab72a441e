// Elementwise ops on flat arrays. `b` broadcasts by repetition: b has n_b elements and element i of
// `a` pairs with b[i % n_b] (a bias over the last dimension, a positional embedding over the batch).
// Spec: F16 / T (storage type of a, b and out), OP: a WGSL expression in x = alpha·a[i] and
// y = beta·b[(i + phase) % n_b] ("x + y", "x * y", "x" for a plain scale, which leaves b unbound).
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params {
  n: u32,      // elements of a / out
  n_b: u32,    // elements of b (divides the whole tensor's length)
  alpha: f32,
  beta: f32,
  phase: u32,  // a[0] pairs with b[phase]: the op splits large tensors into chunks of elements
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
#if HAS_B
@group(0) @binding(2) var<storage, read> b: array<T>;
#endif
@group(0) @binding(3) var<storage, read_write> out: array<T>;

// Dispatches are folded into 2-D grids of 256-wide workgroups to stay under 65535 per dimension.
fn flat(g: vec3u, nwg: vec3u) -> u32 {
  return g.x + g.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn binary(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(g, nwg);
  if (i >= p.n) { return; }
  let x = p.alpha * f32(a[i]);
#if HAS_B
  let y = p.beta * f32(b[(i + p.phase) % p.n_b]);
#endif
  out[i] = T({{OP}});
}

