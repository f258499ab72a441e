// add / sub / mul with a broadcast second operand, scale, and f32↔f16 casts.

import { grid1d } from "../../gpu/grid.ts";
import { type DType, expectDtype, Tensor } from "../tensor.ts";
import { dtypeSpec, params, rowWindow, tensorRowChunks, whole } from "./common.ts";

export type BinaryOp = "add" | "sub" | "mul";

const EXPR: Record<BinaryOp, string> = { add: "x + y", sub: "x - y", mul: "x * y" };

/**
 * out = alpha·a OP beta·b, where b repeats to a's length (b.size must divide a.size): b can be a
 * bias over the last dimension or an embedding added to every item of a batch.
 */
export async function binary(
  op: BinaryOp,
  a: Tensor,
  b: Tensor,
  opts: { alpha?: number; beta?: number; out?: Tensor } = {},
): Promise<Tensor> {
  const rt = a.rt;
  a.check();
  b.check();
  expectDtype(a, ["f32", "f16"], op);
  if (b.dtype !== a.dtype) {
    throw new Error(`vifi: ${op}: ${a.name} is ${a.dtype} but ${b.name} is ${b.dtype}`);
  }
  if (b.size === 0 || a.size % b.size !== 0) {
    throw new Error(
      `vifi: ${op}: ${b.name} (${b.size} elements) does not broadcast over ${a.name} (${a.size})`,
    );
  }
  const out = opts.out ?? Tensor.empty(rt, a.shape, a.dtype, `${op}(${a.name})`);
  if (out.size !== a.size || out.dtype !== a.dtype) {
    throw new Error(`vifi: ${op}: out does not match ${a.name}`);
  }
  const pipe = await rt.pipeline("elementwise.wgsl", "binary", {
    ...dtypeSpec(a.dtype),
    OP: EXPR[op],
    HAS_B: true,
  });
  // Split into chunks of elements that fit a binding; a repeating b is bound whole and each chunk
  // starts at its phase.
  const same = b.size === a.size;
  const bWhole = same ? undefined : whole(b, op);
  const parts: [Tensor, number][] = same ? [[a, 1], [b, 1], [out, 1]] : [[a, 1], [out, 1]];
  for (const c of tensorRowChunks(op, a.size, parts)) {
    const u = rt.uniform(params(
      c.count,
      same ? c.count : b.size,
      { f: opts.alpha ?? 1 },
      { f: opts.beta ?? 1 },
      same ? 0 : c.first % b.size,
    ));
    const bb = bWhole ?? rowWindow(b, c, 1);
    rt.dispatch(pipe, [u, rowWindow(a, c, 1), bb, rowWindow(out, c, 1)], grid1d(c.count), { label: op });
  }
  return out;
}

export const add = (a: Tensor, b: Tensor, out?: Tensor): Promise<Tensor> => binary("add", a, b, { out });
export const sub = (a: Tensor, b: Tensor, out?: Tensor): Promise<Tensor> => binary("sub", a, b, { out });
export const mul = (a: Tensor, b: Tensor, out?: Tensor): Promise<Tensor> => binary("mul", a, b, { out });

/** out = alpha·a (out may be a itself: an in-place scale). */
export async function scale(a: Tensor, alpha: number, out?: Tensor): Promise<Tensor> {
  const rt = a.rt;
  a.check();
  expectDtype(a, ["f32", "f16"], "scale");
  const o = out ?? Tensor.empty(rt, a.shape, a.dtype, `scale(${a.name})`);
  if (o.size !== a.size || o.dtype !== a.dtype) throw new Error(`vifi: scale: out does not match ${a.name}`);
  if (o.buffer === a.buffer) {
    // WebGPU forbids binding one buffer as read-only and writable in one dispatch.
    const tmp = await scale(a, alpha);
    await copyInto(tmp, o);
    tmp.dispose();
    return o;
  }
  const pipe = await rt.pipeline("elementwise.wgsl", "binary", {
    ...dtypeSpec(a.dtype),
    OP: "x",
    HAS_B: false,
  });
  for (const c of tensorRowChunks("scale", a.size, [[a, 1], [o, 1]])) {
    const u = rt.uniform(params(c.count, 1, { f: alpha }, { f: 0 }, 0));
    rt.dispatch(pipe, [u, rowWindow(a, c, 1), undefined, rowWindow(o, c, 1)], grid1d(c.count), {
      label: "scale",
    });
  }
  return o;
}

/** Copy src's bytes into dst (same element count and dtype). */
export function copyInto(src: Tensor, dst: Tensor): Promise<void> {
  if (src.size !== dst.size || src.dtype !== dst.dtype) {
    throw new Error(`vifi: copy: ${src.name} and ${dst.name} differ in size or dtype`);
  }
  const bytes = Math.ceil(src.byteLength / 4) * 4;
  src.rt.copyBuffer(src.buffer, 0, dst.buffer, 0, bytes);
  return Promise.resolve();
}

/** A copy of t in a new buffer (a copy command, no kernel). */
export async function clone(t: Tensor): Promise<Tensor> {
  const out = Tensor.empty(t.rt, t.shape, t.dtype, t.name);
  await copyInto(t, out);
  return out;
}

/** f32 → f16 or f16 → f32 (needs shader-f16). */
export async function cast(a: Tensor, to: DType): Promise<Tensor> {
  const rt = a.rt;
  a.check();
  expectDtype(a, ["f32", "f16"], "cast");
  if (to !== "f32" && to !== "f16") throw new Error(`vifi: cast: cannot cast to ${to}`);
  if (!rt.gpu.features.f16) throw new Error("vifi: cast: this adapter has no working shader-f16");
  const out = Tensor.empty(rt, a.shape, to, `${to}(${a.name})`);
  if (to === a.dtype) {
    await copyInto(a, out);
    return out;
  }
  const pipe = await rt.pipeline("cast.wgsl", "convert", { FROM: a.dtype, TO: to });
  for (const c of tensorRowChunks("cast", a.size, [[a, 1], [out, 1]])) {
    const u = rt.uniform(params(c.count));
    rt.dispatch(pipe, [u, rowWindow(a, c, 1), rowWindow(out, c, 1)], grid1d(c.count), { label: "cast" });
  }
  return out;
}

// ---- float64 references ----

export function binaryReference(
  op: BinaryOp,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  alpha = 1,
  beta = 1,
): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = alpha * a[i];
    const y = beta * b[i % b.length];
    out[i] = op === "add" ? x + y : op === "sub" ? x - y : x * y;
  }
  return out;
}

/** dst += alpha·src in place (src repeats over dst; f16 into f32 and back are allowed). */
export async function addInto(dst: Tensor, src: Tensor, alpha = 1): Promise<Tensor> {
  dst.check();
  src.check();
  expectDtype(dst, ["f32", "f16"], "addInto");
  expectDtype(src, ["f32", "f16"], "addInto");
  if (src.size === 0 || dst.size % src.size !== 0) {
    throw new Error(
      `vifi: addInto: ${src.name} ${src.dtype} (${src.size} elements) does not broadcast into ${dst.name} ${dst.dtype} (${dst.size})`,
    );
  }
  if (src.buffer === dst.buffer) return scale(dst, 1 + alpha, dst);
  const rt = dst.rt;
  const spec = { F16: src.dtype === "f16" || dst.dtype === "f16", TS: src.dtype, TD: dst.dtype };
  const pipe = await rt.pipeline("accumulate.wgsl", "accumulate", spec);
  const same = src.size === dst.size;
  const srcWhole = same ? undefined : whole(src, "addInto");
  const parts: [Tensor, number][] = same ? [[src, 1], [dst, 1]] : [[dst, 1]];
  for (const c of tensorRowChunks("addInto", dst.size, parts)) {
    const u = rt.uniform(
      params(c.count, same ? c.count : src.size, { f: alpha }, same ? 0 : c.first % src.size),
    );
    const s = srcWhole ?? rowWindow(src, c, 1);
    rt.dispatch(pipe, [u, s, rowWindow(dst, c, 1)], grid1d(c.count), { label: "accumulate" });
  }
  return dst;
}
