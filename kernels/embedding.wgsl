// Token embedding. Forward gathers rows of the table; backward scatters row gradients back.
// WGSL has no float atomics, so the backward is made deterministic instead: the CPU (which has the
// ids from the tokenizer) groups the positions of each distinct id (CSR), and one invocation owns one
// (distinct id, column) and sums that id's positions in ascending order.
// Spec: F16 (enable f16), T (table / out / dout storage), G (dtable storage), ACCUMULATE (add into
// the existing dtable rows instead of storing into a cleared one). The forward passes G = T and
// ACCUMULATE off so that it compiles once per table dtype.
#if F16
enable f16;
#endif
alias T = {{T}};
alias G = {{G}};

// Tables larger than a storage binding are bound in windows of rows v0 .. v1−1, one dispatch each.
struct Params {
  n: u32,      // forward: ids; backward: distinct ids
  d: u32,      // embedding width
  vocab: u32,  // table rows
  v0: u32,     // first table row in the bound window
  v1: u32,     // end of the window's rows
  u0: u32,     // backward: first distinct id of this dispatch (its ids lie in the window)
  count: u32,  // backward: distinct ids in this dispatch
  r0: u32,     // backward: positions r0 .. r1−1 are in the bound window of dout (the rest are summed
  r1: u32,     //   by other dispatches, which accumulate)
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> table: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;
// [distinct ids (n) | offsets into positions (n + 1) | positions grouped by id, ascending]
@group(0) @binding(4) var<storage, read> csr: array<u32>;
@group(0) @binding(5) var<storage, read> dout: array<T>;
@group(0) @binding(6) var<storage, read_write> dtable: array<G>;

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.n * p.d) { return; }
  let row = i / p.d;
  let col = i - row * p.d;
  // Ids that live on the GPU were never validated: clamp so a bad one cannot read past the table.
  let id = u32(clamp(ids[row], 0, i32(p.vocab) - 1));
  if (id < p.v0 || id >= p.v1) { return; }
  out[i] = table[(id - p.v0) * p.d + col];
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i >= p.count * p.d) { return; }
  let u = p.u0 + i / p.d;
  let col = i % p.d;
  let first = csr[p.n + u];
  let last = csr[p.n + u + 1u];
  let positions = 2u * p.n + 1u;
  var acc = 0.0;
  for (var k = first; k < last; k++) {
    let pos = csr[positions + k];
    if (pos >= p.r0 && pos < p.r1) {
      acc += f32(dout[(pos - p.r0) * p.d + col]);
    }
  }
  let dst = (min(csr[u], p.vocab - 1u) - p.v0) * p.d + col;
#if ACCUMULATE
  dtable[dst] = G(f32(dtable[dst]) + acc);
#else
  dtable[dst] = G(acc);
#endif
}
