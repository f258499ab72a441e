// Row L2 normalisation (forward/backward) and the learned logit scale exp(s)·x.

import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, expectShape, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params } from "./common.ts";

function rowsOf(x: Tensor, what: string): [number, number] {
  if (x.shape.length < 1) {
    throw new Error(`vifi: ${what}: ${x.name} ${shapeStr(x.shape)} needs a last dimension`);
  }
  const width = x.shape[x.shape.length - 1];
  return [width === 0 ? 0 : x.size / width, width];
}

/** y = x / ‖x‖ over the last dimension (zero rows stay zero). */
export async function l2Normalize(x: Tensor): Promise<Tensor> {
  x.check();
  expectDtype(x, ["f32", "f16"], "l2Normalize");
  const [rows, width] = rowsOf(x, "l2Normalize");
  const y = Tensor.empty(x.rt, x.shape, x.dtype, `normalize(${x.name})`);
  const pipe = await x.rt.pipeline("l2norm.wgsl", "forward", dtypeSpec(x.dtype));
  x.rt.dispatch(pipe, [x.rt.uniform(params(rows, width)), x.buffer, y.buffer], grid1d(rows, 64), {
    label: "l2norm",
  });
  return y;
}

/** dx of y = x/‖x‖ from the forward input x. */
export async function l2NormalizeBackward(x: Tensor, dy: Tensor): Promise<Tensor> {
  x.check();
  dy.check();
  expectShape(dy, [...x.shape], "l2NormalizeBackward dy");
  expectDtype(dy, [x.dtype], "l2NormalizeBackward dy");
  const [rows, width] = rowsOf(x, "l2NormalizeBackward");
  const dx = Tensor.empty(x.rt, x.shape, x.dtype, `d(${x.name})`);
  const pipe = await x.rt.pipeline("l2norm.wgsl", "backward", dtypeSpec(x.dtype));
  const u = x.rt.uniform(params(rows, width));
  x.rt.dispatch(pipe, [u, x.buffer, undefined, dy.buffer, dx.buffer], grid1d(rows, 64), {
    label: "l2norm_bwd",
  });
  return dx;
}

/** y = exp(s)·x with s a one-element f32 tensor. */
export async function logitScale(x: Tensor, s: Tensor): Promise<Tensor> {
  x.check();
  s.check();
  expectDtype(x, ["f32"], "logitScale");
  if (s.size !== 1 || s.dtype !== "f32") throw new Error(`vifi: logitScale: ${s.name} must be one f32 value`);
  const y = Tensor.empty(x.rt, x.shape, "f32", `scaled(${x.name})`);
  const pipe = await x.rt.pipeline("logit_scale.wgsl", "forward");
  x.rt.dispatch(pipe, [x.rt.uniform(params(x.size)), s.buffer, x.buffer, y.buffer], grid1d(x.size, 64), {
    label: "logit_scale",
  });
  return y;
}

/** dx = exp(s)·dy, and ds += Σ dy·exp(s)·x accumulated into `ds` (a one-element f32 tensor). */
export async function logitScaleBackward(x: Tensor, s: Tensor, dy: Tensor, ds?: Tensor): Promise<Tensor> {
  x.check();
  dy.check();
  expectShape(dy, [...x.shape], "logitScaleBackward dy");
  const rt = x.rt;
  const u = rt.uniform(params(x.size));
  const dx = Tensor.empty(rt, x.shape, "f32", `d(${x.name})`);
  const px = await rt.pipeline("logit_scale.wgsl", "backward_x");
  rt.dispatch(px, [u, s.buffer, undefined, undefined, dy.buffer, dx.buffer], grid1d(x.size, 64), {
    label: "logit_scale_bwd",
  });
  if (ds) {
    if (ds.size !== 1 || ds.dtype !== "f32") {
      throw new Error(`vifi: logitScaleBackward: ${ds.name} must be one f32`);
    }
    const ps = await rt.pipeline("logit_scale.wgsl", "backward_s");
    rt.dispatch(ps, [u, s.buffer, x.buffer, undefined, dy.buffer, undefined, ds.buffer], [1], {
      label: "logit_scale_bwd_s",
    });
  }
  return dx;
}

// ---- float64 references ----

export function l2NormalizeReference(x: ArrayLike<number>, width: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += width) {
    let s = 0;
    for (let c = 0; c < width; c++) s += x[b + c] ** 2;
    const r = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < width; c++) y[b + c] = x[b + c] * r;
  }
  return y;
}

export function l2NormalizeBackwardReference(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  width: number,
): Float64Array {
  const dx = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += width) {
    let s = 0;
    for (let c = 0; c < width; c++) s += x[b + c] ** 2;
    const r = s > 0 ? 1 / Math.sqrt(s) : 0;
    let d = 0;
    for (let c = 0; c < width; c++) d += dy[b + c] * x[b + c] * r;
    for (let c = 0; c < width; c++) dx[b + c] = (dy[b + c] - x[b + c] * r * d) * r;
  }
  return dx;
}
