// Central finite differences for backward kernels. The GPU forward (f32) is evaluated at x ± εv for
// random directions v; the directional derivative Σ G·(f(x+εv) − f(x−εv)) / 2ε must match Σ_i ⟨∂L/∂x_i, v_i⟩
// computed from the GPU backward with upstream gradient G.

import type { Rng } from "../random/rng.ts";

export interface FdProblem {
  /** The differentiable inputs, as float64 (they are rounded to f32 on upload). */
  inputs: Float64Array[];
  /** GPU forward on the given inputs, returned as float64. */
  forward(inputs: Float64Array[]): Promise<Float64Array>;
  /** Upstream gradient G, same length as the forward output. */
  upstream: Float64Array;
  /** Gradients from the GPU backward kernel(s) at `inputs` with upstream G (one per input). */
  grads: Float64Array[];
}

/**
 * Relative error between finite-difference and analytic directional derivatives over `directions`
 * random directions: ‖fd − an‖ / ‖an‖.
 */
export async function finiteDifferenceError(
  p: FdProblem,
  rng: Rng,
  eps = 1e-2,
  directions = 3,
): Promise<number> {
  const fd: number[] = [];
  const an: number[] = [];
  for (let d = 0; d < directions; d++) {
    const v = p.inputs.map((x) => {
      const dir = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) dir[i] = rng.uniform(-1, 1);
      return dir;
    });
    const shifted = (sign: number) =>
      p.inputs.map((x, k) => x.map((xi, i) => Math.fround(xi + sign * eps * v[k][i])));
    // The shifted inputs were rounded to f32, so the actual step is (x+ − x−), not 2εv exactly;
    // use the realised step in the analytic side.
    const plus = shifted(1);
    const minus = shifted(-1);
    const yp = await p.forward(plus);
    const ym = await p.forward(minus);
    let lp = 0;
    let lm = 0;
    for (let i = 0; i < p.upstream.length; i++) {
      lp += p.upstream[i] * yp[i];
      lm += p.upstream[i] * ym[i];
    }
    fd.push(lp - lm);
    let a = 0;
    p.grads.forEach((g, k) => {
      for (let i = 0; i < g.length; i++) a += g[i] * (plus[k][i] - minus[k][i]);
    });
    an.push(a);
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < fd.length; i++) {
    if (!Number.isFinite(fd[i]) || !Number.isFinite(an[i])) return NaN;
    num += (fd[i] - an[i]) ** 2;
    den += an[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}
