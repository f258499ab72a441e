// Precision casts between f32 and f16 storage (mixed precision keeps f32 masters and f16 copies).
enable f16;

struct Params { n: u32 };

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<{{FROM}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{TO}}>;

@compute @workgroup_size(256)
fn convert(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  dst[i] = {{TO}}(src[i]);
}
