// dst += alpha · src, with src repeating over dst (src.size divides dst.size): gradient accumulation
// in place, which elementwise.wgsl cannot do because one buffer may not be bound read-only and
// writable in the same dispatch. src and dst may differ in precision (f16 gradients of an f16
// forward accumulate into f32 master gradients).
// Spec: F16 (either side is f16), TS, TD.
#if F16
enable f16;
#endif

struct Params { n: u32, n_src: u32, alpha: f32, phase: u32 };  // dst[0] pairs with src[phase]

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<{{TS}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{TD}}>;

@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  dst[i] = {{TD}}(f32(dst[i]) + p.alpha * f32(src[(i + p.phase) % p.n_src]));
}
