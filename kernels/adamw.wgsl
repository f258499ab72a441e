// PyTorch's AdamW step, in place over flat f32 parameters with f32 moments:
//   g ← gradScale·g;  p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//   p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps).
// The step-dependent factors are computed on the CPU in float64 and arrive in the uniform, so a new
// step or learning rate never recompiles. `nonfinite` raises a flag when any gradient is NaN/±Inf
// (dynamic loss scaling skips such steps); with SKIP the update reads that flag itself, so the
// skip needs no CPU round trip.
// Spec: F16 (enable f16), GRAD_F16 (gradient storage is f16), HALF (also write an f16 copy of the
// updated parameters), SKIP (leave everything untouched when the flag is set).
#if F16
enable f16;
#endif
#if GRAD_F16
alias G = f16;
#else
alias G = f32;
#endif

struct Params {
  n: u32,
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  decay: f32,       // 1 − lr·wd
  step_size: f32,   // lr / (1 − β1^t)
  bc2_sqrt: f32,    // sqrt(1 − β2^t)
  grad_scale: f32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<G>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
#if HALF
@group(0) @binding(5) var<storage, read_write> param_half: array<f16>;
#endif
@group(0) @binding(6) var<storage, read_write> flag: atomic<u32>;
// The gradient's raw bits: the compiler may assume floats are finite, so tests on float values
// (x != x, isinf) can be optimised away; exponent bits cannot.
@group(0) @binding(7) var<storage, read> grad_bits: array<u32>;

@compute @workgroup_size(256)
fn update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
#if SKIP
  if (atomicLoad(&flag) != 0u) { return; }
#endif
  let g = f32(grad[i]) * p.grad_scale;
  let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let w = param[i] * p.decay - p.step_size * mi / (sqrt(vi) / p.bc2_sqrt + p.eps);
  param[i] = w;
#if HALF
  param_half[i] = f16(w);
#endif
}

@compute @workgroup_size(256)
fn nonfinite(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
#if GRAD_F16
  // Two halves per word; the upper half of the last word is padding when n is odd.
  if (i * 2u >= p.n) { return; }
  let bits = grad_bits[i];
  var bad = (bits & 0x7c00u) == 0x7c00u;
  if (i * 2u + 1u < p.n) { bad = bad || (bits & 0x7c000000u) == 0x7c000000u; }
#else
  if (i >= p.n) { return; }
  let bad = (grad_bits[i] & 0x7f800000u) == 0x7f800000u;
#endif
  if (bad) { atomicStore(&flag, 1u); }
}
