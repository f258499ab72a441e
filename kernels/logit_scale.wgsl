// CLIP's learned temperature: y = exp(s) · x with s a one-element tensor on the GPU (it trains in the
// "both" variant, so it cannot be a uniform read back from the CPU every step).
//   dx = exp(s) · dy        ds = Σ dy ⊙ y   (one invocation sums in a fixed order: logits are B×C, small)
struct Params { n: u32 };

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> ds: array<f32>;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  y[i] = exp(s[0]) * x[i];
}

@compute @workgroup_size(64)
fn backward_x(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  dx[i] = exp(s[0]) * dy[i];
}

// ds accumulates (+=) so a parameter gradient can collect several uses.
@compute @workgroup_size(1)
fn backward_s() {
  var acc = 0.0;
  let e = exp(s[0]);
  for (var i = 0u; i < p.n; i++) {
    acc += dy[i] * e * x[i];
  }
  ds[0] += acc;
}
