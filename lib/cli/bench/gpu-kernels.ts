// The kernel sections of `deno task bench --suite gpu`: every GEMM candidate at the ViT-B/16 and ViT-L/14
// shapes, attention fused against composed (forward and backward), LayerNorm forward and backward. Each
// row is wall time per op over `reps` runs in one submit, best of 3 rounds (timeGpu in kernels.ts).

import type { Runtime } from "../../gpu/runtime.ts";
import type { Rng } from "../../random/rng.ts";
import { attentionCandidates, attentionPacked, attentionPackedBackward } from "../../tensor/ops/attention.ts";
import { layerNorm, layerNormBackward, layerNormCandidates } from "../../tensor/ops/layernorm.ts";
import { gemmCandidates, matmul } from "../../tensor/ops/matmul.ts";
import { type DType, Tensor } from "../../tensor/tensor.ts";
import type { Budget } from "./gpu-budget.ts";
import {
  type AttentionCase,
  attentionShape,
  type GemmCase,
  gemmShape,
  layerNormBytes,
  rowFlops,
  type SuitePlan,
} from "./gpu-shapes.ts";
import { timeGpu } from "./kernels.ts";
import type { BenchRow, Emit } from "./row.ts";

export interface SuiteContext {
  rt: Runtime;
  plan: SuitePlan;
  rng: Rng;
  dtypes: DType[];
  budget: Budget;
  emit: Emit;
}

/** A row that did not run, with the reason. */
export function skippedRow(section: string, op: string, shape: string, dtype: string, why: string): BenchRow {
  return {
    section,
    op,
    shape,
    dtype,
    ms: 0,
    skipped: why,
    ref: null,
    ref_ms: null,
    ratio: null,
  };
}

/** Every GEMM candidate for the case on this adapter (gemmCandidates: the heuristic's choice first). */
export function gemmVariants(rt: Runtime, g: GemmCase, dtype: DType): string[] {
  return gemmCandidates(rt, {
    M: g.M,
    N: g.N,
    K: g.K,
    batch: g.batch,
    transA: false,
    transB: g.transB,
    dtype,
    bias: false,
    activation: "none",
    accumulate: false,
  });
}

export async function gemmSection(c: SuiteContext): Promise<void> {
  const { rt, plan, rng, dtypes, budget, emit } = c;
  for (const g of plan.gemm) {
    const shape = gemmShape(g);
    const flop = rowFlops({ kind: "gemm", g });
    const a = rng.array(g.batch * g.M * g.K);
    const b = rng.array(g.batch * g.K * g.N);
    for (const dtype of dtypes) {
      const ta = Tensor.from(rt, a, g.batch > 1 ? [g.batch, g.M, g.K] : [g.M, g.K], dtype);
      const bShape = g.transB ? [g.N, g.K] : [g.K, g.N];
      const tb = Tensor.from(rt, b, g.batch > 1 ? [g.batch, ...bShape] : bShape, dtype);
      try {
        for (const id of gemmVariants(rt, g, dtype)) {
          const work = flop * (plan.rounds * plan.reps + 1);
          if (!budget.fits("gemm", work)) {
            emit({ ...skippedRow("gemm", "gemm", shape, dtype, "budget"), variant: id });
            continue;
          }
          const ms = await budget.measure(
            "gemm",
            work,
            () =>
              timeGpu(
                rt,
                plan.reps,
                async () => [await matmul(ta, tb, { transB: g.transB, variant: id })],
                plan.rounds,
              ),
          );
          emit({
            section: "gemm",
            op: "gemm",
            shape,
            dtype,
            variant: id,
            gflops: flop / ms / 1e6,
            ms,
            ref: null,
            ref_ms: null,
            ratio: null,
          });
        }
      } finally {
        ta.dispose();
        tb.dispose();
        await rt.sync();
        rt.pool.trim();
      }
    }
  }
}

async function attentionCase(c: SuiteContext, a: AttentionCase, dtype: DType): Promise<void> {
  const { rt, plan, rng, budget, emit } = c;
  const { B, H, L, dh } = a;
  const D = H * dh;
  const shape = attentionShape(a);
  const t = Tensor.from(rt, rng.array(B * L * 3 * D), [B, L, 3 * D], dtype);
  const g = Tensor.from(rt, rng.array(B * L * D), [B, L, D], dtype);
  try {
    const dims = { B, Lq: L, Lk: L, D, H, dtype: dtype as "f32" | "f16", packed: true };
    for (const variant of attentionCandidates(rt, dims)) {
      const o = { heads: H, variant };
      for (const backward of [false, true]) {
        const op = backward ? "attention bwd" : "attention fwd";
        const flop = rowFlops({ kind: "attention", a, backward });
        const work = flop * (plan.rounds * plan.reps + 1) * (backward ? 1.5 : 1);
        if (!budget.fits("attention", work, { from: "gemm", factor: 4 })) {
          emit({ ...skippedRow("attention", op, shape, dtype, "budget"), variant });
          continue;
        }
        const ms = await budget.measure("attention", work, async () => {
          if (!backward) {
            return await timeGpu(rt, plan.reps, async () => {
              const r = await attentionPacked(t, o);
              return [r.out, r.saved];
            }, plan.rounds);
          }
          const r = await attentionPacked(t, o);
          try {
            return await timeGpu(
              rt,
              plan.reps,
              async () => [await attentionPackedBackward(t, r, g, o)],
              plan.rounds,
            );
          } finally {
            r.out.dispose();
            r.saved.dispose();
          }
        });
        emit({
          section: "attention",
          op,
          shape,
          dtype,
          variant,
          gflops: flop / ms / 1e6,
          ms,
          ref: null,
          ref_ms: null,
          ratio: null,
        });
      }
    }
  } finally {
    t.dispose();
    g.dispose();
  }
}

export async function attentionSection(c: SuiteContext): Promise<void> {
  for (const a of c.plan.attention) for (const dtype of c.dtypes) await attentionCase(c, a, dtype);
}

async function layerNormRow(
  c: SuiteContext,
  t: { x: Tensor; w: Tensor; b: Tensor; dy: Tensor; mean: Tensor; rstd: Tensor },
  variant: string,
  backward: boolean,
): Promise<void> {
  const { rt, plan, budget, emit } = c;
  const [M, N] = t.x.shape;
  const shape = `${M}x${N}`;
  const op = backward ? "layernorm bwd" : "layernorm fwd";
  const bytes = layerNormBytes(M, N, t.x.dtype, backward);
  const work = bytes * (plan.rounds * plan.reps + 1);
  if (!budget.fits("layernorm", work)) {
    emit({ ...skippedRow("layernorm", op, shape, t.x.dtype, "budget"), variant });
    return;
  }
  const ms = await budget.measure("layernorm", work, () =>
    timeGpu(rt, plan.reps, async () => {
      if (!backward) {
        const r = await layerNorm(t.x, t.w, t.b, { variant });
        return [r.y, r.mean, r.rstd];
      }
      const gr = await layerNormBackward(t.x, t.w, t.mean, t.rstd, t.dy, { variant });
      return [gr.dx, gr.dweight, gr.dbias];
    }, plan.rounds));
  emit({
    section: "layernorm",
    op,
    shape,
    dtype: t.x.dtype,
    variant,
    gbps: bytes / ms / 1e6,
    ms,
    ref: null,
    ref_ms: null,
    ratio: null,
  });
}

/** LayerNorm forward and backward in every launch layout (layerNormCandidates, the heuristic's first). */
export async function layerNormSection(c: SuiteContext): Promise<void> {
  const { rt, plan, rng, dtypes } = c;
  for (const { M, N } of plan.layernorm) {
    const [x, w, b, dy] = [rng.array(M * N), rng.array(N), rng.array(N), rng.array(M * N)];
    for (const dtype of dtypes) {
      const tx = Tensor.from(rt, x, [M, N], dtype);
      const tw = Tensor.from(rt, w, [N], dtype);
      const tb = Tensor.from(rt, b, [N], dtype);
      const tdy = Tensor.from(rt, dy, [M, N], dtype);
      const fwd = await layerNorm(tx, tw, tb);
      const t = { x: tx, w: tw, b: tb, dy: tdy, mean: fwd.mean, rstd: fwd.rstd };
      try {
        for (const backward of [false, true]) {
          for (const variant of layerNormCandidates(rt, N, dtype)) {
            await layerNormRow(c, t, variant, backward);
          }
        }
      } finally {
        for (const t of [tx, tw, tb, tdy, fwd.y, fwd.mean, fwd.rstd]) t.dispose();
      }
    }
  }
}
