// Row-wise L2 normalisation, as CLIP normalises video and text embeddings before the cosine logits:
//   y = x / ‖x‖        dx = (dy − y·(dy·y)) / ‖x‖
// One invocation per row (embedding rows are short: 512 for ViT-B/16).
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { rows: u32, width: u32 };

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<storage, read> dy: array<T>;
@group(0) @binding(4) var<storage, read_write> dx: array<T>;

fn inv_norm(base: u32) -> f32 {
  var s = 0.0;
  for (var c = 0u; c < p.width; c++) {
    let v = f32(x[base + c]);
    s += v * v;
  }
  // A zero row stays zero instead of becoming NaN.
  return select(0.0, inverseSqrt(s), s > 0.0);
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = g.x + g.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let base = row * p.width;
  let r = inv_norm(base);
  for (var c = 0u; c < p.width; c++) {
    y[base + c] = T(f32(x[base + c]) * r);
  }
}

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = g.x + g.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let base = row * p.width;
  let r = inv_norm(base);
  var d = 0.0;
  for (var c = 0u; c < p.width; c++) {
    d += f32(dy[base + c]) * f32(x[base + c]) * r;
  }
  for (var c = 0u; c < p.width; c++) {
    let yc = f32(x[base + c]) * r;
    dx[base + c] = T((f32(dy[base + c]) - yc * d) * r);
  }
}
