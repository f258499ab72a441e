// Glue between float64 test data and GPU tensors.

import type { Runtime } from "../gpu/runtime.ts";
import { type DType, type Shape, Tensor } from "../tensor/tensor.ts";

export function upload(
  rt: Runtime,
  data: ArrayLike<number>,
  shape: Shape,
  dtype: DType = "f32",
  name = "x",
): Tensor {
  return Tensor.from(rt, data, shape, dtype, name);
}

/** Read a tensor back as float64 and dispose it. */
export async function take(t: Tensor): Promise<Float64Array> {
  const v = Float64Array.from(await t.read());
  t.dispose();
  return v;
}

export function disposeAll(...ts: (Tensor | undefined)[]): void {
  for (const t of ts) t?.dispose();
}

/** Run a one-input GPU op on float64 data (f32 on the GPU) and return its output as float64. */
export async function gpuForward(
  rt: Runtime,
  x: ArrayLike<number>,
  op: (t: Tensor) => Promise<Tensor>,
  shape: Shape = [x.length],
): Promise<Float64Array> {
  const t = upload(rt, x, shape);
  const y = await take(await op(t));
  t.dispose();
  return y;
}
