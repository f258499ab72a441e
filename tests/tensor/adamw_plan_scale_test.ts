// A compiled AdamW update re-reads its gradient scale on every replay: dynamic loss scaling changes the
// scale after an overflow (halved) or after clean steps (doubled), and a replayed plan must divide by
// the current one, not by the scale it was recorded at.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { adamw, adamwReference } from "../../lib/tensor/ops/adamw.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { Rng } from "../../lib/random/rng.ts";

Deno.test("adamw in a plan: gradScale (a getter) is read at each replay", async () => {
  const rt = await getRuntime();
  const n = 77, lr = 1e-2, eps = 1e-2, weightDecay = 0.01;
  const rng = new Rng(4);
  const p0 = Float32Array.from(rng.normals(n)), g = Float32Array.from(rng.normals(n));
  const zeros = new Float32Array(n);
  const P = Tensor.from(rt, p0, [n], "f32", "param");
  const G = Tensor.from(rt, g, [n], "f32", "grad");
  const M = Tensor.from(rt, zeros, [n], "f32", "m");
  const V = Tensor.from(rt, zeros, [n], "f32", "v");
  let scale = 4;
  const opts = {
    lr,
    step: 1,
    eps,
    weightDecay,
    get gradScale() {
      return 1 / scale;
    },
  };
  rt.beginCapture();
  let plan;
  try {
    await adamw(P, G, M, V, opts);
  } finally {
    plan = rt.endCapture();
  }
  try {
    // back to the start, then replay at another scale; eps is large beside g/1024, so the update
    // depends on the scale (with a tiny eps the first AdamW step is lr·sign(g) at any scale)
    for (const [t, d] of [[P, p0], [M, zeros], [V, zeros]] as const) rt.write(t.buffer, d);
    scale = 1024;
    plan.run();
    const got = (await P.read()) as Float32Array;
    const state = { param: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
    const want = adamwReference(state, g, { lr, step: 1, eps, weightDecay, gradScale: 1 / 1024 });
    const stale = adamwReference(state, g, { lr, step: 1, eps, weightDecay, gradScale: 1 / 4 });
    let worst = 0, apart = 0;
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, Math.abs(got[i] - want.param[i]) / (Math.abs(want.param[i]) + lr));
      apart = Math.max(apart, Math.abs(stale.param[i] - want.param[i]) / (Math.abs(want.param[i]) + lr));
    }
    if (!(apart > 1e-3)) {
      throw new Error(`the two scales give updates only ${apart} apart: the test shows nothing`);
    }
    if (!(worst <= 1e-6)) throw new Error(`replayed update at scale 1024: ${worst} relative from float64`);
  } finally {
    plan.dispose();
    for (const t of [P, G, M, V]) t.dispose();
  }
});
