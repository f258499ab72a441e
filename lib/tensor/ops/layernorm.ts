// LayerNorm over the last dimension (PyTorch semantics: biased variance, eps inside the sqrt).
// x, weight, bias, y, dy and dx share one storage dtype (f32 or f16); the saved statistics and the
// weight/bias gradients are always f32 (statistics are computed in f32, and parameter gradients feed
// f32 master weights under mixed precision).

import { grid1d } from "../../gpu/grid.ts";
import { bindingLimits, elementWindow, splitChunks } from "../../gpu/chunks.ts";
import { BYTES, type DType, expectDtype, expectShape, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks, whole } from "./common.ts";
import { sum } from "./reduce.ts";
import type { Binding, Runtime } from "../../gpu/runtime.ts";

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

export interface LayerNormOptions {
  /** default 1e-5 */
  eps?: number;
  /** force a launch layout (a layerNormCandidates id): tests, the tuner, the bench */
  variant?: string;
}

function rowsOf(x: Tensor, what: string): { rows: number; width: number } {
  if (x.shape.length === 0) {
    throw new Error(`vifi: ${what}: ${x.name} is a scalar; it needs a last dimension`);
  }
  const width = x.shape[x.shape.length - 1];
  if (width === 0) throw new Error(`vifi: ${what}: ${x.name} has an empty last dimension`);
  return { rows: x.size / width, width };
}

/** Launch layout of the row kernels: WG lanes per workgroup, TPR of them per row, vec4 rows or not. */
export interface NormLaunch {
  spec: { WG: number; TPR: number; COOP: boolean; VEC4: boolean; TEX: boolean };
  grid: [number, number];
}

/** The tuning key: the width decides the layout (the row count only the grid). */
export function layerNormShapeClass(width: number, dtype: DType): string {
  return `${dtype} w${width}`;
}

const COOP_LANES = [4, 8, 16, 32, 64, 128, 256];

/**
 * Every launch layout valid for rows of `width` (the heuristic's first): "row" (an invocation per row,
 * storage loads), "row-tex" (the same reading its inputs through textures; rows of 4k elements) and
 * "coop-N" (N lanes per row reducing through workgroup memory). Rows of a multiple of 4 elements are
 * read as vec4s in every layout.
 */
export function layerNormCandidates(rt: Runtime, width: number, dtype: DType): string[] {
  const all = ["row", ...(texRows(width, dtype) ? ["row-tex"] : []), ...COOP_LANES.map((n) => `coop-${n}`)];
  const first = heuristic(rt, width, dtype);
  return [first, ...all.filter((c) => c !== first)];
}

/** Rows that copy into an rgba texture: whole vec4s, 256-byte aligned rows (WebGPU's bytesPerRow rule). */
function texRows(width: number, dtype: DType): boolean {
  return width % 4 === 0 && (width * BYTES[dtype]) % 256 === 0;
}

/**
 * Software adapters: an invocation per row (llvmpipe runs barriers as coroutine switches; 8 or 32 lanes
 * per row measured 1.2–2× slower), inputs through textures when rows are vec4s. GPUs: one row per
 * workgroup of 32–256 lanes, each lane holding ~3 vectors of the row (768 wide: 64 lanes × 3 vec4), so a
 * row's loads coalesce and the reduction is one tree.
 */
function heuristic(rt: Runtime, width: number, dtype: DType): string {
  const vec4 = width % 4 === 0;
  if (rt.gpu.info.software) return texRows(width, dtype) ? "row-tex" : "row";
  const vectors = vec4 ? width / 4 : width;
  return `coop-${Math.min(256, Math.max(32, 2 ** Math.floor(Math.log2(Math.max(1, vectors / 3)))))}`;
}

/** The layout for this call: the forced variant, the tuned one, or the heuristic's. */
export function normLaunch(
  rt: Runtime,
  rows: number,
  width: number,
  dtype: DType,
  variant?: string,
  what = "layerNorm",
): NormLaunch {
  const vec4 = width % 4 === 0;
  const id = variant ?? rt.tuning.get("layernorm", layerNormShapeClass(width, dtype)) ??
    heuristic(rt, width, dtype);
  if (!layerNormCandidates(rt, width, dtype).includes(id)) {
    throw new Error(
      `vifi: ${what}: variant ${JSON.stringify(id)} is not one of ${
        layerNormCandidates(rt, width, dtype).join(", ")
      } for width ${width}`,
    );
  }
  if (id === "row" || id === "row-tex") {
    return {
      spec: { WG: 64, TPR: 1, COOP: false, VEC4: vec4, TEX: id === "row-tex" },
      grid: grid1d(rows, 64),
    };
  }
  const tpr = Number(id.slice(5));
  // Narrow rows share a workgroup (at least 64 lanes keep a GPU's scheduler busy).
  const wg = Math.max(tpr, 64);
  return { spec: { WG: wg, TPR: tpr, COOP: true, VEC4: vec4, TEX: false }, grid: grid1d(rows * tpr, wg) };
}

/** A bind list from (binding slot, binding) pairs, the slots a kernel entry does not use left empty. */
function slots(...pairs: [number, Binding | undefined][]): (Binding | undefined)[] {
  const out: (Binding | undefined)[] = [];
  for (const [slot, b] of pairs) out[slot] = b;
  return Array.from(out);
}

/** A texture's most rows (8192 on lavapipe: a ViT batch of 32 × 8 frames has 50k rows). */
function texRowsMax(rt: Runtime): number {
  return rt.device.limits.maxTextureDimension2D;
}

const ALL = { first: 0, count: 1 };

/**
 * Rows of each tensor copied into an rgba texture (for the software adapter's fast texel fetches), or
 * undefined when one cannot be (rows not a multiple of 256 bytes, too many rows): the caller then binds
 * storage. Undefined tensors give undefined views.
 */
function inputTextures(
  rt: Runtime,
  inputs: [Tensor | undefined, { first: number; count: number }][],
  width: number,
): { views: (GPUTextureView | undefined)[]; release: () => void } | undefined {
  const made: GPUTexture[] = [];
  const release = () => made.forEach((t) => rt.textures.release(t));
  const views: (GPUTextureView | undefined)[] = [];
  for (const [t, c] of inputs) {
    if (!t) {
      views.push(undefined);
      continue;
    }
    const format = t.dtype === "f16" ? "rgba16float" : "rgba32float";
    const tex = c.count <= rt.device.limits.maxTextureDimension2D
      ? rt.rowsTexture(t.buffer, width, c.first, c.count, format)
      : undefined;
    if (!tex) {
      release();
      return undefined;
    }
    made.push(tex.texture);
    views.push(tex.view);
  }
  return { views, release };
}

function checkParams(x: Tensor, weight: Tensor, bias: Tensor | undefined, what: string) {
  const { rows, width } = rowsOf(x, what);
  expectShape(weight, [width], `${what} weight`);
  expectDtype(weight, [x.dtype], `${what} weight`);
  if (bias) {
    expectShape(bias, [width], `${what} bias`);
    expectDtype(bias, [x.dtype], `${what} bias`);
  }
  return { rows, width };
}

/** y = (x − mean)·rstd·weight + bias over the last dimension; also returns mean/rstd for the backward. */
export async function layerNorm(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  opts: LayerNormOptions = {},
): Promise<LayerNormOutput> {
  for (const t of [x, weight, bias]) t.check();
  expectDtype(x, ["f32", "f16"], "layerNorm");
  const { rows, width } = checkParams(x, weight, bias, "layerNorm");
  normLaunch(x.rt, rows, width, x.dtype, opts.variant, "layerNorm"); // a bad variant refused before allocating
  const y = Tensor.empty(x.rt, x.shape, x.dtype, `layerNorm(${x.name})`);
  const { mean, rstd } = await forward(x, undefined, weight, bias, y, undefined, opts);
  return { y, mean, rstd };
}

export interface LayerNormResidualOutput extends LayerNormOutput {
  /** x + r, rounded to x's dtype: the residual stream after the add, and the LayerNorm's input */
  sum: Tensor;
}

/**
 * sum = x + r and y = LayerNorm(sum) in one kernel (a pre-LN block's `x = x + attn(…); h = ln_2(x)`):
 * the add's separate pass over the stream is saved. The statistics are those of the stored sum.
 */
export async function layerNormResidual(
  x: Tensor,
  r: Tensor,
  weight: Tensor,
  bias: Tensor,
  opts: LayerNormOptions = {},
): Promise<LayerNormResidualOutput> {
  for (const t of [x, r, weight, bias]) t.check();
  expectDtype(x, ["f32", "f16"], "layerNormResidual");
  expectShape(r, x.shape, "layerNormResidual r");
  expectDtype(r, [x.dtype], "layerNormResidual r");
  const { rows, width } = checkParams(x, weight, bias, "layerNormResidual");
  normLaunch(x.rt, rows, width, x.dtype, opts.variant, "layerNormResidual");
  const y = Tensor.empty(x.rt, x.shape, x.dtype, `layerNorm(${x.name} + ${r.name})`);
  const sum = Tensor.empty(x.rt, x.shape, x.dtype, `${x.name} + ${r.name}`);
  const { mean, rstd } = await forward(x, r, weight, bias, y, sum, opts);
  return { y, sum, mean, rstd };
}

async function forward(
  x: Tensor,
  r: Tensor | undefined,
  weight: Tensor,
  bias: Tensor,
  y: Tensor,
  sum: Tensor | undefined,
  { eps = 1e-5, variant }: LayerNormOptions,
): Promise<{ mean: Tensor; rstd: Tensor }> {
  const rt = x.rt;
  const what = r ? "layerNormResidual" : "layerNorm";
  const { rows, width } = rowsOf(x, what);
  const statShape = x.shape.slice(0, -1);
  const mean = Tensor.empty(rt, statShape, "f32", `${x.name}.mean`);
  const rstd = Tensor.empty(rt, statShape, "f32", `${x.name}.rstd`);
  const { spec } = normLaunch(rt, rows, width, x.dtype, variant, what);
  const base = { ...dtypeSpec(x.dtype), ...spec, RESIDUAL: !!r };
  const pipe = await rt.pipeline("layernorm.wgsl", "forward", { ...base, TEX: false });
  const texPipe = spec.TEX ? await rt.pipeline("layernorm.wgsl", "forward", base) : undefined;
  const [w, b] = [whole(weight, what), whole(bias, what)];
  const parts: [Tensor, number][] = [[x, width], [y, width], [mean, 1], [rstd, 1]];
  if (r && sum) parts.push([r, width], [sum, width]);
  const label = r ? "layernorm_residual" : "layernorm";
  for (const c of splitChunks(tensorRowChunks(what, rows, parts), texPipe ? texRowsMax(rt) : 0)) {
    const u = rt.uniform(params(c.count, width, { f: eps }, 0, 0));
    const [bx, by, bm, br, bres, bsum] = parts.map(([t, e]) => rowWindow(t, c, e));
    const grid = normLaunch(rt, c.count, width, x.dtype, variant, what).grid;
    // x, r, weight, bias as textures [16, 17, 18, 19] (the storage slots 1, 13, 2, 3 then unused).
    const tex = texPipe && inputTextures(rt, [[x, c], [r, c], [weight, ALL], [bias, ALL]], width);
    if (tex) {
      const bindings = slots(
        [0, u],
        [4, by],
        [5, bm],
        [6, br],
        [14, bsum],
        [16, tex.views[0]],
        [
          17,
          tex.views[1],
        ],
        [18, tex.views[2]],
        [19, tex.views[3]],
      );
      rt.dispatch(texPipe, bindings, grid, { label });
      tex.release();
    } else {
      const bindings = slots([0, u], [1, bx], [2, w], [3, b], [4, by], [5, bm], [6, br], [13, bres], [
        14,
        bsum,
      ]);
      rt.dispatch(pipe, bindings, grid, { label });
    }
  }
  return { mean, rstd };
}

/** Gradients of layerNorm from its input x, weight, the saved mean/rstd and the upstream dy. */
export async function layerNormBackward(
  x: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
  opts: { variant?: string } = {},
): Promise<LayerNormGrads> {
  return await backward(x, weight, mean, rstd, dy, undefined, "layerNormBackward", opts.variant);
}

/**
 * Gradients of layerNormResidual from the saved sum, mean/rstd, the upstream dy of y and dsum, the
 * gradient reaching the sum from the rest of the residual stream (undefined: none). dx is the gradient
 * of both x and r (the add passes it to each unchanged).
 */
export async function layerNormResidualBackward(
  sum: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
  dsum: Tensor | undefined,
  opts: { variant?: string } = {},
): Promise<LayerNormGrads> {
  return await backward(sum, weight, mean, rstd, dy, dsum, "layerNormResidualBackward", opts.variant);
}

async function backward(
  x: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
  dsum: Tensor | undefined,
  what: string,
  variant: string | undefined,
): Promise<LayerNormGrads> {
  const rt = x.rt;
  for (const t of [x, weight, mean, rstd, dy, ...(dsum ? [dsum] : [])]) t.check();
  expectDtype(x, ["f32", "f16"], what);
  const { rows, width } = checkParams(x, weight, undefined, what);
  for (const [t, name] of [[dy, "dy"], ...(dsum ? [[dsum, "dsum"]] : [])] as [Tensor, string][]) {
    expectShape(t, x.shape, `${what} ${name}`);
    expectDtype(t, [x.dtype], `${what} ${name}`);
  }
  const statShape = x.shape.slice(0, -1);
  expectShape(mean, statShape, `${what} mean`);
  expectShape(rstd, statShape, `${what} rstd`);
  expectDtype(mean, ["f32"], `${what} mean`);
  expectDtype(rstd, ["f32"], `${what} rstd`);

  const { spec } = normLaunch(rt, rows, width, x.dtype, variant, what);
  const dx = Tensor.empty(rt, x.shape, x.dtype, `d(${x.name})`);
  const dt = dtypeSpec(x.dtype);
  const base = { ...dt, ...spec, RESIDUAL: !!dsum };
  const pipe = await rt.pipeline("layernorm.wgsl", "backward", { ...base, TEX: false });
  const texPipe = spec.TEX ? await rt.pipeline("layernorm.wgsl", "backward", base) : undefined;
  const w = whole(weight, what);
  const parts: [Tensor, number][] = [[x, width], [dy, width], [mean, 1], [rstd, 1], [dx, width]];
  if (dsum) parts.push([dsum, width]);
  for (const c of splitChunks(tensorRowChunks(what, rows, parts), texPipe ? texRowsMax(rt) : 0)) {
    const u = rt.uniform(params(c.count, width, { f: 0 }, 0, 0));
    const [bx, bdy, bm, br, bdx, bds] = parts.map(([t, e]) => rowWindow(t, c, e));
    const grid = normLaunch(rt, c.count, width, x.dtype, variant, what).grid;
    // x, weight, dy, ds as textures [16, 18, 20, 21] (the storage slots 1, 2, 7, 15 then unused).
    const tex = texPipe && inputTextures(rt, [[x, c], [weight, ALL], [dy, c], [dsum, c]], width);
    if (tex) {
      const [vx, vw, vdy, vds] = tex.views;
      const b = slots([0, u], [8, bm], [9, br], [10, bdx], [16, vx], [18, vw], [20, vdy], [21, vds]);
      rt.dispatch(texPipe, b, grid, { label: what });
      tex.release();
    } else {
      const b = slots([0, u], [1, bx], [2, w], [7, bdy], [8, bm], [9, br], [10, bdx], [15, bds]);
      rt.dispatch(pipe, b, grid, { label: what });
    }
  }
  const { dweight, dbias } = await paramGrads(x, mean, rstd, dy, rows, width, spec, what);
  return { dx, dweight, dbias };
}

/** dweight = Σ dy·x̂ and dbias = Σ dy over rows, in two deterministic stages (partials, then their sum). */
async function paramGrads(
  x: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
  rows: number,
  width: number,
  { VEC4: vec4, TEX: tex }: NormLaunch["spec"],
  what: string,
): Promise<{ dweight: Tensor; dbias: Tensor }> {
  const rt = x.rt;
  let chunk = rt.gpu.info.software ? 256 : Math.min(256, Math.max(8, Math.ceil((rows * width) / 65536)));
  // The column sums read whole groups of `chunk` rows per binding.
  const fit = Math.floor(bindingLimits(rt).limit / (width * Math.max(BYTES[x.dtype], 4)));
  if (fit < chunk) chunk = 2 ** Math.max(0, Math.floor(Math.log2(fit)));
  const chunks = Math.max(1, Math.ceil(rows / chunk));
  const single = chunks === 1;
  const dwPart = Tensor.empty(rt, single ? [width] : [chunks, width], "f32", "d(weight)");
  const dbPart = Tensor.empty(rt, single ? [width] : [chunks, width], "f32", "d(bias)");
  // One canonical launch spec: param_grads ignores TPR, so a width-dependent one would only duplicate pipelines.
  const gradSpec = { ...dtypeSpec(x.dtype), WG: 64, TPR: 1, COOP: false, VEC4: vec4, RESIDUAL: false };
  const gradPipe = await rt.pipeline("layernorm.wgsl", "param_grads", { ...gradSpec, TEX: false });
  const texPipe = tex
    ? await rt.pipeline("layernorm.wgsl", "param_grads", { ...gradSpec, TEX: true })
    : undefined;
  // Split over whole partial rows: chunk c of `chunk` input rows makes partial row c.
  const perPartial: [Tensor, number][] = [[x, chunk * width], [dy, chunk * width], [mean, chunk], [
    rstd,
    chunk,
  ]];
  // With textures, partial groups whose rows fit one texture.
  const step = texPipe ? Math.max(1, Math.floor(texRowsMax(rt) / chunk)) : 0;
  for (const pc of splitChunks(tensorRowChunks(what, chunks, perPartial), step)) {
    const first = pc.first * chunk;
    const rc = { first, count: Math.min(rows, (pc.first + pc.count) * chunk) - first };
    const [bx, bdy, bm, br] = perPartial.map(([t]) => rowWindow(t, rc, t === mean || t === rstd ? 1 : width));
    // Partial rows are narrow: windows placed by an element offset rather than at aligned rows.
    const [lo, hi] = [pc.first * width, (pc.first + pc.count) * width];
    const [bdw, part0] = elementWindow(rt, dwPart.buffer, lo, hi, 4);
    const [bdb] = elementWindow(rt, dbPart.buffer, lo, hi, 4);
    const u = rt.uniform(params(rc.count, width, { f: 0 }, chunk, part0));
    const vectors = vec4 ? width / 4 : width;
    const grid = grid1d(pc.count * vectors, 64);
    const label = `${what} param_grads`;
    const t = texPipe && inputTextures(rt, [[x, rc], [dy, rc]], width);
    if (t) {
      const b = slots([0, u], [8, bm], [9, br], [11, bdw], [12, bdb], [16, t.views[0]], [20, t.views[1]]);
      rt.dispatch(texPipe, b, grid, { label });
      t.release();
    } else {
      const b = slots([0, u], [1, bx], [7, bdy], [8, bm], [9, br], [11, bdw], [12, bdb]);
      rt.dispatch(gradPipe, b, grid, { label });
    }
  }
  if (single) return { dweight: dwPart, dbias: dbPart };
  const dweight = await sum(dwPart, 0);
  const dbias = await sum(dbPart, 0);
  dwPart.dispose();
  dbPart.dispose();
  return { dweight, dbias };
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
