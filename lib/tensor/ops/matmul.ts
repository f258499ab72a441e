// Batched matrix multiply: either operand transposed, optional bias and activation epilogue, optional
// accumulation into C, on one of the kernel variants of ./matmul-variants.ts (kernels/matmul.wgsl for
// software adapters, kernels/matmul_tiled.wgsl for GPUs). The split into dispatches that fit the
// adapter's binding limits is ./matmul-plan.ts.

import { checkWhole, elementWindow, round4 } from "../../gpu/chunks.ts";
import type { Binding, Runtime } from "../../gpu/runtime.ts";
import { type DType, expectDtype, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params } from "./common.ts";
import { columnsOf, type Operand, planTiles, spanOf, type Tile } from "./matmul-plan.ts";
import {
  type Activation,
  chooseTiles,
  type GemmLayout,
  type GemmShape,
  gemmShapeClass,
  heuristicVariant,
  parseVariant,
  smallColumns,
  type Tiles,
  type Variant,
  whyInvalid,
} from "./matmul-variants.ts";

export type { Activation, GemmShape, Tiles } from "./matmul-variants.ts";
export { chooseTiles, gemmCandidates, gemmShapeClass } from "./matmul-variants.ts";

const ACT: Record<Activation, string> = {
  none: "v",
  quickgelu: "v / (1.0 + exp(-1.702 * v))",
};

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
  /** blocks of the register-blocked kernel (a "blocked:…" variant; textures still allowed) */
  tiles?: Tiles;
  /** false: never stage operands through textures (tests both paths) */
  useTextures?: boolean;
  /** force a candidate id (matmul-variants.ts); one that cannot run this call is an error */
  variant?: string;
  /**
   * C's rows have scratch columns from N up to the next multiple of 4 that the GEMM may overwrite
   * (attention's padded score rows, whose readers stop at N): C is then stored four columns at a time
   * even when N is not a multiple of 4. Not with a bias (its binding ends at N).
   */
  padC?: boolean;
  label?: string;
}

/** What the tuner keys on, from a call's arguments. */
function shapeOf(g: GemmArgs): GemmShape {
  return {
    M: g.M,
    N: g.N,
    K: g.K,
    batch: g.batch ?? 1,
    transA: !!g.transA,
    transB: !!g.transB,
    dtype: g.dtype,
    bias: !!g.bias,
    activation: g.activation ?? "none",
    accumulate: !!g.accumulate,
  };
}

/** g.variant (must be valid), else the tuned winner (when valid for this call), else the heuristic. */
function chooseVariant(rt: Runtime, g: GemmArgs, L: GemmLayout): Variant {
  if (g.variant !== undefined) {
    const v = parseVariant(g.variant);
    const why = v
      ? whyInvalid(rt, v, L)
      : "is not a matmul variant (texture, small, blocked:TMxTN:WXxWY, tiled:BMxBNxBK:TMxTN[:db], tiled-sg:TMxTN:W)";
    if (why) {
      throw new Error(
        `vifi: ${g.label ?? "matmul"}: variant "${g.variant}" ${why} (M=${g.M} N=${g.N} K=${g.K})`,
      );
    }
    return v!;
  }
  if (!g.tiles) {
    const tuned = rt.tuning.get("matmul", gemmShapeClass(shapeOf(g)));
    const v = tuned === undefined ? undefined : parseVariant(tuned);
    if (v && !whyInvalid(rt, v, L)) return v;
  }
  if (g.tiles && rt.gpu.info.software && L.textures) return { kind: "texture" };
  return heuristicVariant(rt, L, g.tiles);
}

interface Kernel {
  file: string;
  entry: string;
  spec: Record<string, number | string | boolean>;
  /** workgroups along N and M */
  grid: [number, number];
}

/** The pipeline, spec and grid of one dispatch of M×N×K (a plan tile) on variant v. */
function kernelFor(
  rt: Runtime,
  g: GemmArgs,
  v: Variant,
  d: { M: number; N: number; K: number; vec: boolean; tex: boolean; k0: boolean },
): Kernel {
  const common = {
    ...dtypeSpec(g.dtype),
    TRANS_A: !!g.transA,
    TRANS_B: !!g.transB,
    VEC: d.vec,
    HAS_BIAS: !!g.bias && !d.k0,
    ACT: ACT[g.activation ?? "none"],
    ACCUM: !!g.accumulate || d.k0,
  };
  if (v.kind === "tiled") {
    const { BM, BN, BK, TM, TN, db } = v.blocks;
    const wgs = (BM / TM) * (BN / TN);
    const spec = {
      ...common,
      BM,
      BN,
      BK,
      TM,
      TN,
      LA: (BM * BK) / 4 / wgs,
      LB: (BN * BK) / 4 / wgs,
      CHECKS: d.M % BM !== 0 || d.N % BN !== 0 || d.K % BK !== 0,
      DB: db,
    };
    return {
      file: "matmul_tiled.wgsl",
      entry: "matmul_tiled",
      spec,
      grid: [Math.ceil(d.N / BN), Math.ceil(d.M / BM)],
    };
  }
  if (v.kind === "sg") {
    const spec = { ...common, TM: v.TM, TN: v.TN, W: v.W };
    return {
      file: "matmul_sg.wgsl",
      entry: "matmul_sg",
      spec,
      grid: [Math.ceil(d.N / (v.W * v.TN)), Math.ceil(d.M / v.TM)],
    };
  }
  const nc = v.kind === "small" ? smallColumns(d.vec, !!g.transA, d.K, d.N) : 0;
  const tiles = v.kind === "blocked" ? v.tiles : g.tiles ?? chooseTiles(rt.gpu, g.M, g.N);
  // C as vec4 (small variant): its rows, offsets, strides, N and the buffer in whole vec4s
  const n4 = g.padC && !g.bias ? Math.ceil(g.N / 4) * 4 : g.N;
  const cvec = [g.ldc, g.offC ?? 0, ...(g.strideC ?? []), n4].every((x) => x % 4 === 0) &&
    n4 <= g.ldc && (g.c.size / (g.dtype === "f16" ? 2 : 4)) % 4 === 0;
  const spec = {
    ...common,
    TM: tiles.TM,
    TN: tiles.TN,
    WX: tiles.WX,
    WY: tiles.WY,
    TEX: d.tex,
    SMALL: nc > 0,
    KS: nc ? d.K : 0,
    NC: nc,
    CVEC: cvec,
  };
  const grid: [number, number] = [
    Math.ceil(d.N / (nc || tiles.TN * tiles.WX)),
    Math.ceil(d.M / (nc ? 64 : tiles.TM * tiles.WY)),
  ];
  return { file: "matmul.wgsl", entry: nc ? "matmul_small" : "matmul", spec, grid };
}

/** The band of columns a texture copy of this operand's tile needs (whole rows when not one band). */
function texColumns(x: Operand, t: Tile): [number, number] {
  const c = columnsOf(x, t);
  return c ? [Math.floor(c[0] / 4) * 4, Math.ceil(c[1] / 4) * 4] : [0, x.ld];
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
  const eb = g.dtype === "f16" ? 2 : 4;
  // Textures hold at most maxTextureDimension2D rows, so the work is split into tiles that fit, and
  // rows are copied as they are only when they are whole 256-byte texture rows.
  const maxRows = rt.device.limits.maxTextureDimension2D;
  const texRows = (x: Operand) => (x.ld * eb) % 256 === 0 && x.ld / 4 <= maxRows;
  const texOk = vec && g.useTextures !== false && texRows(A) && texRows(B);
  const L: GemmLayout = { M: g.M, N: g.N, K: g.K, batch, transA: !!g.transA, vec, textures: texOk };
  const v = chooseVariant(rt, g, L);
  // The texture variant reads A and B through textures: one copy pass over each operand, which the GEMM
  // then reads many times. The small variant does too on software adapters (as it was measured).
  const textures = texOk && (v.kind === "texture" || (v.kind === "small" && rt.gpu.info.software));
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
      let rowA = Math.floor(sA.first / A.ld);
      let rowB = Math.floor(sB.first / B.ld);
      let colsA = texColumns(A, t);
      let colsB = texColumns(B, t);
      if (g.a === g.b && g.lda === g.ldb) {
        // A and B are views of one tensor (attention's Q·Kᵀ on the packed qkv): one copy serves both
        rowA = rowB = Math.min(rowA, rowB);
        colsA = colsB = [Math.min(colsA[0], colsB[0]), Math.max(colsA[1], colsB[1])];
        const end = Math.ceil(Math.max(sA.end, sB.end) / A.ld);
        ta = rt.rowsTexture(g.a, g.lda, rowA, end - rowA, format, colsA);
        tb = ta;
      } else {
        ta = rt.rowsTexture(g.a, g.lda, rowA, Math.ceil(sA.end / A.ld) - rowA, format, colsA);
        tb = ta && rt.rowsTexture(g.b, g.ldb, rowB, Math.ceil(sB.end / B.ld) - rowB, format, colsB);
      }
      if (ta && tb) {
        // offsets into the copied band: the kernel splits them by ld into a row and a column
        [bA, oA] = [ta.view, sA.first - rowA * g.lda - colsA[0]];
        [bB, oB] = [tb.view, sB.first - rowB * g.ldb - colsB[0]];
      } else {
        if (ta) rt.textures.release(ta.texture);
        ta = tb = undefined;
      }
    }
    const k0 = t.k[0] > 0;
    const [M, N, K] = [t.m[1] - t.m[0], t.n[1] - t.n[0], t.k[1] - t.k[0]];
    const kern = kernelFor(rt, g, v, { M, N, K, vec, tex: !!ta, k0 });
    const pipe = await rt.pipeline(kern.file, kern.entry, kern.spec);
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
    const z = (t.zo[1] - t.zo[0]) * th;
    rt.dispatch(pipe, [u, bA, bB, bC, kern.spec.HAS_BIAS ? bias : undefined], [...kern.grid, z], {
      label: g.label ?? "matmul",
    });
    if (ta) rt.textures.release(ta.texture);
    if (tb && tb !== ta) rt.textures.release(tb.texture);
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
  /** force a candidate id (see gemmCandidates); one that cannot run this product is an error */
  variant?: string;
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
    variant: opts.variant,
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
