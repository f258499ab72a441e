// One forward GEMM case through matmul() against its float64 reference, shared by the matmul checks
// (./matmul.ts, the heuristic's choices) and the variant checks (./matmul-variants.ts, forced ids).

import { type Activation, matmul, matmulReference } from "../../tensor/ops/matmul.ts";
import { type CheckCase, type CheckDtype, relErr } from "../check.ts";
import type { Rng } from "../../random/rng.ts";
import { disposeAll, take, upload } from "../tensors.ts";

export interface MmCase {
  M: number;
  K: number;
  N: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  bBatched?: boolean;
  bias?: boolean;
  activation?: Activation;
  accumulate?: boolean;
  /** false: force the storage-buffer path where the texture path would be taken */
  useTextures?: boolean;
}

export function mmLabel(c: MmCase): string {
  const flags = [
    c.transA && "Aᵀ",
    c.transB && "Bᵀ",
    c.batch && `batch ${c.batch}${c.bBatched ? "" : " (B shared)"}`,
    c.bias && "bias",
    c.activation && c.activation,
    c.accumulate && "+=",
    c.useTextures === false && "storage path",
  ].filter(Boolean);
  return `M=${c.M} K=${c.K} N=${c.N}${flags.length ? " " + flags.join(", ") : ""}`;
}

/** One forward case through matmul() (forcing `variant` when given): relative error against float64. */
export async function runMatmulCase(
  c: MmCase,
  dtype: CheckDtype,
  rt: Parameters<CheckCase["run"]>[0],
  rng: Rng,
  variant?: string,
): Promise<number> {
  const f16 = dtype === "f16";
  const dt = dtype as "f32" | "f16";
  const batch = c.batch ?? 1;
  const lead = c.batch ? [batch] : [];
  const a = rng.array(batch * c.M * c.K, -1, 1, f16);
  const b = rng.array((c.bBatched ? batch : 1) * c.K * c.N, -1, 1, f16);
  const bias = c.bias ? rng.array(c.N, -1, 1, f16) : undefined;
  const acc = c.accumulate ? rng.array(batch * c.M * c.N, -1, 1, f16) : undefined;
  const ta = upload(rt, a, [...lead, ...(c.transA ? [c.K, c.M] : [c.M, c.K])], dt, "A");
  const tb = upload(rt, b, [...(c.bBatched ? lead : []), ...(c.transB ? [c.N, c.K] : [c.K, c.N])], dt, "B");
  const tbias = bias ? upload(rt, bias, [c.N], dt, "bias") : undefined;
  const tout = acc ? upload(rt, acc, [...lead, c.M, c.N], dt, "C") : undefined;
  const alpha = 0.75;
  const out = await take(
    await matmul(ta, tb, {
      transA: c.transA,
      transB: c.transB,
      bias: tbias,
      activation: c.activation,
      alpha,
      out: tout,
      accumulate: c.accumulate,
      useTextures: c.useTextures,
      variant,
    }),
  );
  disposeAll(ta, tb, tbias);
  const ref = matmulReference(a, b, { ...c, batch, alpha, bias, accumulate: acc });
  return relErr(out, ref);
}
