// sum / mean over one axis and their backward (broadcast back over the axis), plus the launch shape
// shared by the row-wise kernels (layernorm, softmax).

import { grid1d } from "../../gpu/grid.ts";
import type { Runtime } from "../../gpu/runtime.ts";
import { bindingLimits, elementWindow, windowElements } from "../../gpu/chunks.ts";
import { BYTES, type DType, expectDtype, numel, type Shape, shapeStr, Tensor } from "../tensor.ts";
import { params, rowWindow, tensorRowChunks, whole } from "./common.ts";

/** Spec and grid for a kernel that gives each row of `width` elements TPR lanes of a WG-wide workgroup. */
export function rowLaunch(
  rt: Runtime,
  rows: number,
  width: number,
): { spec: { WG: number; TPR: number; COOP: boolean }; grid: [number, number] } {
  let wg: number;
  let tpr: number;
  if (rt.gpu.info.software) {
    // llvmpipe runs a workgroup on one CPU thread, 8 invocations per SIMD op, and every barrier is
    // a coroutine switch: one row per invocation (no barrier at all) is the fastest layout there
    // (8 or 32 lanes per row measured 1.2–2× slower; the workgroup size hardly matters).
    wg = 64;
    tpr = 1;
  } else {
    // ~8 elements per lane, at least a warp per row so the row's loads coalesce.
    wg = 256;
    tpr = Math.min(wg, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(width / 8)))));
  }
  return { spec: { WG: wg, TPR: tpr, COOP: tpr > 1 }, grid: grid1d(rows * tpr, wg) };
}

/** Axis elements summed by one invocation; shorter than the axis means a second pass over f32 partials. */
function chunkLength(rt: Runtime, outputs: number, axis: number): number {
  // A serial f32 sum loses ~√n·ε; chunks bound that error on every adapter. GPUs additionally want
  // enough invocations (~64k) to fill the machine when there are few outputs.
  if (rt.gpu.info.software) return 1024;
  return Math.min(1024, Math.max(64, Math.ceil((outputs * axis) / 65536)));
}

function normAxis(shape: Shape, axis: number, what: string, name: string): number {
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(a) || a < 0 || a >= shape.length) {
    throw new Error(`vifi: ${what}: axis ${axis} is out of range for ${name} ${shapeStr(shape)}`);
  }
  return a;
}

function floatSpec(tin: DType, tout: DType) {
  return { F16: tin === "f16" || tout === "f16", TIN: tin, TOUT: tout };
}

async function reduceAxis(x: Tensor, axis: number, mean: boolean, dtype: DType | undefined): Promise<Tensor> {
  const rt = x.rt;
  const what = mean ? "mean" : "sum";
  x.check();
  expectDtype(x, ["f32", "f16"], what);
  const outDtype = dtype ?? x.dtype;
  if (outDtype !== "f32" && outDtype !== "f16") throw new Error(`vifi: ${what}: cannot produce ${outDtype}`);
  const a = normAxis(x.shape, axis, what, x.name);
  const outer = numel(x.shape.slice(0, a));
  const len = x.shape[a];
  const inner = numel(x.shape.slice(a + 1));
  const outShape = [...x.shape.slice(0, a), ...x.shape.slice(a + 1)];
  const alpha = mean ? 1 / len : 1;
  return await sumPass(rt, x, outer, len, inner, alpha, outShape, outDtype, `${what}(${x.name})`);
}

async function sumPass(
  rt: Runtime,
  src: Tensor,
  outer: number,
  len: number,
  inner: number,
  alpha: number,
  outShape: Shape,
  outDtype: DType,
  name: string,
): Promise<Tensor> {
  let chunk = chunkLength(rt, outer * inner, len);
  const room = windowElements(rt, BYTES[src.dtype]);
  if (len * inner > room) {
    // One slice is over the binding limit: partial sums over groups of rows that fit one binding.
    if (inner > room) {
      throw new Error(
        `vifi: ${name}: rows of ${inner * BYTES[src.dtype]} bytes cannot be split into storage bindings of ` +
          `at most ${bindingLimits(rt).limit} bytes (maxStorageBufferBindingSize)`,
      );
    }
    chunk = Math.min(chunk, 2 ** Math.floor(Math.log2(room / inner)));
  }
  if (len > chunk) {
    const chunks = Math.ceil(len / chunk);
    const partial = Tensor.empty(rt, [outer, chunks, inner], "f32", `${name}.partial`);
    await dispatchSum(rt, src, partial, outer, len, inner, chunk, 1);
    const out = await sumPass(rt, partial, outer, chunks, inner, alpha, outShape, outDtype, name);
    partial.dispose();
    return out;
  }
  const out = Tensor.empty(rt, outShape, outDtype, name);
  await dispatchSum(rt, src, out, outer, len, inner, Math.max(len, 1), alpha);
  return out;
}

async function dispatchSum(
  rt: Runtime,
  src: Tensor,
  dst: Tensor,
  outer: number,
  len: number,
  inner: number,
  chunk: number,
  alpha: number,
): Promise<void> {
  const pipe = await rt.pipeline("reduce.wgsl", "sum", floatSpec(src.dtype, dst.dtype));
  const chunks = Math.max(Math.ceil(len / chunk), 1);
  const [es, ed] = [BYTES[src.dtype], BYTES[dst.dtype]];
  const [srcRoom, dstRoom] = [windowElements(rt, es), windowElements(rt, ed)];
  if (inner > dstRoom) {
    throw new Error(
      `vifi: sum: output rows of ${inner * ed} bytes exceed the maxStorageBufferBindingSize of ${
        bindingLimits(rt).limit
      }`,
    );
  }
  // Each dispatch binds windows of src and dst and is told where its data starts inside them.
  const launch = (o: number, outerCount: number, a0: number, a1: number) => {
    const start = (o * len + a0) * inner;
    const groups = Math.max(Math.ceil((a1 - a0) / chunk), 1);
    const at = (o * chunks + a0 / chunk) * inner;
    const srcEnd = start + (outerCount - 1) * len * inner + (a1 - a0) * inner;
    const [s, src0] = elementWindow(rt, src.buffer, start, srcEnd, es);
    const [d, dst0] = elementWindow(rt, dst.buffer, at, at + outerCount * groups * inner, ed);
    const u = rt.uniform(params(outerCount, a1 - a0, inner, chunk, { f: alpha }, dst0, src0, 0));
    rt.dispatch(pipe, [u, s, d], grid1d(outerCount * groups * inner), { label: "reduce_sum" });
  };
  if (len * inner <= srcRoom && chunks * inner <= dstRoom) {
    // Whole [len, inner] slices, as many per dispatch as fit.
    const per = Math.min(
      Math.floor(srcRoom / Math.max(len * inner, 1)),
      Math.floor(dstRoom / (chunks * inner)),
      Math.max(outer, 1),
    );
    for (let o = 0; o < outer; o += per) launch(o, Math.min(per, outer - o), 0, len);
    return;
  }
  // A slice is over the limit (sumPass then chose a chunk that fits): whole chunks of one slice.
  const per = Math.min(Math.floor(srcRoom / (chunk * inner)), Math.floor(dstRoom / inner)) * chunk;
  for (let o = 0; o < outer; o++) {
    for (let a0 = 0; a0 < len; a0 += per) launch(o, 1, a0, Math.min(len, a0 + per));
  }
}

/**
 * Σ over `axis` (negative counts from the end); the axis is removed from the shape. `dtype` lets an
 * f16 tensor be summed straight into f32 (e.g. bias gradients for f32 master weights).
 */
export function sum(x: Tensor, axis: number, opts: { dtype?: DType } = {}): Promise<Tensor> {
  return reduceAxis(x, axis, false, opts.dtype);
}

/** Mean over `axis` (e.g. over frames: [B, T, D] → [B, D] with axis 1). */
export function mean(x: Tensor, axis: number, opts: { dtype?: DType } = {}): Promise<Tensor> {
  return reduceAxis(x, axis, true, opts.dtype);
}

/** out[..., a, ...] = alpha · dy[..., ...] for every a along `axis` of `shape` (dy lacks that axis). */
export async function expandAxis(
  dy: Tensor,
  shape: Shape,
  axis: number,
  alpha = 1,
  what = "expand",
): Promise<Tensor> {
  const rt = dy.rt;
  dy.check();
  expectDtype(dy, ["f32", "f16"], what);
  const a = normAxis(shape, axis, what, "target shape");
  const reduced = [...shape.slice(0, a), ...shape.slice(a + 1)];
  if (dy.shape.length !== reduced.length || dy.shape.some((d, i) => d !== reduced[i])) {
    throw new Error(
      `vifi: ${what}: ${dy.name} is ${shapeStr(dy.shape)} but expanding to ${
        shapeStr(shape)
      } over axis ${a}` +
        ` needs ${shapeStr(reduced)}`,
    );
  }
  const outer = numel(shape.slice(0, a));
  const inner = numel(shape.slice(a + 1));
  const out = Tensor.empty(rt, shape, dy.dtype, `expand(${dy.name})`);
  const pipe = await rt.pipeline("reduce.wgsl", "expand", floatSpec(dy.dtype, dy.dtype));
  // dy is the axis-fold smaller side: bound whole; out in chunks of elements.
  const src = whole(dy, what);
  for (const c of tensorRowChunks(what, out.size, [[out, 1]])) {
    const u = rt.uniform(params(outer, shape[a], inner, 1, { f: alpha }, c.first, 0, c.count));
    rt.dispatch(pipe, [u, src, rowWindow(out, c, 1)], grid1d(c.count), { label: "reduce_expand" });
  }
  return out;
}

/** dx of y = sum(x, axis): dy repeated along the axis. */
export function sumBackward(dy: Tensor, xShape: Shape, axis: number): Promise<Tensor> {
  return expandAxis(dy, xShape, axis, 1, "sumBackward");
}

/** dx of y = mean(x, axis): dy / n repeated along the axis. */
export function meanBackward(dy: Tensor, xShape: Shape, axis: number): Promise<Tensor> {
  const a = normAxis(xShape, axis, "meanBackward", "x shape");
  return expandAxis(dy, xShape, a, 1 / xShape[a], "meanBackward");
}

// ---- float64 references ----

function axisDims(shape: Shape, axis: number): [number, number, number] {
  const a = axis < 0 ? axis + shape.length : axis;
  return [numel(shape.slice(0, a)), shape[a], numel(shape.slice(a + 1))];
}

export function sumReference(x: ArrayLike<number>, shape: Shape, axis: number, mean = false): Float64Array {
  const [outer, len, inner] = axisDims(shape, axis);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < len; a++) {
      for (let i = 0; i < inner; i++) out[o * inner + i] += x[(o * len + a) * inner + i];
    }
  }
  if (mean) { for (let i = 0; i < out.length; i++) out[i] /= len; }
  return out;
}

export function expandReference(dy: ArrayLike<number>, shape: Shape, axis: number, alpha = 1): Float64Array {
  const [outer, len, inner] = axisDims(shape, axis);
  const out = new Float64Array(outer * len * inner);
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < len; a++) {
      for (let i = 0; i < inner; i++) out[(o * len + a) * inner + i] = alpha * dy[o * inner + i];
    }
  }
  return out;
}
