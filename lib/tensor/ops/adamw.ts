// AdamW (PyTorch's torch.optim.AdamW semantics) over flat f32 parameters, plus the non-finite
// gradient test that dynamic loss scaling needs to skip a step.

import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, shapeStr, Tensor } from "../tensor.ts";
import { rowChunks, window } from "../../gpu/chunks.ts";
import { params, rowWindow, tensorRowChunks, whole } from "./common.ts";

export interface AdamWOptions {
  lr: number;
  /** 1-based step count t of this update (bias corrections use β^t) */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** decoupled weight decay (PyTorch's default 0.01) */
  weightDecay?: number;
  /** multiplies the gradient before anything else, e.g. 1 / lossScale */
  gradScale?: number;
  /** also write the updated parameters, rounded, into this f16 tensor (the forward's copy) */
  half?: Tensor;
  /** a u32 [1] flag from nonFinite(): when it is nonzero the step changes nothing */
  skipIf?: Tensor;
}

export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.01, gradScale: 1 };

function sameSize(t: Tensor, n: number, what: string, role: string): void {
  t.check();
  if (t.size !== n) {
    throw new Error(`vifi: ${what}: ${role} ${t.name} ${shapeStr(t.shape)} has ${t.size} elements, not ${n}`);
  }
}

/** One AdamW step in place: param, m and v (f32) are updated; grad is f32 or f16 and only read. */
export async function adamw(
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  opts: AdamWOptions,
): Promise<void> {
  const rt = param.rt;
  const what = `adamw(${param.name})`;
  param.check();
  const n = param.size;
  expectDtype(param, ["f32"], what);
  sameSize(grad, n, what, "grad");
  expectDtype(grad, ["f32", "f16"], what);
  sameSize(m, n, what, "first moment");
  expectDtype(m, ["f32"], what);
  sameSize(v, n, what, "second moment");
  expectDtype(v, ["f32"], what);
  if (opts.half) {
    sameSize(opts.half, n, what, "f16 copy");
    expectDtype(opts.half, ["f16"], what);
    if (!rt.gpu.features.f16) {
      throw new Error(`vifi: ${what}: an f16 copy needs shader-f16, which this adapter lacks`);
    }
  }
  if (grad.dtype === "f16" && !rt.gpu.features.f16) {
    throw new Error(`vifi: ${what}: ${grad.name} is f16 but this adapter has no working shader-f16`);
  }
  if (opts.skipIf) {
    opts.skipIf.check();
    expectDtype(opts.skipIf, ["u32"], what);
    if (opts.skipIf.size !== 1) {
      throw new Error(`vifi: ${what}: skip flag ${opts.skipIf.name} must hold 1 value`);
    }
  }
  const buffers = [param, grad, m, v, opts.half, opts.skipIf].filter((t) => t !== undefined).map((t) =>
    t.buffer
  );
  if (new Set(buffers).size !== buffers.length) {
    throw new Error(`vifi: ${what}: param, grad, m, v, half and skipIf must be distinct buffers`);
  }
  const { beta1, beta2, eps, weightDecay, gradScale } = { ...ADAMW_DEFAULTS, ...withoutUndefined(opts) };
  const { lr, step } = opts;
  if (!Number.isInteger(step) || step < 1) {
    throw new Error(`vifi: ${what}: step must be an integer ≥ 1, not ${step}`);
  }
  for (const [k, x] of Object.entries({ lr, beta1, beta2, eps, weightDecay, gradScale })) {
    if (!Number.isFinite(x)) throw new Error(`vifi: ${what}: ${k} = ${x} is not finite`);
  }
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) {
    throw new Error(`vifi: ${what}: betas (${beta1}, ${beta2}) must lie in [0, 1)`);
  }
  const spec = {
    F16: grad.dtype === "f16" || opts.half !== undefined,
    GRAD_F16: grad.dtype === "f16",
    HALF: opts.half !== undefined,
    SKIP: opts.skipIf !== undefined,
  };
  const pipe = await rt.pipeline("adamw.wgsl", "update", spec);
  // The step-dependent factors in float64 here, so the shader only sees their f32 roundings. Read
  // through a producer: a compiled plan re-evaluates it every step (opts.lr / opts.step may be
  // getters over the optimizer's schedule).
  const skip = opts.skipIf && whole(opts.skipIf, what);
  const flat = [param, grad, m, v, opts.half].filter((t) => t !== undefined);
  for (const c of tensorRowChunks(what, n, flat.map((t) => [t, 1]))) {
    const u = rt.uniformFrom(() =>
      params(
        c.count,
        { f: beta1 },
        { f: 1 - beta1 },
        { f: beta2 },
        { f: 1 - beta2 },
        { f: eps },
        { f: 1 - opts.lr * weightDecay },
        { f: opts.lr / (1 - beta1 ** opts.step) },
        { f: Math.sqrt(1 - beta2 ** opts.step) },
        // read here too: a loss scale that changed since recording (halved on an overflow, doubled
        // after clean steps) must reach a replayed update, not the scale it was recorded at
        { f: opts.gradScale ?? gradScale },
      )
    );
    const w = (t: Tensor) => rowWindow(t, c, 1);
    const half = opts.half && w(opts.half);
    rt.dispatch(pipe, [u, w(param), w(grad), w(m), w(v), half, skip], grid1d(c.count), { label: "adamw" });
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
}

/**
 * Raise `flag` (u32 [1], made zero here when not given) if any gradient holds a NaN or ±Inf. It is
 * only ever set, never cleared, so one flag can gather every gradient of a step; pass it to
 * adamw({ skipIf }) to skip on the GPU, and read it when the loss scale must be adjusted.
 */
export async function nonFinite(grads: Tensor | readonly Tensor[], flag?: Tensor): Promise<Tensor> {
  const list = Array.isArray(grads) ? grads : [grads as Tensor];
  if (list.length === 0) throw new Error("vifi: nonFinite: no gradients given");
  const rt = list[0].rt;
  for (const g of list) {
    g.check();
    expectDtype(g, ["f32", "f16"], "nonFinite");
  }
  if (flag) {
    flag.check();
    expectDtype(flag, ["u32"], "nonFinite");
    if (flag.size !== 1) {
      throw new Error(`vifi: nonFinite: flag ${flag.name} must hold 1 value but has ${shapeStr(flag.shape)}`);
    }
  }
  const f = flag ?? Tensor.zeros(rt, [1], "u32", "nonfinite");
  for (const g of list) {
    const f16 = g.dtype === "f16";
    const pipe = await rt.pipeline("adamw.wgsl", "nonfinite", {
      F16: f16,
      GRAD_F16: f16,
      HALF: false,
      SKIP: false,
    });
    const words = f16 ? Math.ceil(g.size / 2) : g.size;
    const flag = whole(f, "nonFinite");
    // Chunks of 32-bit words of the gradient's bits.
    for (const c of rowChunks(rt, "nonFinite", words, [4])) {
      const n = f16 ? Math.min(g.size - 2 * c.first, 2 * c.count) : c.count;
      // The uniform block is the update's 40-byte Params even though only n is read here.
      const u = rt.uniform(params(n, 0, 0, 0, 0, 0, 0, 0, 0, 0));
      const b = [
        u,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        flag,
        window(g.buffer, 4 * c.first, 4 * c.count),
      ];
      rt.dispatch(pipe, b, grid1d(c.count), { label: "nonfinite" });
    }
  }
  return f;
}

// ---- float64 references ----

export interface AdamWState {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** One AdamW step in float64, exactly as written in torch.optim.AdamW (returns a new state). */
export function adamwReference(
  state: AdamWState,
  grad: ArrayLike<number>,
  opts: Omit<AdamWOptions, "half" | "skipIf">,
): AdamWState {
  const { beta1, beta2, eps, weightDecay, gradScale } = { ...ADAMW_DEFAULTS, ...withoutUndefined(opts) };
  const { lr, step } = opts;
  const n = state.param.length;
  const param = new Float64Array(n);
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  for (let i = 0; i < n; i++) {
    const g = grad[i] * gradScale;
    const p = state.param[i] * (1 - lr * weightDecay);
    m[i] = beta1 * state.m[i] + (1 - beta1) * g;
    v[i] = beta2 * state.v[i] + (1 - beta2) * g * g;
    param[i] = p - (lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
  }
  return { param, m, v };
}

export function nonFiniteReference(...grads: ArrayLike<number>[]): boolean {
  return grads.some((g) => Array.prototype.some.call(g, (x: number) => !Number.isFinite(x)));
}
