// Sum over the middle axis of a tensor viewed as [outer, axis, inner], and its adjoint: broadcasting
// back over that axis. Deterministic (no atomics): each output is owned by one invocation.
// Spec: F16 (either side is f16); TIN / TOUT storage types of src / dst (a long sum is split into f32
// partials first, which are then summed into the final dtype).
#if F16
enable f16;
#endif

struct Params {
  outer: u32,
  axis: u32,
  inner: u32,
  chunk: u32,   // sum: axis elements per output (the output is [outer, ceil(axis / chunk), inner])
  alpha: f32,   // scale applied to every result (1/axis for a mean)
  // Tensors larger than a storage binding are split into dispatches over windows of them:
  at: u32,      // sum: dst index of this dispatch's first output; expand: flat dst index of dst[0]
  src0: u32,    // sum: index in the bound src window where element [0, 0, 0] lies
  count: u32,   // expand: dst elements in this dispatch
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<{{TIN}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{TOUT}}>;

// dst[o, k, i] = alpha · Σ_{a ∈ chunk k} src[o, a, i]. Consecutive invocations take consecutive i, so
// the strided walk down the axis still reads contiguous memory across a workgroup.
@compute @workgroup_size(256)
fn sum(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = g.x + g.y * nwg.x * 256u;
  let chunks = max((p.axis + p.chunk - 1u) / p.chunk, 1u);
  if (idx >= p.outer * chunks * p.inner) { return; }
  let i = idx % p.inner;
  let t = idx / p.inner;
  let k = t % chunks;
  let o = t / chunks;
  let a1 = min((k + 1u) * p.chunk, p.axis);
  let base = p.src0 + o * p.axis * p.inner + i;
  var acc = 0.0;
  for (var a = k * p.chunk; a < a1; a++) {
    acc += f32(src[base + a * p.inner]);
  }
  dst[p.at + idx] = {{TOUT}}(acc * p.alpha);
}

// dst[o, a, i] = alpha · src[o, i]: the gradient of sum (alpha 1) or mean (alpha 1/axis).
@compute @workgroup_size(256)
fn expand(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = g.x + g.y * nwg.x * 256u;
  if (idx >= p.count) { return; }
  let i = (p.at + idx) % p.inner;
  let o = (p.at + idx) / (p.axis * p.inner);
  dst[idx] = {{TOUT}}(p.alpha * f32(src[o * p.inner + i]));
}
