// Batched matrix multiply on the register-blocked kernel (kernels/matmul.wgsl): either operand
// transposed, optional bias and activation epilogue, optional accumulation into C.

import type { Gpu } from "../../gpu/device.ts";
import type { Runtime } from "../../gpu/runtime.ts";
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

export async function gemm(rt: Runtime, g: GemmArgs): Promise<void> {
  const batch = g.batch ?? 1;
  const heads = g.heads ?? 1;
  if (batch % heads !== 0) {
    throw new Error(`vifi: matmul: batch ${batch} is not a multiple of heads ${heads}`);
  }
  const [sa0, sa1] = g.strideA ?? [0, 0];
  const [sb0, sb1] = g.strideB ?? [0, 0];
  const [sc0, sc1] = g.strideC ?? [0, 0];
  const offA = g.offA ?? 0;
  const offB = g.offB ?? 0;
  const offC = g.offC ?? 0;
  const aligned = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  const vec = aligned(g.lda, g.ldb, offA, offB, sa0, sa1, sb0, sb1);
  const tiles = g.tiles ?? chooseTiles(rt.gpu, g.M, g.N);
  const outer = batch / heads;
  const [rowsA, rowsB] = [g.transA ? g.K : g.M, g.transB ? g.N : g.K];
  // Element span [first, end) of operand rows used by outer batch items zo0..zo1-1.
  const span = (off: number, s0: number, s1: number, rows: number, ld: number, zo0: number, zo1: number) => {
    const starts = [off + zo0 * s0, off + (zo1 - 1) * s0];
    const first = Math.min(...starts, off + zo0 * s0 + (heads - 1) * s1);
    const end = Math.max(...starts, off + (zo1 - 1) * s0 + (heads - 1) * s1) + rows * ld;
    return { firstRow: Math.floor(first / ld), rows: Math.ceil(end / ld) - Math.floor(first / ld) };
  };
  // On software adapters read A and B through textures (see kernels/matmul.wgsl) when the rows can be
  // copied as they are. The copy is one pass over each operand; the GEMM reads each many times.
  // Textures are at most maxTextureDimension2D rows, so the outer batch is split into chunks that fit.
  const maxRows = rt.device.limits.maxTextureDimension2D;
  const textures = vec && rt.gpu.info.software && g.useTextures !== false &&
    span(offA, sa0, sa1, rowsA, g.lda, 0, 1).rows <= maxRows &&
    span(offB, sb0, sb1, rowsB, g.ldb, 0, 1).rows <= maxRows;
  const maxZ = rt.gpu.limits.maxComputeWorkgroupsPerDimension;
  const chunks: [number, number][] = [];
  for (let zo0 = 0; zo0 < outer;) {
    let zo1 = zo0 + 1;
    const fits = (z1: number) =>
      (z1 - zo0) * heads <= maxZ &&
      (!textures || (span(offA, sa0, sa1, rowsA, g.lda, zo0, z1).rows <= maxRows &&
        span(offB, sb0, sb1, rowsB, g.ldb, zo0, z1).rows <= maxRows));
    while (zo1 < outer && fits(zo1 + 1)) zo1++;
    if (heads > maxZ) throw new Error(`vifi: matmul: ${heads} heads exceed ${maxZ} workgroups per dimension`);
    chunks.push([zo0, zo1]);
    zo0 = zo1;
  }
  for (const [zo0, zo1] of chunks) {
    let oA = offA + zo0 * sa0;
    let oB = offB + zo0 * sb0;
    let ta: { view: GPUTextureView; texture: GPUTexture } | undefined;
    let tb: { view: GPUTextureView; texture: GPUTexture } | undefined;
    if (textures) {
      const format = g.dtype === "f16" ? "rgba16float" : "rgba32float";
      const sA = span(offA, sa0, sa1, rowsA, g.lda, zo0, zo1);
      const sB = span(offB, sb0, sb1, rowsB, g.ldb, zo0, zo1);
      ta = rt.rowsTexture(g.a, g.lda, sA.firstRow, sA.rows, format);
      tb = ta && rt.rowsTexture(g.b, g.ldb, sB.firstRow, sB.rows, format);
      if (ta && tb) {
        oA -= sA.firstRow * g.lda;
        oB -= sB.firstRow * g.ldb;
      } else {
        if (ta) rt.textures.release(ta.texture);
        ta = tb = undefined;
      }
    }
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
      HAS_BIAS: !!g.bias,
      ACT: ACT[g.activation ?? "none"],
      ACCUM: !!g.accumulate,
    };
    const pipe = await rt.pipeline("matmul.wgsl", "matmul", spec);
    const u = rt.uniform(params(
      g.M,
      g.N,
      g.K,
      heads,
      g.lda,
      g.ldb,
      g.ldc,
      { f: g.alpha ?? 1 },
      oA,
      sa0,
      sa1,
      oB,
      sb0,
      sb1,
      offC + zo0 * sc0,
      sc0,
      sc1,
    ));
    const gx = Math.ceil(g.N / (tiles.TN * tiles.WX));
    const gy = Math.ceil(g.M / (tiles.TM * tiles.WY));
    rt.dispatch(pipe, [u, ta?.view ?? g.a, tb?.view ?? g.b, g.c, g.bias], [gx, gy, (zo1 - zo0) * heads], {
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
