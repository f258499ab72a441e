// The attention family for the tuner: forward and backward together (a training step runs both, and a
// variant's backward is its own kernel), every candidate of attentionCandidates forced through
// `variant`, checked against the float64 attentionReference of the first and last batch item.

import type { Runtime } from "../../gpu/runtime.ts";
import type { Rng } from "../../random/rng.ts";
import { relErr, worst } from "../../selftest/check.ts";
import {
  attentionBackward,
  attentionCandidates,
  type AttentionDims,
  type AttentionOptions,
  attentionPacked,
  attentionPackedBackward,
  attentionReference,
  attentionShapeClass,
  type AttentionVariant,
} from "../../tensor/ops/attention.ts";
import { attention } from "../../tensor/ops/attention.ts";
import { Tensor } from "../../tensor/tensor.ts";
import type { CheckResult, OpFamily, Trial } from "../family.ts";

/** Relative error allowed against float64 (the selftest's tolerances, loosened for 197-key rows). */
const TOL = { f32: 2e-5, f16: 5e-3 };

function label(d: AttentionDims): string {
  const masks = `${d.causal ? " causal" : ""}${d.padded ? " padded" : ""}`;
  return `${d.B}×${d.H}h ${d.Lq}x${d.Lk} dh${d.D / d.H} ${d.dtype}${masks} fwd+bwd`;
}

/** Q·Kᵀ and P·V forward, and four products of the same size backward. */
function flop(d: AttentionDims): number {
  return 6 * 2 * d.B * d.H * d.Lq * d.Lk * (d.D / d.H);
}

interface Device {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dout: Tensor;
  mask?: Tensor;
}

function prepare(rt: Runtime, d: AttentionDims, rng: Rng): Trial {
  if (d.packed && d.Lq !== d.Lk) throw new Error("vifi: tune: packed attention needs Lq = Lk");
  const f16 = d.dtype === "f16";
  const W = d.packed ? 3 * d.D : d.D;
  const host = {
    q: rng.array(d.B * d.Lq * W, -1, 1, f16),
    k: d.packed ? undefined : rng.array(d.B * d.Lk * d.D, -1, 1, f16),
    v: d.packed ? undefined : rng.array(d.B * d.Lk * d.D, -1, 1, f16),
    dout: rng.array(d.B * d.Lq * d.D, -1, 1, f16),
    // valid key lengths: every batch item a different one, the first with all keys
    lengths: d.padded ? Array.from({ length: d.B }, (_, b) => Math.max(1, d.Lk - (b % 3))) : undefined,
  };
  const q = Tensor.from(rt, host.q, [d.B, d.Lq, W], d.dtype, "tune.q");
  const k = host.k ? Tensor.from(rt, host.k, [d.B, d.Lk, d.D], d.dtype, "tune.k") : q;
  const v = host.v ? Tensor.from(rt, host.v, [d.B, d.Lk, d.D], d.dtype, "tune.v") : q;
  const dout = Tensor.from(rt, host.dout, [d.B, d.Lq, d.D], d.dtype, "tune.dout");
  const mask = host.lengths && Tensor.from(rt, host.lengths, [d.B], "i32", "tune.lengths");
  const dev: Device = { q, k, v, dout, mask };
  const opts = (variant: string): AttentionOptions => ({
    heads: d.H,
    causal: d.causal,
    keyPadding: mask,
    variant: variant as AttentionVariant,
  });
  const step = async (variant: string) => {
    const o = opts(variant);
    if (d.packed) {
      const fwd = await attentionPacked(q, o);
      const dqkv = await attentionPackedBackward(q, fwd, dout, o);
      return { out: fwd.out, grads: [dqkv], saved: fwd.saved };
    }
    const fwd = await attention(q, k, v, o);
    const g = await attentionBackward(q, k, v, fwd, dout, o);
    return { out: fwd.out, grads: [g.dq, g.dk, g.dv], saved: fwd.saved };
  };
  const refs = new Map<number, ReturnType<typeof attentionReference>>();
  return {
    async run(variant) {
      const r = await step(variant);
      for (const t of [r.out, r.saved, ...r.grads]) t.dispose();
    },
    async check(variant) {
      const r = await step(variant);
      try {
        return await compare(d, host, r, refs);
      } finally {
        for (const t of [r.out, r.saved, ...r.grads]) t.dispose();
      }
    },
    dispose() {
      for (const t of new Set([dev.q, dev.k, dev.v, dev.dout, dev.mask])) t?.dispose();
    },
  };
}

/** One batch item's rows of a [B, L, W] array, columns [c0, c0 + n). */
function item(x: ArrayLike<number>, z: number, L: number, W: number, c0: number, n: number): Float64Array {
  const out = new Float64Array(L * n);
  for (let i = 0; i < L; i++) for (let c = 0; c < n; c++) out[i * n + c] = x[(z * L + i) * W + c0 + c];
  return out;
}

async function compare(
  d: AttentionDims,
  host: { q: Float64Array; k?: Float64Array; v?: Float64Array; dout: Float64Array; lengths?: number[] },
  r: { out: Tensor; grads: Tensor[] },
  refs: Map<number, ReturnType<typeof attentionReference>>,
): Promise<CheckResult> {
  const errs: number[] = [];
  const items = [...new Set([0, d.B - 1])];
  const W = d.packed ? 3 * d.D : d.D;
  for (const z of items) {
    const q = item(host.q, z, d.Lq, W, 0, d.D);
    const k = d.packed ? item(host.q, z, d.Lk, W, d.D, d.D) : item(host.k!, z, d.Lk, d.D, 0, d.D);
    const v = d.packed ? item(host.q, z, d.Lk, W, 2 * d.D, d.D) : item(host.v!, z, d.Lk, d.D, 0, d.D);
    const keyPadding = host.lengths && { mask: [host.lengths[z]], shape: [1] };
    // the same inputs for every candidate: one reference serves all
    const ref = refs.get(z) ?? attentionReference(
      { q, k, v, B: 1, Lq: d.Lq, Lk: d.Lk, D: d.D, heads: d.H, causal: d.causal, keyPadding },
      item(host.dout, z, d.Lq, d.D, 0, d.D),
    );
    refs.set(z, ref);
    errs.push(relErr(await r.out.readSpan(z * d.Lq * d.D, d.Lq * d.D), ref.out));
    if (d.packed) {
      const got = await r.grads[0].readSpan(z * d.Lq * W, d.Lq * W);
      errs.push(relErr(item(got, 0, d.Lq, W, 0, d.D), ref.dq!));
      errs.push(relErr(item(got, 0, d.Lk, W, d.D, d.D), ref.dk!));
      errs.push(relErr(item(got, 0, d.Lk, W, 2 * d.D, d.D), ref.dv!));
    } else {
      errs.push(relErr(await r.grads[0].readSpan(z * d.Lq * d.D, d.Lq * d.D), ref.dq!));
      errs.push(relErr(await r.grads[1].readSpan(z * d.Lk * d.D, d.Lk * d.D), ref.dk!));
      errs.push(relErr(await r.grads[2].readSpan(z * d.Lk * d.D, d.Lk * d.D), ref.dv!));
    }
  }
  return {
    err: worst(...errs) / TOL[d.dtype],
    what: `out, dq, dk, dv of batch items ${items.join(",")} against float64 (relative, tol ${TOL[d.dtype]})`,
  };
}

export const ATTENTION_FAMILY: OpFamily<AttentionDims> = {
  name: "attention",
  candidates: attentionCandidates,
  shapeClass: attentionShapeClass,
  label,
  flop,
  prepare,
};
