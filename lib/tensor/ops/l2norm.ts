// Row L2 normalisation (forward/backward).

import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, expectShape, shapeStr, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks } from "./common.ts";

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
  for (const c of tensorRowChunks("l2Normalize", rows, [[x, width], [y, width]])) {
    const u = x.rt.uniform(params(c.count, width));
    x.rt.dispatch(pipe, [u, rowWindow(x, c, width), rowWindow(y, c, width)], grid1d(c.count, 64), {
      label: "l2norm",
    });
  }
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
  for (const c of tensorRowChunks("l2NormalizeBackward", rows, [[x, width], [dy, width], [dx, width]])) {
    const u = x.rt.uniform(params(c.count, width));
    const b = [u, rowWindow(x, c, width), undefined, rowWindow(dy, c, width), rowWindow(dx, c, width)];
    x.rt.dispatch(pipe, b, grid1d(c.count, 64), { label: "l2norm_bwd" });
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
