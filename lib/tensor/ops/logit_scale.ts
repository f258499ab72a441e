// The learned logit scale of CLIP's head: y = exp(s)·x, with s one trainable f32 value, and its backward.

import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, expectShape, Tensor } from "../tensor.ts";
import { params, rowWindow, tensorRowChunks, whole } from "./common.ts";

/** y = exp(s)·x with s a one-element f32 tensor. */
export async function logitScale(x: Tensor, s: Tensor): Promise<Tensor> {
  x.check();
  s.check();
  expectDtype(x, ["f32"], "logitScale");
  if (s.size !== 1 || s.dtype !== "f32") throw new Error(`vifi: logitScale: ${s.name} must be one f32 value`);
  const y = Tensor.empty(x.rt, x.shape, "f32", `scaled(${x.name})`);
  const pipe = await x.rt.pipeline("logit_scale.wgsl", "forward");
  for (const c of tensorRowChunks("logitScale", x.size, [[x, 1], [y, 1]])) {
    const u = x.rt.uniform(params(c.count));
    x.rt.dispatch(
      pipe,
      [u, whole(s, "logitScale"), rowWindow(x, c, 1), rowWindow(y, c, 1)],
      grid1d(c.count, 64),
      {
        label: "logit_scale",
      },
    );
  }
  return y;
}

/** dx = exp(s)·dy, and ds += Σ dy·exp(s)·x accumulated into `ds` (a one-element f32 tensor). */
export async function logitScaleBackward(x: Tensor, s: Tensor, dy: Tensor, ds?: Tensor): Promise<Tensor> {
  x.check();
  dy.check();
  expectShape(dy, [...x.shape], "logitScaleBackward dy");
  const rt = x.rt;
  const dx = Tensor.empty(rt, x.shape, "f32", `d(${x.name})`);
  const px = await rt.pipeline("logit_scale.wgsl", "backward_x");
  const bs = whole(s, "logitScaleBackward");
  for (const c of tensorRowChunks("logitScaleBackward", x.size, [[dy, 1], [dx, 1]])) {
    const u = rt.uniform(params(c.count));
    rt.dispatch(
      px,
      [u, bs, undefined, undefined, rowWindow(dy, c, 1), rowWindow(dx, c, 1)],
      grid1d(c.count, 64),
      {
        label: "logit_scale_bwd",
      },
    );
  }
  if (ds) {
    if (ds.size !== 1 || ds.dtype !== "f32") {
      throw new Error(`vifi: logitScaleBackward: ${ds.name} must be one f32`);
    }
    const ps = await rt.pipeline("logit_scale.wgsl", "backward_s");
    // ds accumulates, so each chunk adds its own partial sum.
    for (const c of tensorRowChunks("logitScaleBackward", x.size, [[x, 1], [dy, 1]])) {
      const u = rt.uniform(params(c.count));
      const b = [
        u,
        bs,
        rowWindow(x, c, 1),
        undefined,
        rowWindow(dy, c, 1),
        undefined,
        whole(ds, "logitScaleBackward"),
      ];
      rt.dispatch(ps, b, [1], { label: "logit_scale_bwd_s" });
    }
  }
  return dx;
}
