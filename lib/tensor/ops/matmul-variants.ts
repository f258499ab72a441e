// The GEMM kernel variants, named by short stable ids, which of them can run a given call, and which
// one runs when nobody chose: a forced `variant`, else the tuner's measured winner for the shape class
// (rt.tuning "matmul"), else the heuristic below.
//
//   "texture"                  kernels/matmul.wgsl register-blocked, A and B read through rgba textures
//                              (software adapters: lavapipe's storage loads are slow)
//   "small"                    kernels/matmul.wgsl matmul_small: K ≤ 256, B staged once per workgroup
//   "blocked:TMxTN:WXxWY"      kernels/matmul.wgsl register-blocked from storage buffers
//   "tiled:BMxBNxBK:TMxTN[:db]" kernels/matmul_tiled.wgsl workgroup-memory tiles (GPUs), :db double-buffered
//   "tiled-sg:TMxTN:W"         kernels/matmul_sg.wgsl: W invocations own TM rows × W·TN columns, A shared
//                              through subgroup shuffles (adapters with the `subgroups` feature)

import type { Gpu } from "../../gpu/device.ts";
import type { Runtime } from "../../gpu/runtime.ts";
import type { DType } from "../tensor.ts";

export type Activation = "none" | "quickgelu";

/** Blocks of the register-blocked kernel: TM×TN outputs per invocation, WX×WY invocations. */
export interface Tiles {
  TM: number;
  TN: number;
  WX: number;
  WY: number;
}

/** Blocks of the tiled kernel: BM×BN outputs per workgroup, K steps of BK, TM×TN per invocation. */
export interface TiledBlocks {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
  db: boolean;
}

export type Variant =
  | { kind: "texture" }
  | { kind: "small" }
  | { kind: "blocked"; tiles: Tiles }
  | { kind: "tiled"; blocks: TiledBlocks }
  | { kind: "sg"; TM: number; TN: number; W: number };

/** What the tuner and the candidate lists know of a GEMM: no buffers, contiguous operands. */
export interface GemmShape {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  dtype: DType;
  bias: boolean;
  activation: Activation;
  accumulate: boolean;
}

/** The facts about one call that decide which variants can run it. */
export interface GemmLayout {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  /** A and B readable as vec4 (leading dims, offsets and batch strides multiples of 4) */
  vec: boolean;
  /** A and B rows can be copied into textures as they are, and the caller allows textures */
  textures: boolean;
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
    // Outputs at most 64 wide (attention's P·V and its dV, dQ, dK per head: N = 64) get 8×8 blocks in
    // 8×8 workgroups instead: llvmpipe runs a workgroup as SIMD groups of 8 consecutive invocations, and
    // with WX < 8 one group spans rows of A as well as columns of B, so neither operand's loads are
    // shared by its lanes. Measured (device ms, 96 heads × 197 × 64, K 197): P·V 56–76 → 28–31,
    // Pᵀ·dO 44 → 32.
    if (N <= 64) return { TM: 8, TN: N <= 32 ? 4 : 8, WX: 8, WY: 8 };
    const wx = Math.min(16, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(N / 16)))));
    return { TM: 16, TN: 16, WX: wx, WY: 64 / wx };
  }
  // Small outputs (per-head attention, text tower) need smaller blocks to fill the GPU.
  if (M * N < 256 * 256) return { TM: 4, TN: 4, WX: 8, WY: 8 };
  return { TM: 8, TN: 8, WX: 8, WY: 8 };
}

export function variantId(v: Variant): string {
  switch (v.kind) {
    case "texture":
    case "small":
      return v.kind;
    case "blocked":
      return `blocked:${v.tiles.TM}x${v.tiles.TN}:${v.tiles.WX}x${v.tiles.WY}`;
    case "tiled": {
      const b = v.blocks;
      return `tiled:${b.BM}x${b.BN}x${b.BK}:${b.TM}x${b.TN}${b.db ? ":db" : ""}`;
    }
    case "sg":
      return `tiled-sg:${v.TM}x${v.TN}:${v.W}`;
  }
}

/** The variant an id names, or undefined for an id of no known form. */
export function parseVariant(id: string): Variant | undefined {
  if (id === "texture" || id === "small") return { kind: id };
  let m = /^blocked:(\d+)x(\d+):(\d+)x(\d+)$/.exec(id);
  if (m) {
    const [TM, TN, WX, WY] = m.slice(1).map(Number);
    return { kind: "blocked", tiles: { TM, TN, WX, WY } };
  }
  m = /^tiled:(\d+)x(\d+)x(\d+):(\d+)x(\d+)(:db)?$/.exec(id);
  if (m) {
    const [BM, BN, BK, TM, TN] = m.slice(1, 6).map(Number);
    return { kind: "tiled", blocks: { BM, BN, BK, TM, TN, db: !!m[6] } };
  }
  m = /^tiled-sg:(\d+)x(\d+):(\d+)$/.exec(id);
  if (m) {
    const [TM, TN, W] = m.slice(1).map(Number);
    return { kind: "sg", TM, TN, W };
  }
  return undefined;
}

/**
 * Columns per workgroup of the small-K variant (kernels/matmul.wgsl matmul_small), or 0 where it cannot
 * run. Measured on lavapipe (2 cores, device time per dispatch, the tiny CLIP's M = 1088, 2026-12): K ≤
 * 256 with A not transposed and vec4 operands — x·Wᵀ+b K64 N192 2.8 → 2.4 ms, dY·W K192 N64 5.3 → 1.7,
 * K64 N64 1.4 → 0.7, K256 N64 6.9 → 3.3, K64 N256 3.7 → 2.0; the staged K×NC block of B is kept ≤ 4096
 * floats (16 KiB, the WebGPU default workgroup storage) which also bounds the unrolled code at 4096 FMAs.
 * Larger K (every ViT-B/16 linear) keeps the blocked kernel.
 */
export function smallColumns(vec: boolean, transA: boolean, K: number, N: number): number {
  if (!vec || transA || K % 4 || K > 256) return 0;
  const most = Math.max(4, Math.floor(4096 / K / 4) * 4);
  const n4 = Math.ceil(N / 4) * 4;
  // as few column blocks as fit, of equal width
  const blocks = Math.ceil(n4 / most);
  return Math.ceil(n4 / blocks / 4) * 4;
}

/** Why this variant cannot run this call on this adapter, or undefined when it can. */
export function whyInvalid(rt: Runtime, v: Variant, L: GemmLayout): string | undefined {
  const lim = rt.gpu.limits;
  switch (v.kind) {
    case "texture":
      return L.textures
        ? undefined
        : "needs vec4-aligned operands whose rows are whole 256-byte texture rows";
    case "small":
      return smallColumns(L.vec, L.transA, L.K, L.N)
        ? undefined
        : "needs A not transposed, vec4 operands, K ≤ 256 a multiple of 4";
    case "blocked": {
      const { TM, TN, WX, WY } = v.tiles;
      if (![TM, TN].every((t) => t >= 4 && t <= 16 && t % 4 === 0)) return "needs TM and TN in 4, 8, 12, 16";
      if (
        WX < 1 || WY < 1 || WX * WY > lim.maxComputeInvocationsPerWorkgroup ||
        WX > lim.maxComputeWorkgroupSizeX
      ) {
        return `needs 1 ≤ WX·WY ≤ ${lim.maxComputeInvocationsPerWorkgroup} invocations`;
      }
      return undefined;
    }
    case "tiled": {
      const { BM, BN, BK, TM, TN, db } = v.blocks;
      if (![TM, TN].every((t) => t === 4 || t === 8)) return "needs TM and TN of 4 or 8";
      if (BM % (TM * 4) || BN % (TN * 4) || BM > 256 || BN > 256) {
        return "needs BM a multiple of 4·TM and BN of 4·TN, at most 256";
      }
      if (BK < 4 || BK > 64 || BK % 4) return "needs BK in 4..64, a multiple of 4";
      const wgs = (BM / TM) * (BN / TN);
      if (wgs > lim.maxComputeInvocationsPerWorkgroup || wgs > lim.maxComputeWorkgroupSizeX) {
        return `has ${wgs} invocations a workgroup, more than this adapter's ${lim.maxComputeInvocationsPerWorkgroup}`;
      }
      if ((BM * BK / 4) % wgs || (BN * BK / 4) % wgs) {
        return "needs BM·BK/4 and BN·BK/4 to be multiples of the invocations";
      }
      const bytes = (BM + BN) * BK * 4 * (db ? 2 : 1);
      if (bytes > lim.maxComputeWorkgroupStorageSize) {
        return `needs ${bytes} bytes of workgroup memory, more than this adapter's ${lim.maxComputeWorkgroupStorageSize}`;
      }
      return undefined;
    }
    case "sg": {
      if (!rt.gpu.features.subgroups) return "needs the subgroups feature, which this adapter does not offer";
      if (![v.TM, v.TN].every((t) => t === 4 || t === 8)) return "needs TM and TN of 4 or 8";
      if (![32, 64, 128, 256].includes(v.W) || v.W > lim.maxComputeInvocationsPerWorkgroup) {
        return `needs W of 32, 64, 128 or 256 invocations (at most ${lim.maxComputeInvocationsPerWorkgroup})`;
      }
      return undefined;
    }
  }
}

const tiled = (BM: number, BN: number, BK: number, TM: number, TN: number, db = false): Variant => ({
  kind: "tiled",
  blocks: { BM, BN, BK, TM, TN, db },
});

/**
 * The choice when neither a variant nor a tuned one is given. Software adapters keep the rules measured
 * on lavapipe (small K → "small", texture-copyable rows → "texture", else the register-blocked kernel
 * from storage); GPUs take the largest tiled block that still gives ≥ 256 workgroups (two or more per
 * SM on an H100's 132), else 32×32 blocks for small outputs.
 */
export function heuristicVariant(rt: Runtime, L: GemmLayout, tiles?: Tiles): Variant {
  if (tiles) return { kind: "blocked", tiles };
  if (rt.gpu.info.software) {
    if (smallColumns(L.vec, L.transA, L.K, L.N)) return { kind: "small" };
    if (L.textures) return { kind: "texture" };
    return { kind: "blocked", tiles: chooseTiles(rt.gpu, L.M, L.N) };
  }
  for (const v of [tiled(128, 128, 16, 8, 8), tiled(128, 64, 16, 8, 4), tiled(64, 64, 16, 4, 4)]) {
    if (v.kind !== "tiled" || whyInvalid(rt, v, L)) continue;
    const groups = Math.ceil(L.M / v.blocks.BM) * Math.ceil(L.N / v.blocks.BN) * L.batch;
    if (groups >= 256) return v;
  }
  const small = tiled(32, 32, 16, 4, 4);
  return whyInvalid(rt, small, L) ? { kind: "blocked", tiles: chooseTiles(rt.gpu, L.M, L.N) } : small;
}

/** Every variant worth measuring for this call, the heuristic's choice first (a handful, not hundreds). */
export function candidatesFor(rt: Runtime, L: GemmLayout): string[] {
  const first = heuristicVariant(rt, L);
  const more: Variant[] = rt.gpu.info.software
    ? [
      { kind: "texture" },
      { kind: "small" },
      { kind: "blocked", tiles: chooseTiles(rt.gpu, L.M, L.N) },
      tiled(64, 64, 16, 4, 4),
      tiled(32, 32, 16, 4, 4),
    ]
    : [
      tiled(128, 128, 16, 8, 8),
      tiled(128, 128, 16, 8, 8, true),
      tiled(128, 64, 16, 8, 4),
      tiled(64, 64, 16, 4, 4),
      tiled(64, 64, 16, 4, 4, true),
      tiled(32, 32, 16, 4, 4),
      { kind: "sg", TM: 8, TN: 4, W: 64 },
      { kind: "sg", TM: 8, TN: 8, W: 128 },
      { kind: "blocked", tiles: chooseTiles(rt.gpu, L.M, L.N) },
      { kind: "texture" },
    ];
  const ids = [first, ...more].filter((v) => !whyInvalid(rt, v, L)).map(variantId);
  // a handful to measure: on GPUs with subgroups the blocked and texture kernels (last) make way
  return [...new Set(ids)].slice(0, 8);
}

/** The layout of a GemmShape's contiguous operands (what matmul() passes). */
function layoutOfShape(rt: Runtime, s: GemmShape): GemmLayout {
  const eb = s.dtype === "f16" ? 2 : 4;
  const lda = s.transA ? s.M : s.K;
  const ldb = s.transB ? s.K : s.N;
  const vec = [lda, ldb, s.M * s.K, s.K * s.N].every((x) => x % 4 === 0);
  const maxRows = rt.device.limits.maxTextureDimension2D;
  const texRows = (ld: number) => (ld * eb) % 256 === 0 && ld / 4 <= maxRows;
  return {
    M: s.M,
    N: s.N,
    K: s.K,
    batch: s.batch,
    transA: s.transA,
    vec,
    textures: vec && texRows(lda) && texRows(ldb),
  };
}

/** Every candidate id valid for this shape on this adapter, the heuristic's choice first. */
export function gemmCandidates(rt: Runtime, s: GemmShape): string[] {
  return candidatesFor(rt, layoutOfShape(rt, s));
}

/**
 * The tuning key: shapes that share a winner share a class. Dimensions round up to powers of two (a
 * kernel's speed changes with the number of blocks, not with the exact size); the epilogue is left out
 * (it costs the same in every variant).
 */
export function gemmShapeClass(s: GemmShape): string {
  const p2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
  return `${s.dtype} ${s.transA ? "T" : "N"}${s.transB ? "T" : "N"} ${p2(s.M)}x${p2(s.N)}x${p2(s.K)} b${
    p2(s.batch)
  }`;
}
