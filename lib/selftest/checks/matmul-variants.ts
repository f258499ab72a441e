// Every GEMM kernel variant forced by id (MatmulOptions.variant), whatever this adapter's heuristic
// would pick: the tiled kernels a GPU runs are checked on software adapters too. Shapes are odd (1, 3,
// 77, 197, 257: loads past the edges must read zeros, stores past them must not happen) or divide the
// variant's block (the kernel compiled without bounds checks), through scalar and vec4 loads, with
// each transpose and each epilogue (alpha, bias, QuickGELU, accumulate) somewhere in the list.

import { gemm, matmul, matmulReference } from "../../tensor/ops/matmul.ts";
import { parseVariant } from "../../tensor/ops/matmul-variants.ts";
import { type CheckDtype, type KernelCheck, relErr } from "../check.ts";
import type { Rng } from "../../random/rng.ts";
import type { Runtime } from "../../gpu/runtime.ts";
import { disposeAll, take, upload } from "../tensors.ts";
import { type MmCase, mmLabel, runMatmulCase } from "./matmul-case.ts";

/** The tiled ids checked: 4×4 and 8×4 and 8×8 per invocation, 64 and 256 invocations, BK 8 and 16, ±db. */
const TILED = [
  "tiled:64x64x16:4x4",
  "tiled:64x64x16:4x4:db",
  "tiled:128x64x16:8x4",
  "tiled:128x128x16:8x8",
  "tiled:32x32x8:4x4:db",
];

/** Subgroup ids: 8 rows × 4 columns in 64 invocations, 4 × 8 in 32 (one subgroup on most GPUs). */
const SG = ["tiled-sg:8x4:64", "tiled-sg:4x8:32"];

/** Odd shapes: CHECKS on; N·K and M·K odd so the loads are scalar, except the vec4 case. */
const ODD: MmCase[] = [
  { M: 77, K: 197, N: 3, transB: true, bias: true, activation: "quickgelu" },
  { M: 197, K: 77, N: 257, transA: true, accumulate: true },
  { M: 1, K: 1, N: 1, batch: 3 },
  { M: 3, K: 257, N: 77, transA: true, transB: true, bias: true },
  // vec4 loads (K and N multiples of 4) with edges in M and N
  { M: 77, K: 100, N: 196, bias: true, batch: 2, bBatched: true },
];

/** Shapes that divide the block (BM×BN×BK): no edge code compiled in; vec4 loads. */
function divisible(id: string): MmCase[] {
  const v = parseVariant(id);
  if (v?.kind !== "tiled") throw new Error(`vifi: ${id} is not a tiled id`);
  const { BM, BN, BK } = v.blocks;
  return [
    { M: 2 * BM, K: 3 * BK, N: BN, transB: true, bias: true, batch: 2, bBatched: true },
    { M: BM, K: 2 * BK, N: 2 * BN, transA: true, transB: true, accumulate: true },
    { M: BM, K: BK, N: BN, transA: true, bias: true, activation: "quickgelu" },
  ];
}

/** The kernels/matmul.wgsl variants forced, on shapes each can run. */
const OTHERS: [string, MmCase[]][] = [
  ["blocked:8x8:8x8", [ODD[0], ODD[1], ODD[4]]],
  ["blocked:4x4:8x8", [ODD[3], { M: 64, K: 64, N: 64, transA: true, accumulate: true }]],
  // the texture kernel's spec as the heuristic's FORWARD cases compile it (a new one takes lavapipe 10 s)
  ["texture", [{ M: 33, K: 192, N: 64, transB: true, bias: true }]],
  ["small", [{ M: 67, K: 20, N: 23, transB: true, bias: true, accumulate: true }]],
];

/**
 * One GEMM through gemm() on per-head views, as attention runs it: A and C are column blocks of wider
 * rows (leading dims past K and N, offsets into the buffer), batch = 2 outer × 3 heads with a stride
 * per level, B shared by the outer items.
 */
async function headViews(rt: Runtime, rng: Rng, dtype: "f32" | "f16", variant: string): Promise<number> {
  const [outer, heads, M, N, K] = [2, 3, 37, 20, 24];
  const f16 = dtype === "f16";
  const lda = heads * K + 4;
  const ldc = heads * N + 8;
  const offA = 4;
  const offC = 8;
  const a = rng.array(offA + outer * M * lda, -1, 1, f16);
  const b = rng.array(heads * K * N, -1, 1, f16);
  const c0 = rng.array(offC + outer * M * ldc, -1, 1, f16);
  const ta = upload(rt, a, [a.length], dtype, "A");
  const tb = upload(rt, b, [b.length], dtype, "B");
  const tc = upload(rt, c0, [c0.length], dtype, "C");
  await gemm(rt, {
    a: ta.buffer,
    b: tb.buffer,
    c: tc.buffer,
    dtype,
    M,
    N,
    K,
    lda,
    ldb: N,
    ldc,
    offA,
    offC,
    batch: outer * heads,
    heads,
    strideA: [M * lda, K],
    strideB: [0, K * N],
    strideC: [M * ldc, N],
    alpha: 0.5,
    accumulate: true,
    variant,
  });
  const got = await take(tc);
  disposeAll(ta, tb);
  // Every element of C: the views' sums where a view writes, the untouched input elsewhere.
  const ref = Float64Array.from(c0);
  for (let z = 0; z < outer; z++) {
    for (let h = 0; h < heads; h++) {
      const A = Array.from(
        { length: M * K },
        (_, i) => a[offA + z * M * lda + h * K + Math.floor(i / K) * lda + (i % K)],
      );
      const B = b.subarray(h * K * N, (h + 1) * K * N);
      const out = matmulReference(A, B, { M, N, K, alpha: 0.5 });
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) ref[offC + z * M * ldc + m * ldc + h * N + n] += out[m * N + n];
      }
    }
  }
  return relErr(got, ref);
}

/**
 * A subgroup id on an adapter without subgroups: the forced variant must be refused with the one-line
 * error that names it (0 when it is, NaN when it runs or fails otherwise).
 */
async function refused(rt: Runtime, id: string): Promise<number> {
  const x = upload(rt, [1, 2, 3, 4], [2, 2]);
  try {
    (await matmul(x, x, { variant: id })).dispose();
    return NaN;
  } catch (e) {
    const msg = (e as Error).message;
    return msg.includes(`variant "${id}" needs the subgroups feature`) && !msg.includes("\n") ? 0 : NaN;
  } finally {
    x.dispose();
  }
}

function variantCheck(id: string, cases: MmCase[], dtype: CheckDtype, views: boolean): KernelCheck {
  const dt = dtype as "f32" | "f16";
  const sg = id.startsWith("tiled-sg");
  const runs = cases.map((c) => ({
    label: `${id} ${mmLabel(c)}${sg ? " (refused without subgroups)" : ""}`,
    run: (rt: Runtime, rng: Rng) =>
      sg && !rt.gpu.features.subgroups ? refused(rt, id) : runMatmulCase(c, dtype, rt, rng, id),
  }));
  if (views) {
    runs.push({
      label: `${id} per-head views${sg ? " (refused without subgroups)" : ""}`,
      run: (rt, rng) => sg && !rt.gpu.features.subgroups ? refused(rt, id) : headViews(rt, rng, dt, id),
    });
  }
  return {
    name: "matmul.variant",
    dtype,
    direction: "forward",
    tol: dtype === "f16" ? 3e-3 : 1e-5,
    cases: runs,
  };
}

// f16 runs the first two tiled ids in full (storage conversion does not depend on the block sizes).
export const matmulVariantChecks: KernelCheck[] = [
  ...TILED.map((id) => variantCheck(id, [...ODD, ...divisible(id)], "f32", true)),
  ...TILED.slice(0, 2).map((id) => variantCheck(id, [...ODD, ...divisible(id)], "f16", true)),
  ...SG.map((id) =>
    variantCheck(id, [...ODD, { M: 64, K: 64, N: 256, transB: true, accumulate: true }], "f32", true)
  ),
  ...OTHERS.map(([id, cases]) => variantCheck(id, cases, "f32", id.startsWith("blocked"))),
];
