// Batched C = alpha · op(A) · op(B) (+ bias[n]) → activation (→ += C when accumulating).
//
// Register-blocked, no workgroup memory: each invocation owns a TM×TN block of C and streams A and B
// straight from storage, 4 values of k at a time. On CPUs running WebGPU (lavapipe) a load costs more
// than the FMAs it feeds and barriers are slow, so more outputs per load beat shared-memory tiles; on
// GPUs the same code with smaller blocks relies on the L1/L2 caches.
//
// Layouts (row-major, leading dimensions lda/ldb/ldc, element offsets):
//   A[m,k] = a[offA + m·lda + k]   or, TRANS_A, a[offA + k·lda + m]
//   B[k,n] = b[offB + k·ldb + n]   or, TRANS_B, b[offB + n·ldb + k]     (TRANS_B is x·Wᵀ with W [out, in])
//   C[m,n] = c[offC + m·ldc + n]
// Batch index z = (outer, inner) with inner = z % heads, each with its own stride, so per-head views of
// a packed [B, L, 3·D] projection are expressible without copies.
//
// Spec: F16, T, TM, TN, WX, WY, TRANS_A, TRANS_B, VEC (A and B are read as vec4 along their contiguous
// dimension: leading dims, offsets and batch strides are multiples of 4), TEX (with VEC: A and B are
// read from rgba textures holding the same rows — lavapipe's storage-buffer loads take a per-lane slow
// path that costs ~5× a texel fetch), HAS_BIAS, ACT (WGSL expression in v), ACCUM.
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
#if TEX
@group(0) @binding(1) var ta: texture_2d<f32>;
@group(0) @binding(2) var tb: texture_2d<f32>;
#else
#if VEC
@group(0) @binding(1) var<storage, read> a: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<T>>;
#else
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
#endif
#endif
#if CVEC
@group(0) @binding(3) var<storage, read_write> c: array<vec4<T>>;
#else
@group(0) @binding(3) var<storage, read_write> c: array<T>;
#endif
#if HAS_BIAS
@group(0) @binding(4) var<storage, read> bias: array<T>;
#endif

const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
const TNV = {{TN}} / 4;

fn activation(v: f32) -> f32 {
  return {{ACT}};
}

// Element (row, col) of a stored operand (col along the contiguous dimension, a multiple of 4), as
// the vec4 of columns col..col+3. `at` is where the batch item starts: a row and a column.
#if VEC
fn loadA4(at: vec2<u32>, row: u32, col: u32) -> vec4<f32> {
#if TEX
  return textureLoad(ta, vec2<u32>((at.y + col) / 4u, at.x + row), 0);
#else
  return vec4<f32>(a[((at.x + row) * p.lda + at.y + col) / 4u]);
#endif
}

fn loadB4(at: vec2<u32>, row: u32, col: u32) -> vec4<f32> {
#if TEX
  return textureLoad(tb, vec2<u32>((at.y + col) / 4u, at.x + row), 0);
#else
  return vec4<f32>(b[((at.x + row) * p.ldb + at.y + col) / 4u]);
#endif
}

// Batch start as (row, column) of the stored matrix; textures need it split, buffers just add it.
fn origin(base: u32, ld: u32) -> vec2<u32> {
#if TEX
  return vec2<u32>(base / ld, base % ld);
#else
  return vec2<u32>(0u, base);
#endif
}
#else
fn ax(base: u32, m: u32, k: u32) -> f32 {
#if TRANS_A
  return f32(a[base + k * p.lda + m]);
#else
  return f32(a[base + m * p.lda + k]);
#endif
}

fn bx(base: u32, k: u32, n: u32) -> f32 {
#if TRANS_B
  return f32(b[base + n * p.ldb + k]);
#else
  return f32(b[base + k * p.ldb + n]);
#endif
}
#endif

#if CVEC
// Four columns n..n+3 of row m at once (ldc, offsets and strides of C are multiples of 4, and N is, or
// C's rows have scratch columns up to the next multiple of 4 that these stores may fill); `v` already
// holds alpha·sum + bias, loaded by the caller where every lane reads the same address. One vector store
// instead of four scalar ones: on llvmpipe each scalar store is a per-lane scatter, and at K = 64 the
// stores of a 16×16 block cost as much as its FMAs.
fn store4(m: u32, n: u32, sum: vec4<f32>, baseC: u32) {
  if (m >= p.M || n >= p.N) { return; }
  var v = vec4<f32>(activation(sum.x), activation(sum.y), activation(sum.z), activation(sum.w));
  let at = (baseC + m * p.ldc + n) / 4u;
#if ACCUM
  v += vec4<f32>(c[at]);
#endif
  c[at] = vec4<T>(v);
}
#else
fn store(m: u32, n: u32, sum: f32, baseC: u32) {
  if (m >= p.M || n >= p.N) { return; }
  var v = p.alpha * sum;
#if HAS_BIAS
  v += f32(bias[p.bias0 + n]);
#endif
  v = activation(v);
  let at = baseC + m * p.ldc + n;
#if ACCUM
  v += f32(c[at]);
#endif
  c[at] = T(v);
}
#endif

@compute @workgroup_size({{WX}}, {{WY}}, 1)
fn matmul(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let z = wg.z;
  let zo = z / p.heads;
  let zi = z % p.heads;
  let baseA = p.offA + zo * p.sa0 + zi * p.sa1;
  let baseB = p.offB + zo * p.sb0 + zi * p.sb1;
  let baseC = p.offC + zo * p.sc0 + zi * p.sc1;
#if VEC
  let atA = origin(baseA, p.lda);
  let atB = origin(baseB, p.ldb);
#endif
  let m0 = (wg.y * {{WY}}u + lid.y) * TM;
  let n0 = (wg.x * {{WX}}u + lid.x) * TN;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let mLast = p.M - 1u;
  let nLast = p.N - 1u;

  var acc: array<vec4<f32>, TM * TNV>;
  var av: array<vec4<f32>, TM>;
  var bv: array<vec4<f32>, 4u * TNV>;

  // Rows/columns past the edge are clamped onto the last valid one (their results are not stored),
  // so every load stays inside the tensor and no poisoned padding can reach a stored output.
  // Every array index below is a constant after #unroll, so the blocks live in registers.
  var rowA: array<u32, TM>;
#unroll i TM
  rowA[{{i}}] = min(m0 + {{i}}u, mLast);
#endunroll
  var colB: array<u32, TN>;
#unroll j TN
  colB[{{j}}] = min(n0 + {{j}}u, nLast);
#endunroll

  for (var k = 0u; k < p.K; k += 4u) {
#if VEC
#if TRANS_A
    // A is [K, M]: four vec4 along m per 4×4 sub-block, transposed in registers.
#unroll ii TM/4
    {
      let mm = min(m0 + {{ii}}u * 4u, mLast & ~3u);
      let r0 = loadA4(atA, min(k, p.K - 1u), mm);
      let r1 = loadA4(atA, min(k + 1u, p.K - 1u), mm);
      let r2 = loadA4(atA, min(k + 2u, p.K - 1u), mm);
      let r3 = loadA4(atA, min(k + 3u, p.K - 1u), mm);
      av[{{ii}} * 4 + 0] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
      av[{{ii}} * 4 + 1] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
      av[{{ii}} * 4 + 2] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
      av[{{ii}} * 4 + 3] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
    }
#endunroll
#else
#unroll i TM
    av[{{i}}] = loadA4(atA, rowA[{{i}}], k);
#endunroll
#endif
#if TRANS_B
    // B is [N, K]: one vec4 along k per column, transposed in registers into rows of n.
#unroll jv TN/4
    {
      let c0 = loadB4(atB, colB[{{jv}} * 4 + 0], k);
      let c1 = loadB4(atB, colB[{{jv}} * 4 + 1], k);
      let c2 = loadB4(atB, colB[{{jv}} * 4 + 2], k);
      let c3 = loadB4(atB, colB[{{jv}} * 4 + 3], k);
      bv[{{jv}}] = vec4<f32>(c0.x, c1.x, c2.x, c3.x);
      bv[TNV + {{jv}}] = vec4<f32>(c0.y, c1.y, c2.y, c3.y);
      bv[2 * TNV + {{jv}}] = vec4<f32>(c0.z, c1.z, c2.z, c3.z);
      bv[3 * TNV + {{jv}}] = vec4<f32>(c0.w, c1.w, c2.w, c3.w);
    }
#endunroll
#else
#unroll kk 4
    {
      let kr = min(k + {{kk}}u, p.K - 1u);
#unroll jv TN/4
      bv[{{kk}} * TNV + {{jv}}] = loadB4(atB, kr, min(n0 + {{jv}}u * 4u, nLast & ~3u));
#endunroll
    }
#endunroll
#endif
#else
#unroll i TM
    av[{{i}}] = vec4<f32>(
      ax(baseA, rowA[{{i}}], min(k, p.K - 1u)),
      ax(baseA, rowA[{{i}}], min(k + 1u, p.K - 1u)),
      ax(baseA, rowA[{{i}}], min(k + 2u, p.K - 1u)),
      ax(baseA, rowA[{{i}}], min(k + 3u, p.K - 1u)),
    );
#endunroll
#unroll kk 4
    {
      let kr = min(k + {{kk}}u, p.K - 1u);
#unroll jv TN/4
      bv[{{kk}} * TNV + {{jv}}] = vec4<f32>(
        bx(baseB, kr, colB[{{jv}} * 4 + 0]),
        bx(baseB, kr, colB[{{jv}} * 4 + 1]),
        bx(baseB, kr, colB[{{jv}} * 4 + 2]),
        bx(baseB, kr, colB[{{jv}} * 4 + 3]),
      );
#endunroll
    }
#endunroll
#endif
    if (k + 4u > p.K) {
      // The last step of a K that is not a multiple of 4: lanes past K must contribute exactly zero
      // (the clamped loads above re-read element K−1, and padding may hold NaN).
      let live = p.K - k;
      let keep = vec4<bool>(true, live > 1u, live > 2u, live > 3u);
#unroll i TM
      av[{{i}}] = select(vec4<f32>(0.0), av[{{i}}], keep);
#endunroll
#unroll kk 4
      if ({{kk}}u >= live) {
#unroll jv TN/4
        bv[{{kk}} * TNV + {{jv}}] = vec4<f32>(0.0);
#endunroll
      }
#endunroll
    }
#unroll i TM
#unroll jv TN/4
    acc[{{i}} * TNV + {{jv}}] = fma(vec4<f32>(av[{{i}}].x), bv[{{jv}}],
      fma(vec4<f32>(av[{{i}}].y), bv[TNV + {{jv}}],
      fma(vec4<f32>(av[{{i}}].z), bv[2 * TNV + {{jv}}],
      fma(vec4<f32>(av[{{i}}].w), bv[3 * TNV + {{jv}}], acc[{{i}} * TNV + {{jv}}]))));
#endunroll
#endunroll
  }

  // Unrolled like the main loop: one dynamic index into acc would push the whole block to memory.
#if CVEC
#unroll jv TN/4
  {
#if HAS_BIAS
    let nb = p.bias0 + min(n0 + {{jv}}u * 4u, nLast & ~3u);
    let bias4 = vec4<f32>(f32(bias[nb]), f32(bias[nb + 1u]), f32(bias[nb + 2u]), f32(bias[nb + 3u]));
#else
    let bias4 = vec4<f32>(0.0);
#endif
#unroll i TM
    store4(m0 + {{i}}u, n0 + {{jv}}u * 4u, p.alpha * acc[{{i}} * TNV + {{jv}}] + bias4, baseC);
#endunroll
  }
#endunroll
#else
#unroll i TM
#unroll j TN
  store(m0 + {{i}}u, n0 + {{j}}u, acc[{{i}} * TNV + {{j}} / 4][{{j}} % 4], baseC);
#endunroll
#endunroll
#endif
}

#if SMALL
// Small-K variant (software adapters, K = KS ≤ 256, A not transposed): lavapipe runs a workgroup as
// 8-lane SIMD groups and loads memory lane by lane unless the address is the same for every lane and
// outside control flow. So each invocation owns one row of C and holds its row of A in registers, the
// workgroup stages the KS×NC block of B it needs once in workgroup memory, and straight-line code
// unrolled over k and the NC columns reads that block at constant offsets (one load for all lanes).
var<workgroup> bs: array<f32, {{KS}} * {{NC}}>;

// Columns 4q..4q+3 of row k of the staged block.
fn bsv(k: u32, q: u32) -> vec4<f32> {
  let i = k * {{NC}}u + q * 4u;
  return vec4<f32>(bs[i], bs[i + 1u], bs[i + 2u], bs[i + 3u]);
}

@compute @workgroup_size(64, 1, 1)
fn matmul_small(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let z = wg.z;
  let zo = z / p.heads;
  let zi = z % p.heads;
  let baseA = p.offA + zo * p.sa0 + zi * p.sa1;
  let baseB = p.offB + zo * p.sb0 + zi * p.sb1;
  let baseC = p.offC + zo * p.sc0 + zi * p.sc1;
  let atA = origin(baseA, p.lda);
  let atB = origin(baseB, p.ldb);
  let n0 = wg.x * {{NC}}u;
  let nLast = p.N - 1u;
  // Stage B[k, n0 + j] as bs[k·NC + j], four elements per load along B's contiguous dimension. Columns
  // past N are clamped onto the last one: they feed only outputs that are not stored.
#if TRANS_B
  for (var i = lid; i < {{NC}}u * {{KS}}u / 4u; i += 64u) {
    let j = i / ({{KS}}u / 4u);
    let k = (i % ({{KS}}u / 4u)) * 4u;
    let v = loadB4(atB, min(n0 + j, nLast), k);
    bs[k * {{NC}}u + j] = v.x;
    bs[(k + 1u) * {{NC}}u + j] = v.y;
    bs[(k + 2u) * {{NC}}u + j] = v.z;
    bs[(k + 3u) * {{NC}}u + j] = v.w;
  }
#else
  for (var i = lid; i < {{NC}}u * {{KS}}u / 4u; i += 64u) {
    let k = i / ({{NC}}u / 4u);
    let j = (i % ({{NC}}u / 4u)) * 4u;
    let v = loadB4(atB, k, min(n0 + j, nLast & ~3u));
    bs[k * {{NC}}u + j] = v.x;
    bs[k * {{NC}}u + j + 1u] = v.y;
    bs[k * {{NC}}u + j + 2u] = v.z;
    bs[k * {{NC}}u + j + 3u] = v.w;
  }
#endif
  workgroupBarrier();
  let m = wg.y * 64u + lid;
  let row = min(m, p.M - 1u);
#unroll kq KS/4
  let a{{kq}} = loadA4(atA, row, {{kq}}u * 4u);
#endunroll
#unroll jq NC/4
  var s{{jq}} = vec4<f32>(0.0);
#endunroll
#unroll kq KS/4
#unroll jq NC/4
  s{{jq}} = fma(vec4<f32>(a{{kq}}.x), bsv({{kq}}u * 4u, {{jq}}u), s{{jq}});
  s{{jq}} = fma(vec4<f32>(a{{kq}}.y), bsv({{kq}}u * 4u + 1u, {{jq}}u), s{{jq}});
  s{{jq}} = fma(vec4<f32>(a{{kq}}.z), bsv({{kq}}u * 4u + 2u, {{jq}}u), s{{jq}});
  s{{jq}} = fma(vec4<f32>(a{{kq}}.w), bsv({{kq}}u * 4u + 3u, {{jq}}u), s{{jq}});
#endunroll
#endunroll
#unroll jq NC/4
#if CVEC
  {
    var v = p.alpha * s{{jq}};
#if HAS_BIAS
    let nb = p.bias0 + min(n0 + {{jq}}u * 4u, nLast & ~3u);
    v += vec4<f32>(f32(bias[nb]), f32(bias[nb + 1u]), f32(bias[nb + 2u]), f32(bias[nb + 3u]));
#endif
    store4(m, n0 + {{jq}}u * 4u, v, baseC);
  }
#else
  store(m, n0 + {{jq}}u * 4u, s{{jq}}.x, baseC);
  store(m, n0 + {{jq}}u * 4u + 1u, s{{jq}}.y, baseC);
  store(m, n0 + {{jq}}u * 4u + 2u, s{{jq}}.z, baseC);
  store(m, n0 + {{jq}}u * 4u + 3u, s{{jq}}.w, baseC);
#endif
#endunroll
}
#endif
