// QuickGELU forward/backward: CLIP's MLP activation x·σ(1.702x).

import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks } from "./common.ts";

export async function quickGelu(x: Tensor): Promise<Tensor> {
  const rt = x.rt;
  x.check();
  expectDtype(x, ["f32", "f16"], "quickGelu");
  const y = Tensor.empty(rt, x.shape, x.dtype, `quickGelu(${x.name})`);
  const pipe = await rt.pipeline("quickgelu.wgsl", "forward", dtypeSpec(x.dtype));
  for (const c of tensorRowChunks("quickGelu", x.size, [[x, 1], [y, 1]])) {
    const u = rt.uniform(params(c.count));
    rt.dispatch(pipe, [u, rowWindow(x, c, 1), rowWindow(y, c, 1)], grid1d(c.count), { label: "quickgelu" });
  }
  return y;
}

/** dx = dy · d/dx[x·σ(1.702x)], from the forward input x. */
export async function quickGeluBackward(x: Tensor, dy: Tensor): Promise<Tensor> {
  const rt = x.rt;
  x.check();
  dy.check();
  if (dy.size !== x.size || dy.dtype !== x.dtype) {
    throw new Error(`vifi: quickGeluBackward: ${dy.name} does not match ${x.name}`);
  }
  const dx = Tensor.empty(rt, x.shape, x.dtype, `d(${x.name})`);
  const pipe = await rt.pipeline("quickgelu.wgsl", "backward", dtypeSpec(x.dtype));
  for (const c of tensorRowChunks("quickGeluBackward", x.size, [[x, 1], [dy, 1], [dx, 1]])) {
    const u = rt.uniform(params(c.count));
    const b = [u, rowWindow(x, c, 1), undefined, rowWindow(dy, c, 1), rowWindow(dx, c, 1)];
    rt.dispatch(pipe, b, grid1d(c.count), { label: "quickgelu_bwd" });
  }
  return dx;
}

export function quickGeluReference(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => v / (1 + Math.exp(-1.702 * v)));
}

export function quickGeluBackwardReference(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const s = 1 / (1 + Math.exp(-1.702 * v));
    return dy[i] * s * (1 + 1.702 * v * (1 - s));
  });
}
