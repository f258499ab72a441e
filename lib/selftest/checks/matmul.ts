import { matmul, matmulBackward } from "../../tensor/ops/matmul.ts";
import { type CheckDtype, type KernelCheck, relErr, tolFor, worst } from "../check.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import { disposeAll, take, upload } from "../tensors.ts";
import { type MmCase, mmLabel, runMatmulCase } from "./matmul-case.ts";
import { matmulVariantChecks } from "./matmul-variants.ts";

// Sizes that are not multiples of any tile (197 tokens, 77 text positions, 1, 3) and the vec4 path
// (multiples of 4) as well as the scalar path (anything else).
const FORWARD: MmCase[] = [
  { M: 197, K: 64, N: 77, transB: true },
  { M: 1, K: 1, N: 1 },
  { M: 3, K: 5, N: 7 },
  { M: 77, K: 512, N: 36, transB: true, bias: true },
  { M: 197, K: 77, N: 3, transA: true },
  { M: 13, K: 40, N: 24, transA: true, transB: true },
  { M: 31, K: 96, N: 100, bias: true, activation: "quickgelu" },
  { M: 20, K: 9, N: 17, batch: 3, bBatched: true },
  { M: 8, K: 16, N: 12, batch: 5, transB: true, accumulate: true },
  { M: 197, K: 197, N: 64, batch: 2, bBatched: true },
  // Leading dimensions that are multiples of 64 take the texture path on software adapters; the same
  // shapes through storage buffers.
  { M: 70, K: 128, N: 64, transB: true, bias: true },
  { M: 70, K: 128, N: 64, transB: true, bias: true, useTextures: false },
  { M: 64, K: 64, N: 128, transA: true, batch: 2, bBatched: true },
  { M: 64, K: 64, N: 128, transA: true, batch: 2, bBatched: true, useTextures: false },
  // The small-K variant (K ≤ 256, a multiple of 4, A not transposed): vec4 stores (N a multiple of 4)
  // and scalar ones, several column blocks (K = 256 gives 16 columns a block), textures and storage.
  { M: 131, K: 68, N: 44, transB: true, bias: true },
  { M: 67, K: 20, N: 23, transB: true, bias: true, activation: "quickgelu" },
  { M: 70, K: 256, N: 36, transB: true, bias: true, accumulate: true },
  { M: 65, K: 64, N: 64, bias: true, activation: "quickgelu" },
  { M: 65, K: 64, N: 64, transB: true, accumulate: true, useTextures: false },
  { M: 70, K: 192, N: 40, batch: 3, bBatched: true },
];

function forwardCheck(dtype: CheckDtype): KernelCheck {
  return {
    name: "matmul",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: FORWARD.map((c) => ({ label: mmLabel(c), run: (rt, rng) => runMatmulCase(c, dtype, rt, rng) })),
  };
}

const BACKWARD: MmCase[] = [
  { M: 197, K: 64, N: 77, transB: true },
  { M: 3, K: 5, N: 7 },
  { M: 13, K: 40, N: 24, transA: true, transB: true },
  { M: 9, K: 6, N: 1, transA: true },
];

function backwardCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  const dt = dtype as "f32" | "f16";
  return {
    name: "matmul",
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: BACKWARD.map((c) => ({
      label: mmLabel(c),
      async run(rt, rng) {
        const a = rng.array(c.M * c.K, -1, 1, f16);
        const b = rng.array(c.K * c.N, -1, 1, f16);
        const dc = rng.array(c.M * c.N, -1, 1, f16);
        const ta = upload(rt, a, c.transA ? [c.K, c.M] : [c.M, c.K], dt, "A");
        const tb = upload(rt, b, c.transB ? [c.N, c.K] : [c.K, c.N], dt, "B");
        const tdc = upload(rt, dc, [c.M, c.N], dt, "dC");
        const { da, db } = await matmulBackward(ta, tb, tdc, { transA: c.transA, transB: c.transB });
        const gotA = await take(da!);
        const gotB = await take(db!);
        disposeAll(ta, tb, tdc);
        // Reference: dA = dC·op(B)ᵀ and dB = op(A)ᵀ·dC, laid out like the stored A and B.
        const { M, K, N } = c;
        const refA = new Float64Array(M * K);
        const refB = new Float64Array(K * N);
        const A = (m: number, k: number) => (c.transA ? a[k * M + m] : a[m * K + k]);
        const B = (k: number, n: number) => (c.transB ? b[n * K + k] : b[k * N + n]);
        for (let m = 0; m < M; m++) {
          for (let k = 0; k < K; k++) {
            let s = 0;
            for (let n = 0; n < N; n++) s += dc[m * N + n] * B(k, n);
            refA[c.transA ? k * M + m : m * K + k] = s;
          }
        }
        for (let k = 0; k < K; k++) {
          for (let n = 0; n < N; n++) {
            let s = 0;
            for (let m = 0; m < M; m++) s += A(m, k) * dc[m * N + n];
            refB[c.transB ? n * K + k : k * N + n] = s;
          }
        }
        return worst(relErr(gotA, refA), relErr(gotB, refB));
      },
    })),
  };
}

const finiteDifference: KernelCheck = {
  name: "matmul.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: [
    { M: 13, K: 40, N: 24, transB: true },
    { M: 3, K: 5, N: 7, transA: true },
  ].map((c: MmCase) => ({
    label: mmLabel(c),
    async run(rt, rng) {
      const shapeA = c.transA ? [c.K, c.M] : [c.M, c.K];
      const shapeB = c.transB ? [c.N, c.K] : [c.K, c.N];
      const a = rng.array(c.M * c.K);
      const b = rng.array(c.K * c.N);
      const dc = rng.array(c.M * c.N);
      const ta = upload(rt, a, shapeA);
      const tb = upload(rt, b, shapeB);
      const tdc = upload(rt, dc, [c.M, c.N]);
      const { da, db } = await matmulBackward(ta, tb, tdc, { transA: c.transA, transB: c.transB });
      const grads = [await take(da!), await take(db!)];
      disposeAll(ta, tb, tdc);
      return await finiteDifferenceError({
        inputs: [a, b],
        upstream: dc,
        grads,
        async forward([xa, xb]) {
          const ua = upload(rt, xa, shapeA);
          const ub = upload(rt, xb, shapeB);
          const y = await take(await matmul(ua, ub, { transA: c.transA, transB: c.transB }));
          disposeAll(ua, ub);
          return y;
        },
      }, rng);
    },
  })),
};

export const matmulChecks: KernelCheck[] = [
  forwardCheck("f32"),
  forwardCheck("f16"),
  backwardCheck("f32"),
  backwardCheck("f16"),
  finiteDifference,
  ...matmulVariantChecks,
];
