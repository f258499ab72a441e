// Batched C = alpha · op(A) · op(B) (+ bias[n]) → activation (→ += C when accumulating), for GPUs.
//
// Workgroup-memory tiled: a workgroup owns a BM×BN block of C and walks K in steps of BK. Each step
// the workgroup copies a BM×BK block of A and a BK×BN block of B into workgroup memory (coalesced:
// neighbouring invocations read neighbouring 4-element quads along the operand's contiguous
// dimension, as vec4 loads when VEC), then every invocation accumulates its TM×TN outputs in
// registers from vec4 reads of those blocks: TM/4 + TN/4 workgroup loads feed TM·TN FMAs per k.
// Both blocks are stored k-major ([k][m] and [k][n]) so those reads are vec4s whatever the operand
// layouts; a transposed operand is transposed while it is written. An invocation's outputs are
// interleaved (rows 4·(ty + i·WY) + r, columns 4·(tx + j·WX) + c) so that neighbouring invocations
// read neighbouring vec4s of the blocks, without bank conflicts, and store neighbouring columns.
//
// Layouts and batching are those of kernels/matmul.wgsl (same Params), so attention's per-head views
// and gemm()'s binding windows work unchanged.
//
// Spec: F16, T (storage type; f16 operands are widened to f32 on load, all sums are f32), BM, BN, BK
// (block of C and step along K), TM, TN (outputs per invocation, multiples of 4), LA, LB (quads of A
// and B each invocation copies per step: BM·BK/4/WGS and BN·BK/4/WGS), TRANS_A, TRANS_B, VEC (vec4
// loads: leading dims, offsets and batch strides of A and B are multiples of 4), CHECKS (M, N or K
// does not divide the block: loads past the edges read zeros and stores past them are skipped; off,
// the kernel has no edge code at all), DB (double buffering: the next step's blocks are loaded from
// memory while this step's are multiplied, one barrier per step instead of two), HAS_BIAS, ACT
// (WGSL expression in v), ACCUM.
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params {
  M: u32, N: u32, K: u32, heads: u32,
  lda: u32, ldb: u32, ldc: u32, alpha: f32,
  offA: u32, sa0: u32, sa1: u32, offB: u32,
  sb0: u32, sb1: u32, offC: u32, sc0: u32,
  sc1: u32, bias0: u32, _p1: u32, _p2: u32,  // bias0: first bias element (N is split into tiles)
};

@group(0) @binding(0) var<uniform> p: Params;
#if VEC
@group(0) @binding(1) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<T>>;
#else
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
#endif
@group(0) @binding(3) var<storage, read_write> c: array<T>;
#if HAS_BIAS
@group(0) @binding(4) var<storage, read> bias: array<T>;
#endif

const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const TM = {{TM}}u;
const TN = {{TN}}u;
// invocations along n and m, and in all
const WX = BN / TN;
const WY = BM / TM;
const WGS = WX * WY;
// vec4s per k-row of the staged A and B blocks
const AV = BM / 4u;
const BV = BN / 4u;
const TNV = TN / 4u;
#if DB
const STAGES = 2u;
#else
const STAGES = 1u;
#endif

var<workgroup> As: array<vec4<f32>, STAGES * BK * AV>;
var<workgroup> Bs: array<vec4<f32>, STAGES * BK * BV>;
// this invocation's quads of the next A and B blocks, and its TM×TN sums (row-major, vec4 columns)
var<private> ra: array<vec4<f32>, {{LA}}>;
var<private> rb: array<vec4<f32>, {{LB}}>;
var<private> acc: array<vec4<f32>, TM * TNV>;  // private variables start at zero

fn activation(v: f32) -> f32 {
  return {{ACT}};
}

// Elements col..col+3 of stored row `row` of A (base: where the batch item starts). With CHECKS,
// elements outside rows × cols read as zero (padding may hold NaN) and the address is clamped inside.
fn quadA(base: u32, row: u32, col: u32, rows: u32, cols: u32) -> vec4<f32> {
#if CHECKS
  let r = min(row, rows - 1u);
  let live = vec4<bool>(row < rows && col < cols, row < rows && col + 1u < cols,
    row < rows && col + 2u < cols, row < rows && col + 3u < cols);
#if VEC
  let v = vec4<f32>(a[(base + r * p.lda + min(col, (cols - 1u) & ~3u)) / 4u]);
#else
  let i = base + r * p.lda;
  let v = vec4<f32>(f32(a[i + min(col, cols - 1u)]), f32(a[i + min(col + 1u, cols - 1u)]),
    f32(a[i + min(col + 2u, cols - 1u)]), f32(a[i + min(col + 3u, cols - 1u)]));
#endif
  return select(vec4<f32>(0.0), v, live);
#else
#if VEC
  return vec4<f32>(a[(base + row * p.lda + col) / 4u]);
#else
  let i = base + row * p.lda + col;
  return vec4<f32>(f32(a[i]), f32(a[i + 1u]), f32(a[i + 2u]), f32(a[i + 3u]));
#endif
#endif
}

fn quadB(base: u32, row: u32, col: u32, rows: u32, cols: u32) -> vec4<f32> {
#if CHECKS
  let r = min(row, rows - 1u);
  let live = vec4<bool>(row < rows && col < cols, row < rows && col + 1u < cols,
    row < rows && col + 2u < cols, row < rows && col + 3u < cols);
#if VEC
  let v = vec4<f32>(b[(base + r * p.ldb + min(col, (cols - 1u) & ~3u)) / 4u]);
#else
  let i = base + r * p.ldb;
  let v = vec4<f32>(f32(b[i + min(col, cols - 1u)]), f32(b[i + min(col + 1u, cols - 1u)]),
    f32(b[i + min(col + 2u, cols - 1u)]), f32(b[i + min(col + 3u, cols - 1u)]));
#endif
  return select(vec4<f32>(0.0), v, live);
#else
#if VEC
  return vec4<f32>(b[(base + row * p.ldb + col) / 4u]);
#else
  let i = base + row * p.ldb + col;
  return vec4<f32>(f32(b[i]), f32(b[i + 1u]), f32(b[i + 2u]), f32(b[i + 3u]));
#endif
#endif
}

// Quad q of a block is row q / (quads per row), quad q % (quads per row) of that row, so consecutive
// invocations read consecutive memory.
fn loadBlocks(tid: u32, k0: u32, m0: u32, n0: u32, baseA: u32, baseB: u32) {
#unroll i LA
  {
    let q = tid + {{i}}u * WGS;
#if TRANS_A
    ra[{{i}}] = quadA(baseA, k0 + q / AV, m0 + (q % AV) * 4u, p.K, p.M);
#else
    ra[{{i}}] = quadA(baseA, m0 + q / (BK / 4u), k0 + (q % (BK / 4u)) * 4u, p.M, p.K);
#endif
  }
#endunroll
#unroll i LB
  {
    let q = tid + {{i}}u * WGS;
#if TRANS_B
    rb[{{i}}] = quadB(baseB, n0 + q / (BK / 4u), k0 + (q % (BK / 4u)) * 4u, p.N, p.K);
#else
    rb[{{i}}] = quadB(baseB, k0 + q / BV, n0 + (q % BV) * 4u, p.K, p.N);
#endif
  }
#endunroll
}

// The loaded quads into stage s of the blocks, k-major: a quad along k becomes one element of four
// k-rows (component row % 4 of vec4 row / 4), a quad along m or n is one vec4 as it is.
fn storeBlocks(tid: u32, s: u32) {
#unroll i LA
  {
    let q = tid + {{i}}u * WGS;
#if TRANS_A
    As[s * BK * AV + q] = ra[{{i}}];
#else
    let row = q / (BK / 4u);
    let o = s * BK * AV + (q % (BK / 4u)) * 4u * AV + row / 4u;
    let e = row % 4u;
    As[o][e] = ra[{{i}}].x;
    As[o + AV][e] = ra[{{i}}].y;
    As[o + 2u * AV][e] = ra[{{i}}].z;
    As[o + 3u * AV][e] = ra[{{i}}].w;
#endif
  }
#endunroll
#unroll i LB
  {
    let q = tid + {{i}}u * WGS;
#if TRANS_B
    let row = q / (BK / 4u);
    let o = s * BK * BV + (q % (BK / 4u)) * 4u * BV + row / 4u;
    let e = row % 4u;
    Bs[o][e] = rb[{{i}}].x;
    Bs[o + BV][e] = rb[{{i}}].y;
    Bs[o + 2u * BV][e] = rb[{{i}}].z;
    Bs[o + 3u * BV][e] = rb[{{i}}].w;
#else
    Bs[s * BK * BV + q] = rb[{{i}}];
#endif
  }
#endunroll
}

// One step: acc += A block (rows of this invocation) · B block (its columns), from stage s.
fn multiply(s: u32, tx: u32, ty: u32) {
  for (var k = 0u; k < BK; k++) {
    let ao = s * BK * AV + k * AV + ty;
    let bo = s * BK * BV + k * BV + tx;
#unroll i TM/4
    let a{{i}} = As[ao + {{i}}u * WY];
#endunroll
#unroll j TN/4
    let b{{j}} = Bs[bo + {{j}}u * WX];
#endunroll
#unroll i TM/4
#unroll r 4
#unroll j TN/4
    acc[({{i}} * 4 + {{r}}) * TNV + {{j}}] = fma(vec4<f32>(a{{i}}[{{r}}]), b{{j}}, acc[({{i}} * 4 + {{r}}) * TNV + {{j}}]);
#endunroll
#endunroll
#endunroll
  }
}

// Columns n..n+3 of row m: alpha·sum + bias → activation (+ C).
fn store4(m: u32, n: u32, sum: vec4<f32>, baseC: u32) {
#if CHECKS
  if (m >= p.M) { return; }
#endif
  let at = baseC + m * p.ldc + n;
#unroll e 4
  {
#if CHECKS
    if (n + {{e}}u < p.N) {
#else
    {
#endif
      var v = p.alpha * sum[{{e}}];
#if HAS_BIAS
      v += f32(bias[p.bias0 + n + {{e}}u]);
#endif
      v = activation(v);
#if ACCUM
      v += f32(c[at + {{e}}u]);
#endif
      c[at + {{e}}u] = T(v);
    }
  }
#endunroll
}

@compute @workgroup_size(WGS, 1, 1)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let zo = wg.z / p.heads;
  let zi = wg.z % p.heads;
  let baseA = p.offA + zo * p.sa0 + zi * p.sa1;
  let baseB = p.offB + zo * p.sb0 + zi * p.sb1;
  let baseC = p.offC + zo * p.sc0 + zi * p.sc1;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let tx = tid % WX;
  let ty = tid / WX;
  // Every invocation reaches every barrier (the step count is uniform; edges are masked, never
  // returned from), as WGSL requires.
  let steps = (p.K + BK - 1u) / BK;
#if DB
  if (steps > 0u) {
    loadBlocks(tid, 0u, m0, n0, baseA, baseB);
    storeBlocks(tid, 0u);
  }
  workgroupBarrier();
  for (var t = 0u; t < steps; t++) {
    // Stage (t+1)%2 was last read in step t−1, which every invocation finished before the barrier.
    let more = t + 1u < steps;
    if (more) { loadBlocks(tid, (t + 1u) * BK, m0, n0, baseA, baseB); }
    multiply(t & 1u, tx, ty);
    if (more) { storeBlocks(tid, (t + 1u) & 1u); }
    workgroupBarrier();
  }
#else
  for (var t = 0u; t < steps; t++) {
    loadBlocks(tid, t * BK, m0, n0, baseA, baseB);
    storeBlocks(tid, 0u);
    workgroupBarrier();
    multiply(0u, tx, ty);
    workgroupBarrier();
  }
#endif
#unroll i TM/4
#unroll r 4
#unroll j TN/4
  store4(m0 + 4u * (ty + {{i}}u * WY) + {{r}}u, n0 + 4u * (tx + {{j}}u * WX), acc[({{i}} * 4 + {{r}}) * TNV + {{j}}], baseC);
#endunroll
#endunroll
#endunroll
}
