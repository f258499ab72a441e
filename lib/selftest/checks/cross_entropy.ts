// Checks for the soft-target cross-entropy (loss and its gradient w.r.t. the logits), each element
// judged against its own rounding-error bound (lib/selftest/cross-entropy-bound.ts), plus finite
// differences. The target rows are the kinds training produces and rows whose mass is not 1.

import {
  crossEntropy,
  crossEntropyBackward,
  crossEntropyBackwardReference,
  crossEntropyReference,
} from "../../tensor/ops/cross_entropy.ts";
import type { Rng } from "../../random/rng.ts";
import { boundErr, type CheckDtype, type KernelCheck, worst } from "../check.ts";
import { crossEntropyBackwardBound, crossEntropyBound } from "../cross-entropy-bound.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import { disposeAll, take, upload } from "../tensors.ts";

export type TargetKind = "one-hot" | "smoothed" | "mixup" | "soft" | "unnormalised" | "scaled";

/** Target rows of the kinds training produces, plus rows whose sum is not 1. */
export function makeTargets(rng: Rng, b: number, c: number, kind: TargetKind): Float64Array {
  const t = new Float64Array(b * c);
  const eps = 0.1;
  for (let r = 0; r < b; r++) {
    const row = t.subarray(r * c, (r + 1) * c);
    switch (kind) {
      case "one-hot":
        row[rng.int(c)] = 1;
        break;
      case "smoothed":
        row.fill(eps / c);
        row[rng.int(c)] += 1 - eps;
        break;
      case "mixup": {
        const lam = rng.uniform(0, 1);
        row.fill(eps / c);
        row[rng.int(c)] += lam * (1 - eps);
        row[rng.int(c)] += (1 - lam) * (1 - eps);
        break;
      }
      case "soft": {
        let s = 0;
        for (let j = 0; j < c; j++) s += row[j] = Math.exp(2 * rng.normal());
        for (let j = 0; j < c; j++) row[j] /= s;
        break;
      }
      case "scaled": {
        // A smoothed row whose mass is not 1: peaked, so the gradient stays large for finite differences.
        const k = rng.uniform(0.3, 1.7);
        row.fill(k * eps / c);
        row[rng.int(c)] += k * (1 - eps);
        break;
      }
      case "unnormalised": {
        // Row sums in [0.3, 1.7]: far enough from 1 to expose a gradient that assumes Σt = 1.
        const sum = rng.uniform(0.3, 1.7);
        let s = 0;
        for (let j = 0; j < c; j++) s += row[j] = rng.uniform(0, 1);
        for (let j = 0; j < c; j++) row[j] *= sum / s;
        break;
      }
    }
  }
  return t.map(Math.fround);
}

/**
 * [B, C, target kind, logit range]: ±100 is CLIP's logit scale times a cosine. The first case is the
 * one `doctor` runs, so it is a typical one (a single class has an identically zero loss).
 */
export const CE_CASES: [number, number, TargetKind, number][] = [
  [8, 51, "mixup", 5],
  [3, 7, "smoothed", 3],
  [1, 1, "one-hot", 3],
  [8, 400, "smoothed", 100],
  [3, 400, "unnormalised", 4],
  [1, 51, "soft", 3],
  [8, 1, "unnormalised", 3],
  [8, 51, "scaled", 3],
  [3, 7, "one-hot", 100],
  [1, 400, "mixup", 100],
];

function crossEntropyForwardCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  return {
    name: "cross_entropy",
    dtype,
    direction: "forward",
    // Losses cancel (a confident row's loss is log(1 + 1e-6)): see cross-entropy-bound.ts.
    measure: "bound",
    tol: 1,
    cases: CE_CASES.map(([b, c, kind, range]) => ({
      label: `B=${b} C=${c}, ${kind} targets, logits ±${range}`,
      async run(rt, rng) {
        const x = rng.array(b * c, -range, range, f16);
        const t = makeTargets(rng, b, c, kind);
        const tx = upload(rt, x, [b, c], dtype, "logits");
        const tt = upload(rt, t, [b, c], "f32", "targets");
        const { loss, rowLoss } = await crossEntropy(tx, tt);
        const ref = crossEntropyReference(x, t, b, c);
        const bound = crossEntropyBound(x, t, b, c);
        const err = worst(
          boundErr(await take(rowLoss), ref.rowLoss, bound.rowLoss),
          boundErr(await take(loss), [ref.loss], [bound.loss]),
        );
        disposeAll(tx, tt);
        return err;
      },
    })),
  };
}

function crossEntropyBackwardCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  return {
    name: "cross_entropy",
    dtype,
    direction: "backward",
    // The target's sm·T − t cancels where the row is confident: see cross-entropy-bound.ts.
    measure: "bound",
    tol: 1,
    cases: CE_CASES.map(([b, c, kind, range], i) => {
      // Alternate a CPU number and a GPU scalar (a loss scale that never leaves the device).
      const onGpu = i % 2 === 1;
      return {
        label: `B=${b} C=${c}, ${kind} targets, logits ±${range}, dloss ${onGpu ? "tensor" : "number"}`,
        async run(rt, rng) {
          const x = rng.array(b * c, -range, range, f16);
          const t = makeTargets(rng, b, c, kind);
          const dloss = onGpu ? 1024 : Math.fround(rng.uniform(0.5, 2));
          const tx = upload(rt, x, [b, c], dtype, "logits");
          const tt = upload(rt, t, [b, c], "f32", "targets");
          const td = onGpu ? upload(rt, [dloss], [1], "f32", "dloss") : undefined;
          const dx = await take(await crossEntropyBackward(tx, tt, td ?? dloss));
          disposeAll(tx, tt, td);
          const ref = crossEntropyBackwardReference(x, t, b, c, dloss);
          return boundErr(dx, ref, crossEntropyBackwardBound(x, t, b, c, dloss, f16));
        },
      };
    }),
  };
}

/** [B, C, target kind] for the finite-difference check (logits in ±3, so the loss is smooth). */
const FD_CASES: [number, number, TargetKind][] = [
  [3, 7, "smoothed"],
  [2, 7, "unnormalised"],
  [8, 51, "scaled"],
  [8, 51, "mixup"],
  [2, 400, "mixup"],
];

const crossEntropyFd: KernelCheck = {
  name: "cross_entropy.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: FD_CASES.map(([b, c, kind]) => ({
    label: `B=${b} C=${c}, ${kind} targets, w.r.t. logits`,
    async run(rt, rng) {
      const x = rng.array(b * c, -3, 3);
      const t = makeTargets(rng, b, c, kind);
      const g = Math.fround(rng.uniform(0.5, 2));
      const tx = upload(rt, x, [b, c], "f32", "logits");
      const tt = upload(rt, t, [b, c], "f32", "targets");
      const dx = await take(await crossEntropyBackward(tx, tt, g));
      tx.dispose();
      const err = await finiteDifferenceError(
        {
          inputs: [x],
          upstream: Float64Array.of(g),
          grads: [dx],
          async forward([xs]) {
            const txs = upload(rt, xs, [b, c], "f32", "logits");
            const { loss, rowLoss } = await crossEntropy(txs, tt);
            rowLoss.dispose();
            txs.dispose();
            return await take(loss);
          },
        },
        rng,
        0.03,
      );
      tt.dispose();
      return err;
    },
  })),
};

export const crossEntropyChecks: KernelCheck[] = [
  crossEntropyForwardCheck("f32"),
  crossEntropyBackwardCheck("f32"),
  crossEntropyForwardCheck("f16"),
  crossEntropyBackwardCheck("f16"),
  crossEntropyFd,
];
