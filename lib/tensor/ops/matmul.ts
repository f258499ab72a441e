// Batched matrix multiply on the register-blocked kernel (kernels/matmul.wgsl): either operand
// transposed, optional bias and activation epilogue, optional accumulation into C.

import type { Gpu } from "../../gpu/device.ts";
import { bindingLimits, checkWhole, elementWindow, round4 } from "../../gpu/chunks.ts";
import type { Binding, Runtime } from "../../gpu/runtime.ts";
import { type DType, expectDtype, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params } from "./common.ts";

export type Activation = "none" | "quickgelu";

const ACT: Record<Activation, string> = {
  none: "v",
  quickgelu: "v / (1.0 + exp(-1.702 * v))",
};

export interface Tiles {
  TM: number;
  TN: number;
  WX: number;
  WY: number;
}

/**
 * Block sizes per adapter. CPUs (lavapipe) want many outputs per invocation to amortise loads;
 * GPUs want more invocations and fewer registers per invocation.
 */
export function chooseTiles(gpu: Gpu, M: number, N: number): Tiles {
  // lavapipe: 16×16 blocks in 16×4 workgroups measured best (bench ladder, 2026-11-27: 25 GFLOP/s at
  // 1576×768×768 against 20 for 16×8 and 16 for 8×8); one SIMD row of 8 lanes per workgroup row.
  // Narrow outputs (attention's P·V has N = 64) get the 64 invocations arranged along M instead, so
  // the SIMD lanes are not spent on columns past N.
  if (gpu.info.software) {
    const wx = Math.min(16, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(N / 16)))));
    return { TM: 16, TN: 16, WX: wx, WY: 64 / wx };
  }
  const t = { TM: 8, TN: 8, WX: 8, WY: 8 };
  // Small outputs (per-head attention, text tower) need smaller blocks to fill the GPU.
  if (M * N < 256 * 256) return { TM: 4, TN: 4, WX: 8, WY: 8 };
  return t;
}

/** A strided, batched GEMM over raw buffers: the form attention uses for per-head views. */
export interface GemmArgs {
  a: GPUBuffer;
  b: GPUBuffer;
  c: GPUBuffer;
  bias?: GPUBuffer;
  dtype: DType;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  offA?: number;
  offB?: number;
  offC?: number;
  /** batch = outer × heads; strides in elements for each level (0 broadcasts) */
  batch?: number;
  heads?: number;
  strideA?: [number, number];
  strideB?: [number, number];
  strideC?: [number, number];
  alpha?: number;
  activation?: Activation;
  accumulate?: boolean;
  tiles?: Tiles;
  /** false: never stage operands through textures (tests both paths) */
  useTextures?: boolean;
  label?: string;
}

type Dim = "m" | "n" | "k";
type Range = [number, number];

/** Part of a GEMM done by one dispatch: outer batch items, heads, and rows/columns/depth of C = A·B. */
interface Tile {
  zo: Range;
  zi: Range;
  m: Range;
  n: Range;
  k: Range;
}

/** A stored operand: its rows run along one dimension of the product, its columns along another. */
interface Operand {
  buf: GPUBuffer;
  off: number;
  s: [number, number];
  ld: number;
  rows: Dim;
  cols: Dim;
}

/** Element span [first, end) of an operand that a tile reads or writes. */
function spanOf(x: Operand, t: Tile): { first: number; end: number } {
  const [r, c] = [t[x.rows], t[x.cols]];
  const first = x.off + t.zo[0] * x.s[0] + t.zi[0] * x.s[1] + r[0] * x.ld + c[0];
  const end = x.off + (t.zo[1] - 1) * x.s[0] + (t.zi[1] - 1) * x.s[1] + (r[1] - 1) * x.ld + c[1];
  return { first, end: Math.max(first, end) };
}

/**
 * Split a GEMM into tiles whose storage bindings fit maxStorageBufferBindingSize and, on the texture
 * path, whose operand rows fit a texture: whole outer batch items first, then heads of one item, then
 * rows of M, N or K (whichever is the rows of the operand that does not fit) in multiples of 4. A K
 * split accumulates into C. Returns undefined when only a K split would make the textures fit and
 * `kForTextures` is false (the caller then reads through storage instead).
 */
function planTiles(
  rt: Runtime,
  g: GemmArgs,
  ops: [Operand, Operand, Operand],
  textures: boolean,
  kForTextures: boolean,
): Tile[] | undefined {
  const heads = g.heads ?? 1;
  const outer = (g.batch ?? 1) / heads;
  const D: Record<Dim, number> = { m: g.M, n: g.N, k: g.K };
  const eb = g.dtype === "f16" ? 2 : 4;
  const { limit, align } = bindingLimits(rt);
  const maxRows = rt.device.limits.maxTextureDimension2D;
  const maxZ = rt.gpu.limits.maxComputeWorkgroupsPerDimension;
  const overBinding = (x: Operand, t: Tile) => {
    const { first, end } = spanOf(x, t);
    return round4(Math.ceil(end / 4) * 4 * eb) - Math.floor((first * eb) / align) * align > limit;
  };
  const overTexture = (x: Operand, t: Tile) => {
    const { first, end } = spanOf(x, t);
    return Math.ceil(end / x.ld) - Math.floor(first / x.ld) > maxRows;
  };
  const misfit = (t: Tile) =>
    ops.find((x, i) => overBinding(x, t) || (textures && i < 2 && overTexture(x, t)));
  const whole = (zo: Range, zi: Range): Tile => ({ zo, zi, m: [0, g.M], n: [0, g.N], k: [0, g.K] });

  const split = (zo: Range, zi: Range): Tile[] => {
    const parts: Record<Dim, number> = { m: 1, n: 1, k: 1 };
    const size = (d: Dim) => Math.min(D[d], Math.ceil(Math.ceil(D[d] / parts[d]) / 4) * 4);
    const ranges = (d: Dim): Range[] => {
      const out: Range[] = [];
      for (let a = 0; a < D[d]; a += size(d)) out.push([a, Math.min(D[d], a + size(d))]);
      return out.length ? out : [[0, 0]];
    };
    for (;;) {
      const tiles = ranges("m").flatMap((m) =>
        ranges("n").flatMap((n) => ranges("k").map((k): Tile => ({ zo, zi, m, n, k })))
      );
      const bad = tiles.map((t) => [t, misfit(t)] as const).find(([, x]) => x);
      if (!bad) return tiles;
      const [t, x] = bad;
      const d = x!.rows;
      if (d === "k" && !kForTextures && !overBinding(x!, t)) return [];
      const before = size(d);
      while (size(d) === before && parts[d] < D[d]) parts[d]++;
      if (size(d) === before) {
        const { first, end } = spanOf(x!, { ...t, [d]: [0, Math.min(4, D[d])] });
        throw new Error(
          `vifi: ${g.label ?? "matmul"}: ${g.M}×${g.K}·${g.K}×${g.N} cannot be split into storage bindings ` +
            `of at most ${limit} bytes (maxStorageBufferBindingSize): ${
              (end - first) * eb
            } bytes for 4 rows of one operand`,
        );
      }
    }
  };

  const tiles: Tile[] = [];
  if (heads > maxZ) throw new Error(`vifi: matmul: ${heads} heads exceed ${maxZ} workgroups per dimension`);
  for (let z0 = 0; z0 < outer;) {
    const fitsZ = (z1: number) => (z1 - z0) * heads <= maxZ && !misfit(whole([z0, z1], [0, heads]));
    if (fitsZ(z0 + 1)) {
      let z1 = z0 + 1;
      while (z1 < outer && fitsZ(z1 + 1)) z1++;
      tiles.push(whole([z0, z1], [0, heads]));
      z0 = z1;
      continue;
    }
    for (let h0 = 0; h0 < heads;) {
      const fitsH = (h1: number) => !misfit(whole([z0, z0 + 1], [h0, h1]));
      if (!fitsH(h0 + 1)) {
        const parts = split([z0, z0 + 1], [h0, h0 + 1]);
        if (!parts.length) return undefined;
        tiles.push(...parts);
        h0++;
        continue;
      }
      let h1 = h0 + 1;
      while (h1 < heads && fitsH(h1 + 1)) h1++;
      tiles.push(whole([z0, z0 + 1], [h0, h1]));
      h0 = h1;
    }
    z0++;
  }
  const kSplit = tiles.some((t) => t.k[0] > 0);
  if (kSplit && (g.activation ?? "none") !== "none") {
    throw new Error(
      `vifi: ${g.label ?? "matmul"}: ${g.M}×${g.K}·${g.K}×${g.N} needs a split along K to fit ` +
        `maxStorageBufferBindingSize ${limit}, which an activation epilogue does not allow`,
    );
  }
  return tiles;
}

/**
 * Columns per workgroup of the small-K variant (kernels/matmul.wgsl matmul_small), or 0 for the
 * register-blocked kernel. Rule, measured on lavapipe (2 cores, device time per dispatch, the tiny
 * CLIP's M = 1088, 2026-12): K ≤ 256 with A not transposed and vec4 operands — x·Wᵀ+b K64 N192
 * 2.8 → 2.4 ms, dY·W K192 N64 5.3 → 1.7, K64 N64 1.4 → 0.7, K256 N64 6.9 → 3.3, K64 N256 3.7 → 2.0;
 * the staged K×NC block of B is kept ≤ 4096 floats (16 KiB, the WebGPU default workgroup storage) which
 * also bounds the unrolled code at 4096 FMAs. Larger K (every ViT-B/16 linear) keeps the blocked kernel.
 */
function smallColumns(rt: Runtime, g: GemmArgs, vec: boolean, K: number, N: number): number {
  if (!rt.gpu.info.software || g.tiles || !vec || g.transA || K % 4 || K > 256) return 0;
  const most = Math.max(4, Math.floor(4096 / K / 4) * 4);
  const n4 = Math.ceil(N / 4) * 4;
  // as few column blocks as fit, of equal width
  const blocks = Math.ceil(n4 / most);
  return Math.ceil(n4 / blocks / 4) * 4;
}

/** The small variant's spec keys for one dispatch (NC = 0: the blocked kernel). */
function smallSpec(rt: Runtime, g: GemmArgs, vec: boolean, K: number, N: number) {
  const nc = smallColumns(rt, g, vec, K, N);
  // C as vec4: its rows, offsets, strides, N and the buffer in whole vec4s
  const off = g.offC ?? 0;
  const cvec = [g.ldc, off, ...(g.strideC ?? []), g.N].every((x) => x % 4 === 0) &&
    (g.c.size / (g.dtype === "f16" ? 2 : 4)) % 4 === 0;
  return { SMALL: nc > 0, KS: nc ? K : 0, NC: nc, CVEC: nc > 0 && cvec };
}

export async function gemm(rt: Runtime, g: GemmArgs): Promise<void> {
  const batch = g.batch ?? 1;
  const heads = g.heads ?? 1;
  if (batch % heads !== 0) {
    throw new Error(`vifi: matmul: batch ${batch} is not a multiple of heads ${heads}`);
  }
  if (g.M === 0 || g.N === 0 || batch === 0) return;
  const A: Operand = {
    buf: g.a,
    off: g.offA ?? 0,
    s: g.strideA ?? [0, 0],
    ld: g.lda,
    rows: g.transA ? "k" : "m",
    cols: g.transA ? "m" : "k",
  };
  const B: Operand = {
    buf: g.b,
    off: g.offB ?? 0,
    s: g.strideB ?? [0, 0],
    ld: g.ldb,
    rows: g.transB ? "n" : "k",
    cols: g.transB ? "k" : "n",
  };
  const C: Operand = { buf: g.c, off: g.offC ?? 0, s: g.strideC ?? [0, 0], ld: g.ldc, rows: "m", cols: "n" };
  const aligned = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  const vec = aligned(g.lda, g.ldb, A.off, B.off, ...A.s, ...B.s);
  const tiles = g.tiles ?? chooseTiles(rt.gpu, g.M, g.N);
  const eb = g.dtype === "f16" ? 2 : 4;
  // On software adapters read A and B through textures (see kernels/matmul.wgsl) when the rows can be
  // copied as they are. The copy is one pass over each operand; the GEMM reads each many times.
  // Textures hold at most maxTextureDimension2D rows, so the work is split into tiles that fit.
  const maxRows = rt.device.limits.maxTextureDimension2D;
  const texRows = (x: Operand) => (x.ld * eb) % 256 === 0 && x.ld / 4 <= maxRows;
  const textures = vec && rt.gpu.info.software && g.useTextures !== false && texRows(A) && texRows(B);
  // f16 partial sums of a K split would round between tiles: only f32 splits K for textures.
  const texPlan = textures ? planTiles(rt, g, [A, B, C], true, g.dtype === "f32") : undefined;
  const plan = texPlan ?? planTiles(rt, g, [A, B, C], false, true)!;
  const usesTextures = texPlan !== undefined;
  const format = g.dtype === "f16" ? "rgba16float" : "rgba32float";
  const bias = g.bias && { buffer: g.bias, offset: 0, size: round4(g.N * eb) };
  if (g.bias) checkWhole(rt, `${g.label ?? "matmul"} bias`, g.N * eb);
  for (const t of plan) {
    // A storage window over an operand's span, and the tile's start as an offset inside it.
    const storage = (x: Operand): [Binding, number] => {
      const { first, end } = spanOf(x, t);
      // vec4 loads may touch up to 3 elements past the span
      return elementWindow(rt, x.buf, first, Math.min(Math.ceil(end / 4) * 4, x.buf.size / eb), eb);
    };
    let [bA, oA] = storage(A);
    let [bB, oB] = storage(B);
    const [bC, oC] = storage(C);
    let ta: { view: GPUTextureView; texture: GPUTexture } | undefined;
    let tb: { view: GPUTextureView; texture: GPUTexture } | undefined;
    if (usesTextures) {
      const sA = spanOf(A, t);
      const sB = spanOf(B, t);
      const rowA = Math.floor(sA.first / A.ld);
      const rowB = Math.floor(sB.first / B.ld);
      ta = rt.rowsTexture(g.a, g.lda, rowA, Math.ceil(sA.end / A.ld) - rowA, format);
      tb = ta && rt.rowsTexture(g.b, g.ldb, rowB, Math.ceil(sB.end / B.ld) - rowB, format);
      if (ta && tb) {
        [bA, oA] = [ta.view, sA.first - rowA * g.lda];
        [bB, oB] = [tb.view, sB.first - rowB * g.ldb];
      } else {
        if (ta) rt.textures.release(ta.texture);
        ta = tb = undefined;
      }
    }
    const k0 = t.k[0] > 0;
    const [M, N, K] = [t.m[1] - t.m[0], t.n[1] - t.n[0], t.k[1] - t.k[0]];
    const small = smallSpec(rt, g, vec, K, N);
    const nc = small.NC;
    const spec = {
      ...dtypeSpec(g.dtype),
      TM: tiles.TM,
      TN: tiles.TN,
      WX: tiles.WX,
      WY: tiles.WY,
      TRANS_A: !!g.transA,
      TRANS_B: !!g.transB,
      VEC: vec,
      TEX: !!ta,
      HAS_BIAS: !!g.bias && !k0,
      ACT: ACT[g.activation ?? "none"],
      ACCUM: !!g.accumulate || k0,
      ...small,
    };
    const pipe = await rt.pipeline("matmul.wgsl", nc ? "matmul_small" : "matmul", spec);
    const th = t.zi[1] - t.zi[0];
    const u = rt.uniform(params(
      M,
      N,
      K,
      th,
      g.lda,
      g.ldb,
      g.ldc,
      { f: g.alpha ?? 1 },
      oA,
      A.s[0],
      A.s[1],
      oB,
      B.s[0],
      B.s[1],
      oC,
      C.s[0],
      C.s[1],
      t.n[0],
    ));
    const gx = Math.ceil(N / (nc || tiles.TN * tiles.WX));
    const gy = Math.ceil(M / (nc ? 64 : tiles.TM * tiles.WY));
    const z = (t.zo[1] - t.zo[0]) * th;
    rt.dispatch(pipe, [u, bA, bB, bC, spec.HAS_BIAS ? bias : undefined], [gx, gy, z], {
      label: g.label ?? "matmul",
    });
    if (ta) rt.textures.release(ta.texture);
    if (tb) rt.textures.release(tb.texture);
  }
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** [N], added to every row */
  bias?: Tensor;
  activation?: Activation;
  alpha?: number;
  /** write into this tensor; with `accumulate` add to its contents */
  out?: Tensor;
  accumulate?: boolean;
  tiles?: Tiles;
  /** false: read operands from storage buffers even where textures are faster (for tests) */
  useTextures?: boolean;
}

/**
 * C = alpha·op(A)·op(B) (+ bias) → activation. A is [..., M, K] ([..., K, M] with transA); B is
 * [K, N] ([N, K] with transB, e.g. a PyTorch Linear weight), shared by every batch item, or batched
 * with the same leading dimensions as A.
 */
export async function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Promise<Tensor> {
  const rt = a.rt;
  a.check();
  b.check();
  expectDtype(a, ["f32", "f16"], "matmul");
  if (b.dtype !== a.dtype) {
    throw new Error(`vifi: matmul: ${a.name} is ${a.dtype} but ${b.name} is ${b.dtype}`);
  }
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new Error(
      `vifi: matmul: ${a.name} ${shapeStr(a.shape)} and ${b.name} ${shapeStr(b.shape)} must be ≥ 2-D`,
    );
  }
  const ar = a.shape.length;
  const br = b.shape.length;
  const [M, K] = opts.transA ? [a.shape[ar - 1], a.shape[ar - 2]] : [a.shape[ar - 2], a.shape[ar - 1]];
  const [Kb, N] = opts.transB ? [b.shape[br - 1], b.shape[br - 2]] : [b.shape[br - 2], b.shape[br - 1]];
  if (K !== Kb) {
    throw new Error(
      `vifi: matmul: inner dimensions differ: ${a.name} ${shapeStr(a.shape)}${opts.transA ? "ᵀ" : ""} · ` +
        `${b.name} ${shapeStr(b.shape)}${opts.transB ? "ᵀ" : ""} (${K} vs ${Kb})`,
    );
  }
  const lead = a.shape.slice(0, ar - 2);
  const batch = lead.reduce((x, y) => x * y, 1);
  let strideB = 0;
  if (br > 2) {
    const bl = b.shape.slice(0, br - 2);
    if (bl.length !== lead.length || bl.some((d, i) => d !== lead[i])) {
      throw new Error(
        `vifi: matmul: batch dimensions of ${a.name} ${shapeStr(a.shape)} and ${b.name} ${
          shapeStr(b.shape)
        } differ`,
      );
    }
    strideB = K * N;
  }
  if (opts.bias) {
    opts.bias.check();
    if (opts.bias.size !== N || opts.bias.dtype !== a.dtype) {
      throw new Error(
        `vifi: matmul: bias ${opts.bias.name} ${shapeStr(opts.bias.shape)} must be [${N}] ${a.dtype}`,
      );
    }
  }
  const outShape = [...lead, M, N];
  let out = opts.out;
  if (out) {
    out.check();
    if (out.size !== batch * M * N || out.dtype !== a.dtype) {
      throw new Error(
        `vifi: matmul: out ${out.name} ${shapeStr(out.shape)} must hold ${shapeStr(outShape)} ${a.dtype}`,
      );
    }
  } else {
    if (opts.accumulate) throw new Error("vifi: matmul: accumulate needs an `out` tensor to add into");
    out = Tensor.empty(rt, outShape, a.dtype, `matmul(${a.name}, ${b.name})`);
  }
  await gemm(rt, {
    a: a.buffer,
    b: b.buffer,
    c: out.buffer,
    bias: opts.bias?.buffer,
    dtype: a.dtype,
    M,
    N,
    K,
    transA: opts.transA,
    transB: opts.transB,
    lda: opts.transA ? M : K,
    ldb: opts.transB ? K : N,
    ldc: N,
    batch,
    strideA: [M * K, 0],
    strideB: [strideB, 0],
    strideC: [M * N, 0],
    alpha: opts.alpha,
    activation: opts.activation,
    accumulate: opts.accumulate,
    tiles: opts.tiles,
    useTextures: opts.useTextures,
  });
  return out;
}

/**
 * Gradients of C = op(A)·op(B) (no activation): dA and dB as matmuls of dC with the other operand,
 * each with the transposes that keep every operand in its stored layout.
 */
export async function matmulBackward(
  a: Tensor,
  b: Tensor,
  dc: Tensor,
  opts: { transA?: boolean; transB?: boolean; needA?: boolean; needB?: boolean } = {},
): Promise<{ da?: Tensor; db?: Tensor }> {
  const { transA = false, transB = false, needA = true, needB = true } = opts;
  let da: Tensor | undefined;
  let db: Tensor | undefined;
  if (needA) {
    // C = A·B: dA = dC·Bᵀ; with stored Aᵀ: dAᵀ = B·dCᵀ (op(B) folded into the flags).
    da = transA
      ? await matmul(b, dc, { transA: transB, transB: true })
      : await matmul(dc, b, { transB: !transB });
    da = da.reshape(a.shape);
  }
  if (needB) {
    // dB = Aᵀ·dC; with stored Bᵀ: dBᵀ = dCᵀ·A.
    db = transB
      ? await matmul(dc, a, { transA: true, transB: transA })
      : await matmul(a, dc, { transA: !transA });
    db = db.reshape(b.shape);
  }
  return { da, db };
}

// ---- float64 reference ----

/** C = alpha·op(A)·op(B) + bias → activation, batched over `batch` (B shared when bBatched is false). */
export function matmulReference(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  o: {
    M: number;
    N: number;
    K: number;
    batch?: number;
    transA?: boolean;
    transB?: boolean;
    bBatched?: boolean;
    bias?: ArrayLike<number>;
    alpha?: number;
    activation?: Activation;
    accumulate?: ArrayLike<number>;
  },
): Float64Array {
  const { M, N, K, batch = 1, alpha = 1 } = o;
  const c = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const ao = z * M * K;
    const bo = o.bBatched ? z * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = o.transA ? a[ao + k * M + m] : a[ao + m * K + k];
          const bv = o.transB ? b[bo + n * K + k] : b[bo + k * N + n];
          s += av * bv;
        }
        let v = alpha * s + (o.bias ? o.bias[n] : 0);
        if (o.activation === "quickgelu") v = v / (1 + Math.exp(-1.702 * v));
        const i = z * M * N + m * N + n;
        c[i] = v + (o.accumulate ? o.accumulate[i] : 0);
      }
    }
  }
  return c;
}
