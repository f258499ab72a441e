// Checks for the ops at the head of CLIP: row L2 normalisation and the learned logit scale.
import {
  l2Normalize,
  l2NormalizeBackward,
  l2NormalizeBackwardReference,
  l2NormalizeReference,
} from "../../tensor/ops/l2norm.ts";
import { logitScale, logitScaleBackward } from "../../tensor/ops/logit_scale.ts";
import { Tensor } from "../../tensor/tensor.ts";
import {
  boundErr,
  type CheckDtype,
  type KernelCheck,
  relErr,
  tolFor,
  UNIT_ROUNDOFF,
  worst,
} from "../check.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import { l2NormalizeBackwardBound } from "../rounding-bounds.ts";
import { disposeAll, gpuForward, take, upload } from "../tensors.ts";

const ROWS: [number, number][] = [[8, 512], [1, 1], [3, 5], [77, 16]];
// A one-element row has an identically zero gradient (relative error is meaningless there).
const GRAD_ROWS: [number, number][] = [[8, 512], [1, 2], [3, 5], [77, 16]];

function l2Checks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const dt = dtype as "f32" | "f16";
  return [{
    name: "l2normalize",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: ROWS.map(([r, w]) => ({
      label: `[${r}, ${w}]`,
      async run(rt, rng) {
        const x = rng.array(r * w, -2, 2, f16);
        const tx = upload(rt, x, [r, w], dt);
        const y = await take(await l2Normalize(tx));
        tx.dispose();
        return relErr(y, l2NormalizeReference(x, w));
      },
    })),
  }, {
    name: "l2normalize",
    dtype,
    direction: "backward",
    // dy − y·(y·dy) cancels when dy is nearly parallel to x: each element against its own bound.
    measure: "bound",
    tol: 1,
    cases: GRAD_ROWS.map(([r, w]) => ({
      label: `[${r}, ${w}]`,
      async run(rt, rng) {
        const x = rng.array(r * w, -2, 2, f16);
        const dy = rng.array(r * w, -1, 1, f16);
        const tx = upload(rt, x, [r, w], dt);
        const tdy = upload(rt, dy, [r, w], dt);
        const dx = await take(await l2NormalizeBackward(tx, tdy));
        disposeAll(tx, tdy);
        return boundErr(dx, l2NormalizeBackwardReference(x, dy, w), l2NormalizeBackwardBound(x, dy, w, f16));
      },
    })),
  }];
}

const l2Fd: KernelCheck = {
  name: "l2normalize.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: [[4, 33], [2, 3]].map(([r, w]) => ({
    label: `[${r}, ${w}]`,
    async run(rt, rng) {
      const x = rng.array(r * w, -2, 2);
      const dy = rng.array(r * w);
      const tx = upload(rt, x, [r, w]);
      const tdy = upload(rt, dy, [r, w]);
      const dx = await take(await l2NormalizeBackward(tx, tdy));
      disposeAll(tx, tdy);
      return await finiteDifferenceError({
        inputs: [x],
        upstream: dy,
        grads: [dx],
        forward: ([xs]) => gpuForward(rt, xs, (t) => l2Normalize(t), [r, w]),
      }, rng);
    },
  })),
};

// [8, 400]: Kinetics-400 logits of a batch, big enough to be split under a lowered binding limit.
const SCALE_CASES = [[4, 51], [1, 1], [3, 7], [8, 400]];

const U = UNIT_ROUNDOFF.f32;

/**
 * Relative error bound of the kernel's f32 exp(s) times one more factor: WGSL allows exp 3 + 2|s| ULP
 * (an ULP is at most 2u relative), then a correctly rounded product.
 */
const expTimes = (s: number) => (3 + 2 * Math.abs(s)) * 2 * U + 2 * U;

/**
 * Bound for ds = before + Σ dy·e^s·x: every product carries expTimes, and a sum of n + 1 terms at
 * most n roundings, each relative to the sum of the magnitudes (so a cancelling sum is judged by
 * what cancelled, not by its small result).
 */
function dsBound(before: number, dy: Float64Array, x: Float64Array, s: number): number {
  let mag = 0;
  for (let i = 0; i < x.length; i++) mag += Math.abs(dy[i] * Math.exp(s) * x[i]);
  return expTimes(s) * mag + (x.length + 1) * U * (Math.abs(before) + mag);
}

const logitScaleChecks: KernelCheck[] = [{
  name: "logit_scale",
  dtype: "f32",
  direction: "forward",
  measure: "bound",
  tol: 1,
  cases: SCALE_CASES.map(([b, c]) => ({
    label: `[${b}, ${c}]`,
    async run(rt, rng) {
      const x = rng.array(b * c);
      const s = Math.fround(rng.uniform(0, 4.6));
      const tx = upload(rt, x, [b, c]);
      const ts = upload(rt, [s], [1]);
      const y = await take(await logitScale(tx, ts));
      disposeAll(tx, ts);
      const ref = x.map((v) => Math.exp(s) * v);
      return boundErr(y, ref, ref.map((r) => expTimes(s) * Math.abs(r)));
    },
  })),
}, {
  name: "logit_scale",
  dtype: "f32",
  direction: "backward",
  // ds = before + Σ dy·e^s·x can cancel (seed 49 on [1, 1]: relative error 1.6e-5 from a correct
  // kernel), so each output is held to its own rounding bound.
  measure: "bound",
  tol: 1,
  cases: SCALE_CASES.map(([b, c]) => ({
    label: `[${b}, ${c}] (ds accumulates)`,
    async run(rt, rng) {
      const x = rng.array(b * c);
      const dy = rng.array(b * c);
      const s = Math.fround(rng.uniform(0, 4.6));
      const before = Math.fround(rng.uniform(-1, 1));
      const tx = upload(rt, x, [b, c]);
      const tdy = upload(rt, dy, [b, c]);
      const ts = upload(rt, [s], [1]);
      const tds = upload(rt, [before], [1]);
      const dx = await take(await logitScaleBackward(tx, ts, tdy, tds));
      const ds = await take(tds);
      disposeAll(tx, tdy, ts);
      const e = Math.exp(s);
      const refDs = before + dy.reduce((acc, d, i) => acc + d * e * x[i], 0);
      const refDx = dy.map((d) => e * d);
      return worst(
        boundErr(dx, refDx, refDx.map((r) => expTimes(s) * Math.abs(r))),
        boundErr(ds, [refDs], [dsBound(before, dy, x, s)]),
      );
    },
  })),
}, {
  name: "logit_scale.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: [[4, 9]].map(([b, c]) => ({
    label: `[${b}, ${c}]`,
    async run(rt, rng) {
      const x = rng.array(b * c);
      const dy = rng.array(b * c);
      const s = new Float64Array([Math.fround(rng.uniform(0, 2))]);
      const tx = upload(rt, x, [b, c]);
      const tdy = upload(rt, dy, [b, c]);
      const ts = upload(rt, s, [1]);
      const tds = Tensor.zeros(rt, [1]);
      const dx = await take(await logitScaleBackward(tx, ts, tdy, tds));
      const ds = await take(tds);
      disposeAll(tx, tdy, ts);
      return await finiteDifferenceError(
        {
          inputs: [x, s],
          upstream: dy,
          grads: [dx, ds],
          async forward([xs, ss]) {
            const a = upload(rt, xs, [b, c]);
            const t = upload(rt, ss, [1]);
            const y = await take(await logitScale(a, t));
            disposeAll(a, t);
            return y;
          },
        },
        rng,
        1e-3,
      );
    },
  })),
}];

export const embeddingHeadChecks: KernelCheck[] = [
  ...l2Checks("f32"),
  ...l2Checks("f16"),
  l2Fd,
  ...logitScaleChecks,
];
