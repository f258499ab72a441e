// LayerNorm over the last dimension (PyTorch semantics: biased variance, eps inside the sqrt).
// x, weight, bias, y, dy and dx share one storage dtype (f32 or f16); the saved statistics and the
// weight/bias gradients are always f32 (statistics are computed in f32, and parameter gradients feed
// f32 master weights under mixed precision).

import { grid1d } from "../../gpu/grid.ts";
import { bindingLimits, elementWindow } from "../../gpu/chunks.ts";
import { BYTES, expectDtype, expectShape, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks, whole } from "./common.ts";
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
  const { spec } = rowLaunch(rt, rows, width);
  const pipe = await rt.pipeline("layernorm.wgsl", "forward", { ...dtypeSpec(x.dtype), ...spec });
  const [w, b] = [whole(weight, "layerNorm"), whole(bias, "layerNorm")];
  const parts: [Tensor, number][] = [[x, width], [y, width], [mean, 1], [rstd, 1]];
  for (const c of tensorRowChunks("layerNorm", rows, parts)) {
    const u = rt.uniform(params(c.count, width, { f: opts.eps ?? 1e-5 }, 0, 0));
    const [bx, by, bm, br] = parts.map(([t, e]) => rowWindow(t, c, e));
    rt.dispatch(pipe, [u, bx, w, b, by, bm, br], rowLaunch(rt, c.count, width).grid, { label: "layernorm" });
  }
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
  const { spec } = rowLaunch(rt, rows, width);
  const dt = dtypeSpec(x.dtype);
  const pipe = await rt.pipeline("layernorm.wgsl", "backward", { ...dt, ...spec });
  let chunk = rt.gpu.info.software ? 256 : Math.min(256, Math.max(8, Math.ceil((rows * width) / 65536)));
  // The column sums below read whole groups of `chunk` rows per binding.
  const fit = Math.floor(bindingLimits(rt).limit / (width * Math.max(BYTES[x.dtype], 4)));
  if (fit < chunk) chunk = 2 ** Math.max(0, Math.floor(Math.log2(fit)));
  const w = whole(weight, "layerNormBackward");
  const parts: [Tensor, number][] = [[x, width], [dy, width], [mean, 1], [rstd, 1], [dx, width]];
  for (const c of tensorRowChunks("layerNormBackward", rows, parts)) {
    const u = rt.uniform(params(c.count, width, { f: 0 }, chunk, 0));
    const [bx, bdy, bm, br, bdx] = parts.map(([t, e]) => rowWindow(t, c, e));
    const b = [u, bx, w, undefined, undefined, undefined, undefined, bdy, bm, br, bdx];
    rt.dispatch(pipe, b, rowLaunch(rt, c.count, width).grid, { label: "layernorm_bwd" });
  }

  // Column sums in two deterministic stages: per-chunk partials here, then a sum over the chunks.
  const chunks = Math.max(1, Math.ceil(rows / chunk));
  const single = chunks === 1;
  const dwPart = Tensor.empty(rt, single ? [width] : [chunks, width], "f32", `d(${weight.name})`);
  const dbPart = Tensor.empty(rt, single ? [width] : [chunks, width], "f32", "d(bias)");
  // One canonical launch spec: param_grads ignores TPR, so a width-dependent one would only duplicate pipelines.
  const gradPipe = await rt.pipeline("layernorm.wgsl", "param_grads", { ...dt, WG: 64, TPR: 1, COOP: false });
  // Split over whole partial rows: chunk c of `chunk` input rows makes partial row c.
  const perPartial: [Tensor, number][] = [[x, chunk * width], [dy, chunk * width], [mean, chunk], [
    rstd,
    chunk,
  ]];
  for (const pc of tensorRowChunks("layerNormBackward", chunks, perPartial)) {
    const first = pc.first * chunk;
    const rc = { first, count: Math.min(rows, (pc.first + pc.count) * chunk) - first };
    const [bx, bdy, bm, br] = perPartial.map(([t]) => rowWindow(t, rc, t === mean || t === rstd ? 1 : width));
    // Partial rows are narrow: windows placed by an element offset rather than at aligned rows.
    const [lo, hi] = [pc.first * width, (pc.first + pc.count) * width];
    const [bdw, part0] = elementWindow(rt, dwPart.buffer, lo, hi, 4);
    const [bdb] = elementWindow(rt, dbPart.buffer, lo, hi, 4);
    const u = rt.uniform(params(rc.count, width, { f: 0 }, chunk, part0));
    const b = [
      u,
      bx,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      bdy,
      bm,
      br,
      undefined,
      bdw,
      bdb,
    ];
    rt.dispatch(gradPipe, b, grid1d(pc.count * width, 64), { label: "layernorm_param_grads" });
  }
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
