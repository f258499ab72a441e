// QuickGELU, CLIP's activation: y = x·σ(1.702x).  dy/dx = σ(1.702x)·(1 + 1.702x·(1 − σ(1.702x))).
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { n: u32 };

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<storage, read> dy: array<T>;
@group(0) @binding(4) var<storage, read_write> dx: array<T>;

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = f32(x[i]);
  y[i] = T(v * sigmoid(1.702 * v));
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let v = f32(x[i]);
  let s = sigmoid(1.702 * v);
  dx[i] = T(f32(dy[i]) * s * (1.0 + 1.702 * v * (1.0 - s)));
}
