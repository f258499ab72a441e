// Batched C = alpha · op(A) · op(B) (+ bias[n]) → activation (→ += C when accumulating), sharing A
// through subgroup shuffles instead of workgroup memory (adapters with the `subgroups` feature).
//
// A workgroup of W invocations owns TM rows × W·TN columns of C; every invocation owns all TM rows and
// TN columns (vec4 groups tid + j·W, so neighbouring invocations read and write neighbouring memory).
// As every invocation needs the same A values, a subgroup loads them cooperatively: per pass, the
// active lane of rank r loads A[m0..m0+TM−1, k0 + r], then for each k the lane that holds it is
// shuffled to all, and each invocation reads its own B row segment from memory. No workgroup memory
// and no barriers. Correct by construction for any subgroup size and any assignment of invocations
// to subgroups (partial subgroups too): the lanes are taken from the subgroup's own ballot, in lane
// order, and nothing depends on which invocation index a lane has.
//
// Layouts, batching and Params are those of kernels/matmul.wgsl. Spec: F16, T, TM (rows, 4 or 8), TN
// (columns per invocation, 4 or 8), W (invocations), TRANS_A, TRANS_B, VEC (A and B bound as vec4
// arrays: leading dims, offsets and batch strides multiples of 4; B rows are then read as vec4 where
// they lie inside N), HAS_BIAS, ACT, ACCUM.
enable subgroups;
#if F16
enable f16;
#endif
// The loops below are uniform within each subgroup (bounded by the ballot and by uniform params), which
// the workgroup-scope uniformity analysis cannot see.
diagnostic(off, subgroup_uniformity);
alias T = {{T}};

struct Params {
  M: u32, N: u32, K: u32, heads: u32,
  lda: u32, ldb: u32, ldc: u32, alpha: f32,
  offA: u32, sa0: u32, sa1: u32, offB: u32,
  sb0: u32, sb1: u32, offC: u32, sc0: u32,
  sc1: u32, bias0: u32, _p1: u32, _p2: u32,
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

const TM = {{TM}}u;
const TN = {{TN}}u;
const W = {{W}}u;
const TNV = TN / 4u;

var<private> acc: array<vec4<f32>, TM * TNV>;  // private variables start at zero

fn activation(v: f32) -> f32 {
  return {{ACT}};
}

// Element i of a or b, whichever way they are bound.
fn aAt(i: u32) -> f32 {
#if VEC
  return f32(a[i / 4u][i % 4u]);
#else
  return f32(a[i]);
#endif
}

fn bAt(i: u32) -> f32 {
#if VEC
  return f32(b[i / 4u][i % 4u]);
#else
  return f32(b[i]);
#endif
}

// A[m, k], zero outside M × K (the address is clamped inside, so padding never reaches a sum).
fn elemA(base: u32, m: u32, k: u32) -> f32 {
  let mc = min(m, p.M - 1u);
  let kc = min(k, p.K - 1u);
#if TRANS_A
  let v = aAt(base + kc * p.lda + mc);
#else
  let v = aAt(base + mc * p.lda + kc);
#endif
  return select(0.0, v, m < p.M && k < p.K);
}

fn elemB(base: u32, k: u32, n: u32) -> f32 {
  let nc = min(n, p.N - 1u);
#if TRANS_B
  let v = bAt(base + nc * p.ldb + k);
#else
  let v = bAt(base + k * p.ldb + nc);
#endif
  return select(0.0, v, n < p.N);
}

// B[k, n..n+3] (k < K), zeros past N.
fn rowB(base: u32, k: u32, n: u32) -> vec4<f32> {
#if VEC
#if !TRANS_B
  if (n + 3u < p.N) {
    return vec4<f32>(b[(base + k * p.ldb + n) / 4u]);
  }
#endif
#endif
  return vec4<f32>(elemB(base, k, n), elemB(base, k, n + 1u), elemB(base, k, n + 2u), elemB(base, k, n + 3u));
}

// Active lanes of the ballot below `lane`.
fn ranked(ballot: vec4<u32>, lane: u32) -> u32 {
  var n = 0u;
  for (var w = 0u; w < 4u; w++) {
    let lo = w * 32u;
    var mask = 0u;
    if (lane >= lo + 32u) {
      mask = 0xffffffffu;
    } else if (lane > lo) {
      mask = (1u << (lane - lo)) - 1u;
    }
    n += countOneBits(ballot[w] & mask);
  }
  return n;
}

// Columns n..n+3 of row m: alpha·sum + bias → activation (+ C), skipping those outside M × N.
fn store4(m: u32, n: u32, sum: vec4<f32>, baseC: u32) {
  if (m >= p.M) { return; }
  let at = baseC + m * p.ldc + n;
#unroll e 4
  if (n + {{e}}u < p.N) {
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
#endunroll
}

@compute @workgroup_size(W, 1, 1)
fn matmul_sg(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) tid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
) {
  let zo = wg.z / p.heads;
  let zi = wg.z % p.heads;
  let baseA = p.offA + zo * p.sa0 + zi * p.sa1;
  let baseB = p.offB + zo * p.sb0 + zi * p.sb1;
  let baseC = p.offC + zo * p.sc0 + zi * p.sc1;
  let m0 = wg.y * TM;
  let n0 = wg.x * W * TN;
  let ballot = subgroupBallot(true);
  let rank = ranked(ballot, lane);
  let live = countOneBits(ballot.x) + countOneBits(ballot.y) + countOneBits(ballot.z) + countOneBits(ballot.w);
  for (var k0 = 0u; k0 < p.K; k0 += live) {
#unroll i TM
    let a{{i}} = elemA(baseA, m0 + {{i}}u, k0 + rank);
#endunroll
    // The kk-th active lane in lane order has rank kk, so it holds k0 + kk.
    var kk = 0u;
    for (var src = 0u; src < size; src++) {
      if (((ballot[src / 32u] >> (src % 32u)) & 1u) == 0u) { continue; }
      let k = k0 + kk;
      kk++;
      if (k >= p.K) { break; }
#unroll j TN/4
      let b{{j}} = rowB(baseB, k, n0 + (tid + {{j}}u * W) * 4u);
#endunroll
#unroll i TM
      {
        let s = vec4<f32>(subgroupShuffle(a{{i}}, src));
#unroll j TN/4
        acc[{{i}}u * TNV + {{j}}u] = fma(s, b{{j}}, acc[{{i}}u * TNV + {{j}}u]);
#endunroll
      }
#endunroll
    }
  }
#unroll i TM
#unroll j TN/4
  store4(m0 + {{i}}u, n0 + (tid + {{j}}u * W) * 4u, acc[{{i}}u * TNV + {{j}}u], baseC);
#endunroll
#endunroll
}
