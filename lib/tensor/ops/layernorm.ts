// LayerNorm over the last dimension (PyTorch semantics: biased variance, eps inside the sqrt).
// x, weight, bias, y, dy and dx share one storage dtype (f32 or f16); the saved statistics and the
// weight/bias gradients are always f32 (statistics are computed in f32, and parameter gradients feed
// f32 master weights under mixed precision).

import { grid1d } from "../../gpu/grid.ts";
import { expectDtype, expectShape, Tensor } from "../tensor.ts";
import { dtypeSpec, params } from "./common.ts";
import { rowLaunch, sum } from "./reduce.ts";

export interface LayerNormOutput {
  y: Tensor;
  /** per-row mean, f32, shape x.shape[:-1] */
  mean: Tensor;
  /** per-row 1/sqrt(var + eps), f32, shape x.shape[:-1] */
  rstd: Tensor;
}

export interface LayerNormGrads {
  dx: Tensor;
  /** f32 [width] */
  dweight: Tensor;
  /** f32 [width] */
  dbias: Tensor;
}

function rowsOf(x: Tensor, what: string): { rows: number; width: number } {
  if (x.shape.length === 0) {
    throw new Error(`vifi: ${what}: ${x.name} is a scalar; it needs a last dimension`);
  }
  const width = x.shape[x.shape.length - 1];
  if (width === 0) throw new Error(`vifi: ${what}: ${x.name} has an empty last dimension`);
  return { rows: x.size / width, width };
}

/** y = (x − mean)·rstd·weight + bias over the last dimension; also returns mean/rstd for the backward. */
export async function layerNorm(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  opts: { eps?: number } = {},
): Promise<LayerNormOutput> {
  const rt = x.rt;
  for (const t of [x, weight, bias]) t.check();
  expectDtype(x, ["f32", "f16"], "layerNorm");
  const { rows, width } = rowsOf(x, "layerNorm");
  expectShape(weight, [width], "layerNorm weight");
  expectShape(bias, [width], "layerNorm bias");
  expectDtype(weight, [x.dtype], "layerNorm weight");
  expectDtype(bias, [x.dtype], "layerNorm bias");
  const statShape = x.shape.slice(0, -1);
  const y = Tensor.empty(rt, x.shape, x.dtype, `layerNorm(${x.name})`);
  const mean = Tensor.empty(rt, statShape, "f32", `${x.name}.mean`);
  const rstd = Tensor.empty(rt, statShape, "f32", `${x.name}.rstd`);
  const { spec, grid } = rowLaunch(rt, rows, width);
  const pipe = await rt.pipeline("layernorm.wgsl", "forward", { ...dtypeSpec(x.dtype), ...spec });
  const u = rt.uniform(params(rows, width, { f: opts.eps ?? 1e-5 }, 0));
  rt.dispatch(pipe, [u, x.buffer, weight.buffer, bias.buffer, y.buffer, mean.buffer, rstd.buffer], grid, {
    label: "layernorm",
  });
  return { y, mean, rstd };
}

/** Gradients of layerNorm from its input x, weight, the saved mean/rstd and the upstream dy. */
export async function layerNormBackward(
  x: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
): Promise<LayerNormGrads> {
  const rt = x.rt;
  for (const t of [x, weight, mean, rstd, dy]) t.check();
  expectDtype(x, ["f32", "f16"], "layerNormBackward");
  const { rows, width } = rowsOf(x, "layerNormBackward");
  expectShape(weight, [width], "layerNormBackward weight");
  expectDtype(weight, [x.dtype], "layerNormBackward weight");
  expectShape(dy, x.shape, "layerNormBackward dy");
  expectDtype(dy, [x.dtype], "layerNormBackward dy");
  const statShape = x.shape.slice(0, -1);
  expectShape(mean, statShape, "layerNormBackward mean");
  expectShape(rstd, statShape, "layerNormBackward rstd");
  expectDtype(mean, ["f32"], "layerNormBackward mean");
  expectDtype(rstd, ["f32"], "layerNormBackward rstd");

  const dx = Tensor.empty(rt, x.shape, x.dtype, `d(${x.name})`);
  const { spec, grid } = rowLaunch(rt, rows, width);
  const dt = dtypeSpec(x.dtype);
  const pipe = await rt.pipeline("layernorm.wgsl", "backward", { ...dt, ...spec });
  const chunk = rt.gpu.info.software ? 256 : Math.min(256, Math.max(8, Math.ceil((rows * width) / 65536)));
  const u = rt.uniform(params(rows, width, { f: 0 }, chunk));
  rt.dispatch(
    pipe,
    [
      u,
      x.buffer,
      weight.buffer,
      undefined,
      undefined,
      undefined,
      undefined,
      dy.buffer,
      mean.buffer,
      rstd.buffer,
      dx.buffer,
    ],
    grid,
    { label: "layernorm_bwd" },
  );

  // Column sums in two deterministic stages: per-chunk partials here, then a sum over the chunks.
  const chunks = Math.max(1, Math.ceil(rows / chunk));
  const single = chunks === 1;
  const dwPart = Tensor.empty(rt, single ? [width] : [chunks, width], "f32", `d(${weight.name})`);
  const dbPart = Tensor.empty(rt, single ? [width] : [chunks, width], "f32", "d(bias)");
  // One canonical launch spec: param_grads ignores TPR, so a width-dependent one would only duplicate pipelines.
  const gradPipe = await rt.pipeline("layernorm.wgsl", "param_grads", { ...dt, WG: 64, TPR: 1, COOP: false });
  rt.dispatch(
    gradPipe,
    [
      u,
      x.buffer,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      dy.buffer,
      mean.buffer,
      rstd.buffer,
      undefined,
      dwPart.buffer,
      dbPart.buffer,
    ],
    grid1d(chunks * width, 64),
    { label: "layernorm_param_grads" },
  );
  if (single) return { dx, dweight: dwPart, dbias: dbPart };
  const dweight = await sum(dwPart, 0);
  const dbias = await sum(dbPart, 0);
  dwPart.dispose();
  dbPart.dispose();
  return { dx, dweight, dbias };
}

// ---- float64 references ----

export function layerNormReference(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  width: number,
  eps = 1e-5,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const rows = x.length / width;
  const y = new Float64Array(x.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < width; c++) s += x[r * width + c];
    const mu = s / width;
    let q = 0;
    for (let c = 0; c < width; c++) q += (x[r * width + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(q / width + eps);
    for (let c = 0; c < width; c++) y[r * width + c] = (x[r * width + c] - mu) * rs * weight[c] + bias[c];
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

export function layerNormBackwardReference(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  dy: ArrayLike<number>,
  width: number,
  eps = 1e-5,
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const rows = x.length / width;
  const { mean, rstd } = layerNormReference(x, weight, new Float64Array(width), width, eps);
  const dx = new Float64Array(x.length);
  const dweight = new Float64Array(width);
  const dbias = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < width; c++) {
      const i = r * width + c;
      const xh = (x[i] - mean[r]) * rstd[r];
      const g = dy[i] * weight[c];
      sg += g;
      sgx += g * xh;
      dweight[c] += dy[i] * xh;
      dbias[c] += dy[i];
    }
    for (let c = 0; c < width; c++) {
      const i = r * width + c;
      const xh = (x[i] - mean[r]) * rstd[r];
      dx[i] = rstd[r] * (dy[i] * weight[c] - sg / width - xh * sgx / width);
    }
  }
  return { dx, dweight, dbias };
}
