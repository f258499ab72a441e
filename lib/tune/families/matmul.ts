// The GEMM family for the tuner: every candidate of gemmCandidates (lib/tensor/ops/matmul-variants.ts)
// run through gemm() with its variant forced, on contiguous batched operands of the shape, and checked
// against a float64 product of a few rows of C (the first rows and the last of the first and last batch
// item) under an error bound from the rounding of f32 accumulation and of C's storage type.

import type { Runtime } from "../../gpu/runtime.ts";
import type { Rng } from "../../random/rng.ts";
import { UNIT_ROUNDOFF } from "../../selftest/check.ts";
import { gemm, type GemmShape } from "../../tensor/ops/matmul.ts";
import { gemmCandidates, gemmShapeClass } from "../../tensor/ops/matmul.ts";
import { encode, Tensor } from "../../tensor/tensor.ts";
import type { CheckResult, OpFamily, Trial } from "../family.ts";

const quickGelu = (v: number) => v / (1 + Math.exp(-1.702 * v));

function label(s: GemmShape): string {
  const t = `${s.transA ? "T" : "N"}${s.transB ? "T" : "N"}`;
  const extra = [s.bias ? "bias" : "", s.activation !== "none" ? s.activation : "", s.accumulate ? "acc" : ""]
    .filter(Boolean).join("+");
  return `${s.batch > 1 ? `${s.batch}×` : ""}${s.M}x${s.N}x${s.K} ${t} ${s.dtype}${extra ? ` ${extra}` : ""}`;
}

function prepare(rt: Runtime, s: GemmShape, rng: Rng): Trial {
  const { M, N, K, batch } = s;
  const f16 = s.dtype === "f16";
  const a = rng.array(batch * M * K, -1, 1, f16);
  const b = rng.array(batch * K * N, -1, 1, f16);
  const bias = s.bias ? rng.array(N, -1, 1, f16) : undefined;
  const c0 = s.accumulate ? rng.array(batch * M * N, -1, 1, f16) : new Float64Array(batch * M * N).fill(NaN);
  const ta = Tensor.from(rt, a, [batch * M * K], s.dtype, "tune.a");
  const tb = Tensor.from(rt, b, [batch * K * N], s.dtype, "tune.b");
  const tbias = bias && Tensor.from(rt, bias, [N], s.dtype, "tune.bias");
  const tc = Tensor.from(rt, c0, [batch * M * N], s.dtype, "tune.c");
  const args = (variant: string) => ({
    a: ta.buffer,
    b: tb.buffer,
    c: tc.buffer,
    bias: tbias?.buffer,
    dtype: s.dtype,
    M,
    N,
    K,
    transA: s.transA,
    transB: s.transB,
    lda: s.transA ? M : K,
    ldb: s.transB ? K : N,
    ldc: N,
    batch,
    strideA: [M * K, 0] as [number, number],
    strideB: [K * N, 0] as [number, number],
    strideC: [M * N, 0] as [number, number],
    activation: s.activation,
    accumulate: s.accumulate,
    variant,
    label: "tune.matmul",
  });
  const run = (variant: string) => gemm(rt, args(variant));
  let reference: GemmReference | undefined;
  const check = async (variant: string): Promise<CheckResult> => {
    // C starts as c0 (accumulate) or NaN (so an element the kernel never writes fails)
    await restore(rt, tc, c0);
    await run(variant);
    // the same inputs for every candidate: one reference (K·9·N·2 products in JavaScript) serves all
    reference ??= gemmReference(s, { a, b, bias, c0 });
    return await checkGemm(s, reference, (z, i) => tc.readSpan((z * M + i) * N, N));
  };
  return {
    run,
    check,
    dispose() {
      for (const t of [ta, tb, tbias, tc]) t?.dispose();
    },
  };
}

/** Put `data` back into C (the timed runs changed it); a CPU write, outside any timed round. */
async function restore(rt: Runtime, t: Tensor, data: ArrayLike<number>) {
  await rt.sync();
  rt.write(t.buffer, encode(data, t.dtype, t.byteLength));
}

/** A GEMM's inputs as float64 (already rounded to the storage type), batch items contiguous. */
export interface GemmInputs {
  a: Float64Array;
  b: Float64Array;
  bias?: Float64Array;
  c0: Float64Array;
}

/** The checked rows of C in float64 and each element's error bound (computed once per shape). */
export interface GemmReference {
  rows: number[];
  items: number[];
  /** [item][row][column], items × rows × N */
  ref: Float64Array;
  bound: Float64Array;
}

/**
 * C's first eight rows and its last, of the first and last batch item, in float64, each with a bound on
 * what a right kernel may differ by: f32 accumulation over K terms (K·u times the sum of the terms'
 * magnitudes), C rounded to its storage type (twice with accumulation: read, then written), doubled.
 */
export function gemmReference(s: GemmShape, x: GemmInputs): GemmReference {
  const { M, N, K } = s;
  const rows = [...new Set([...Array(Math.min(M, 8)).keys(), M - 1])];
  const items = [...new Set([0, s.batch - 1])];
  const uStore = UNIT_ROUNDOFF[s.dtype === "f16" ? "f16" : "f32"];
  const uAcc = UNIT_ROUNDOFF.f32;
  const ref = new Float64Array(items.length * rows.length * N);
  const bound = new Float64Array(ref.length);
  let e = 0;
  for (const z of items) {
    for (const i of rows) {
      for (let j = 0; j < N; j++, e++) {
        let acc = 0;
        let mag = 0;
        for (let k = 0; k < K; k++) {
          const av = x.a[z * M * K + (s.transA ? k * M + i : i * K + k)];
          const bv = x.b[z * K * N + (s.transB ? j * K + k : k * N + j)];
          acc += av * bv;
          mag += Math.abs(av * bv);
        }
        if (x.bias) {
          acc += x.bias[j];
          mag += Math.abs(x.bias[j]);
        }
        let r = s.activation === "quickgelu" ? quickGelu(acc) : acc;
        let b = (K + 2) * uAcc * mag * (s.activation === "quickgelu" ? 1.2 : 1);
        if (s.accumulate) {
          const c0 = x.c0[(z * M + i) * N + j];
          r += c0;
          b += Math.abs(c0) * uAcc + Math.abs(r) * uAcc;
        }
        b = 2 * (b + Math.abs(r) * uStore * (s.accumulate ? 2 : 1)) + 1e-30;
        if (s.activation === "quickgelu") b += Math.abs(r) * 1e-6; // exp is not correctly rounded
        ref[e] = r;
        bound[e] = b;
      }
    }
  }
  return { rows, items, ref, bound };
}

/**
 * Worst |C − ref| / bound over the reference's rows, `row(z, i)` giving row i of batch item z as
 * computed; NaN when an element is not finite.
 */
export async function checkGemm(
  s: GemmShape,
  r: GemmReference,
  row: (z: number, i: number) => Promise<ArrayLike<number>>,
): Promise<CheckResult> {
  let worst = 0;
  let e = 0;
  for (const z of r.items) {
    for (const i of r.rows) {
      const got = await row(z, i);
      for (let j = 0; j < s.N; j++, e++) {
        const v = got[j];
        if (!Number.isFinite(v)) return { err: NaN, what: `C[${z}][${i}][${j}] = ${v}` };
        worst = Math.max(worst, Math.abs(v - r.ref[e]) / r.bound[e]);
      }
    }
  }
  return { err: worst, what: `rows ${r.rows.join(",")} of batch items ${r.items.join(",")} against float64` };
}

export const MATMUL_FAMILY: OpFamily<GemmShape> = {
  name: "matmul",
  candidates: gemmCandidates,
  shapeClass: gemmShapeClass,
  label,
  flop: (s) => 2 * s.M * s.N * s.K * s.batch,
  prepare,
};
