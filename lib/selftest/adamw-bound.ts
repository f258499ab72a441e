// The AdamW check's inputs, float64 reference trajectory and error bound. A kernel's f32 result can
// differ from the float64 reference by its rounding errors, and those scale with the magnitudes that
// enter each element, not with the result: p·(1 − lr·wd) and the update can nearly cancel (the new
// parameter 200× smaller than either), and a fixed relative tolerance then fails a correct kernel by
// chance. So every element gets a first-order bound on its accumulated rounding error instead.

import { ADAMW_DEFAULTS, type AdamWOptions, adamwReference, type AdamWState } from "../tensor/ops/adamw.ts";
import { boundErr, UNIT_ROUNDOFF, worst } from "./check.ts";
import type { Rng } from "../random/rng.ts";

export type AdamWStep = Omit<AdamWOptions, "half" | "skipIf">;

const U = UNIT_ROUNDOFF.f32;
// WGSL's f32 accuracy: + − × are correctly rounded (u); x / y is within 2.5 ULP and an ULP is at most
// 2u relative; sqrt is inherited from 1 / inverseSqrt (2 ULP, then a division).
const DIV = 5 * U;
const SQRT = 9 * U;

/** Gradients over ten decades, so both the eps-dominated and the sqrt(v)-dominated regime occur. */
export function adamwGradients(rng: Rng, n: number, f16: boolean): Float64Array {
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = rng.uniform(-1, 1) * 10 ** rng.uniform(f16 ? -6 : -9, 1);
    g[i] = f16 ? Math.f16round(x) : Math.fround(x);
  }
  return g;
}

/** The check's random start state (moments zero at step 1) and one gradient per step. */
export function adamwInputs(
  rng: Rng,
  n: number,
  firstStep: number,
  steps: number,
  f16: boolean,
): { start: AdamWState; grads: Float64Array[] } {
  const start: AdamWState = {
    param: rng.normals(n, 0.02),
    m: firstStep > 1 ? rng.array(n, -1e-3, 1e-3) : new Float64Array(n),
    v: firstStep > 1 ? rng.array(n, 0, 1e-6) : new Float64Array(n),
  };
  const grads = Array.from({ length: steps }, () => adamwGradients(rng, n, f16));
  return { start, grads };
}

/** A float64 state and, per element, a bound on how far an f32 kernel's state can have drifted from it. */
export interface AdamWTrack {
  ref: AdamWState;
  bound: AdamWState;
}

/** A start state uploaded exactly (its values are f32 already): no error yet. */
export function adamwTrackStart(start: AdamWState): AdamWTrack {
  const n = start.param.length;
  return {
    ref: start,
    bound: { param: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) },
  };
}

/**
 * One step of the reference and of the bound, following kernels/adamw.wgsl operation by operation
 * (every uniform constant is rounded to f32 once). First order in u: the bound's own u² terms are
 * far below its size.
 */
export function adamwTrackStep(t: AdamWTrack, grad: ArrayLike<number>, opts: AdamWStep): AdamWTrack {
  const next = adamwReference(t.ref, grad, opts);
  const { beta1, beta2, eps, weightDecay, gradScale } = { ...ADAMW_DEFAULTS, ...defined(opts) };
  const stepSize = opts.lr / (1 - beta1 ** opts.step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** opts.step);
  const decay = 1 - opts.lr * weightDecay;
  const n = t.ref.param.length;
  const bound: AdamWState = { param: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    const g = Math.abs(grad[i] * gradScale);
    const eg = 2 * U * g; // grad_scale rounded, one product
    // m ← β1·m + (1−β1)·g: both constants rounded, two products, one sum.
    const em = beta1 * (t.bound.m[i] + 3 * U * Math.abs(t.ref.m[i])) + (1 - beta1) * (eg + 3 * U * g);
    // v ← β2·v + (1−β2)·g·g: g·g doubles g's relative error and adds a rounding.
    const ev = beta2 * (t.bound.v[i] + 3 * U * t.ref.v[i]) + (1 - beta2) * (2 * g * eg + 4 * U * g * g);
    const s = Math.sqrt(next.v[i]);
    const es = (s > 0 ? Math.min(ev / (2 * s), Math.sqrt(ev)) : Math.sqrt(ev)) + SQRT * s;
    // d = sqrt(v) / sqrt(1 − β2^t) + eps: the constant rounded, a division; eps rounded, a sum.
    const d = s / bc2Sqrt + eps;
    const ed = (es + (DIV + U) * s) / bc2Sqrt + 2 * U * d;
    // update = step_size·m / d: the constant rounded, a product, a division. The m part uses em,
    // built from the magnitudes that entered m, so a cancelled m is judged by what cancelled.
    const upd = stepSize * Math.abs(next.m[i]) / d;
    const eupd = stepSize * em / d + upd * (ed / d + 2 * U + DIV);
    // p ← p·(1 − lr·wd) − update: the constant rounded, a product, a difference.
    const ep = decay * (t.bound.param[i] + 2 * U * Math.abs(t.ref.param[i])) + eupd +
      U * Math.abs(next.param[i]);
    bound.m[i] = em;
    bound.v[i] = ev;
    bound.param[i] = ep;
  }
  return { ref: next, bound };
}

/** f32 → f16 may round either way (1 ULP), and below 2^-14 the f16 spacing is 2^-24. */
export function f16CopyBound(param: ArrayLike<number>, bound: ArrayLike<number>): Float64Array {
  return Float64Array.from(
    param,
    (p, i) => bound[i] + Math.max(2 * UNIT_ROUNDOFF.f16 * Math.abs(p), 2 ** -24),
  );
}

/** The worst error / bound over param, m, v (and the f16 copy when given). */
export function adamwError(
  out: { param: ArrayLike<number>; m: ArrayLike<number>; v: ArrayLike<number>; half?: ArrayLike<number> },
  t: AdamWTrack,
): number {
  const errs = [
    boundErr(out.param, t.ref.param, t.bound.param),
    boundErr(out.m, t.ref.m, t.bound.m),
    boundErr(out.v, t.ref.v, t.bound.v),
  ];
  if (out.half) errs.push(boundErr(out.half, t.ref.param, f16CopyBound(t.ref.param, t.bound.param)));
  return worst(...errs);
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
}
