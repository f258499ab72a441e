import type { Runtime } from "../../gpu/runtime.ts";
import {
  layerNorm,
  layerNormBackward,
  layerNormBackwardReference,
  layerNormReference,
} from "../../tensor/ops/layernorm.ts";
import {
  expandReference,
  mean,
  meanBackward,
  sum,
  sumBackward,
  sumReference,
} from "../../tensor/ops/reduce.ts";
import {
  softmax,
  softmaxBackward,
  softmaxBackwardReference,
  type SoftmaxOptions,
  softmaxReference,
  type SoftmaxReferenceOptions,
} from "../../tensor/ops/softmax.ts";
import { type DType, numel, type Shape, Tensor } from "../../tensor/tensor.ts";
import { boundErr, type CheckDtype, type KernelCheck, relErr, tolFor, worst } from "../check.ts";
import { layerNormBackwardDxBound, reduceBound } from "../rounding-bounds.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import type { Rng } from "../../random/rng.ts";
import { disposeAll, gpuForward, take, upload } from "../tensors.ts";
import { layerNormResidualChecks } from "./layernorm_residual.ts";

const roundTo = (a: ArrayLike<number>, f16: boolean) =>
  Float64Array.from(a, (v) => f16 ? Math.f16round(v) : Math.fround(v));

// ---- layernorm ----

// rows × width: ViT and text widths, a single element, and row counts above the software chunk (256)
// so the two-stage weight/bias gradient sum runs. Widths divisible by 4 take the vec4 kernels; on the
// software adapter rows of a multiple of 256 bytes also read their inputs through textures (768, 512;
// 128 in f16 only), 68 does not; 8195 rows are more than a texture holds (8192 on lavapipe).
const LN_SIZES = [
  [197, 768],
  [77, 512],
  [1, 1],
  [3, 5],
  [13, 77],
  [600, 77],
  [1576, 3],
  [3, 68],
  [257, 128],
  [8195, 64],
];

function lnInputs(rng: Rng, rows: number, width: number, f16: boolean) {
  // An offset mean and a wide spread, so a kernel that skips the centring or mis-scales shows.
  const x = roundTo(rng.normals(rows * width, 2, f16).map((v) => v + 0.7), f16);
  const w = rng.array(width, 0.5, 1.5, f16);
  const b = rng.array(width, -1, 1, f16);
  return { x, w, b };
}

function layerNormChecks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const dt = dtype as DType;
  const fwd: KernelCheck = {
    name: "layernorm",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: LN_SIZES.map(([rows, width]) => ({
      label: `${rows}×${width}`,
      async run(rt, rng) {
        const { x, w, b } = lnInputs(rng, rows, width, f16);
        const tx = upload(rt, x, [rows, width], dt, "x");
        const tw = upload(rt, w, [width], dt, "weight");
        const tb = upload(rt, b, [width], dt, "bias");
        const out = await layerNorm(tx, tw, tb);
        const y = await take(out.y);
        const mu = await take(out.mean);
        const rstd = await take(out.rstd);
        disposeAll(tx, tw, tb);
        const ref = layerNormReference(x, w, b, width);
        return worst(relErr(y, ref.y), relErr(mu, ref.mean), relErr(rstd, ref.rstd));
      },
    })),
  };
  const bwd: KernelCheck = {
    name: "layernorm",
    dtype,
    direction: "backward",
    // dx against its own rounding bound: a row of nearly equal values has a large rstd that magnifies
    // the mean's rounding (1576×3, seed 5: relative error 1.4e-5 from a correct kernel). dweight and
    // dbias keep their relative error, as a fraction of the dtype's tolerance.
    measure: "bound",
    tol: 1,
    cases: LN_SIZES.map(([rows, width]) => ({
      label: `${rows}×${width} (dx, dweight, dbias)`,
      async run(rt, rng) {
        const { x, w, b } = lnInputs(rng, rows, width, f16);
        const dy = rng.array(rows * width, -1, 1, f16);
        const tx = upload(rt, x, [rows, width], dt, "x");
        const tw = upload(rt, w, [width], dt, "weight");
        const tb = upload(rt, b, [width], dt, "bias");
        const tdy = upload(rt, dy, [rows, width], dt, "dy");
        const f = await layerNorm(tx, tw, tb);
        const g = await layerNormBackward(tx, tw, f.mean, f.rstd, tdy);
        const dx = await take(g.dx);
        const dw = await take(g.dweight);
        const db = await take(g.dbias);
        disposeAll(tx, tw, tb, tdy, f.y, f.mean, f.rstd);
        const ref = layerNormBackwardReference(x, w, dy, width);
        const tol = tolFor(dtype);
        return worst(
          boundErr(dx, ref.dx, layerNormBackwardDxBound(x, w, dy, width, f16)),
          relErr(dw, ref.dweight) / tol,
          relErr(db, ref.dbias) / tol,
        );
      },
    })),
  };
  return [fwd, bwd];
}

/** y of layerNorm on float64 inputs (f32 on the GPU), every tensor disposed. */
async function layerNormForward(
  rt: Runtime,
  [x, w, b]: Float64Array[],
  width: number,
): Promise<Float64Array> {
  const rows = x.length / width;
  const tx = upload(rt, x, [rows, width], "f32", "x");
  const tw = upload(rt, w, [width], "f32", "weight");
  const tb = upload(rt, b, [width], "f32", "bias");
  const out = await layerNorm(tx, tw, tb);
  const y = await take(out.y);
  disposeAll(tx, tw, tb, out.mean, out.rstd);
  return y;
}

/** The analytic formula and the kernel could share a mistake; finite differences cannot. */
const layerNormFd: KernelCheck = {
  name: "layernorm.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: [[13, 77], [3, 5]].map(([rows, width]) => ({
    label: `${rows}×${width} (x, weight, bias)`,
    async run(rt, rng) {
      const { x, w, b } = lnInputs(rng, rows, width, false);
      const dy = rng.array(rows * width, -1, 1);
      const tx = upload(rt, x, [rows, width], "f32", "x");
      const tw = upload(rt, w, [width], "f32", "weight");
      const tb = upload(rt, b, [width], "f32", "bias");
      const tdy = upload(rt, dy, [rows, width], "f32", "dy");
      const f = await layerNorm(tx, tw, tb);
      const g = await layerNormBackward(tx, tw, f.mean, f.rstd, tdy);
      const grads = [await take(g.dx), await take(g.dweight), await take(g.dbias)];
      disposeAll(tx, tw, tb, tdy, f.y, f.mean, f.rstd);
      return await finiteDifferenceError({
        inputs: [x, w, b],
        upstream: dy,
        grads,
        forward: (inputs) => layerNormForward(rt, inputs, width),
      }, rng);
    },
  })),
};

// ---- softmax ----

interface SoftmaxCase {
  shape: number[];
  scale?: number;
  causal?: boolean;
  /** lengths ([B]) or flags ([B, Lk]); `empty` makes batch item 1 fully padded */
  padding?: { kind: "lengths" | "flags"; dtype: "i32" | "u32"; heads: number; empty?: boolean };
  /** rows stored `ldPad` columns longer than `shape` says (the `columns` option, as attention's scores) */
  ldPad?: number;
}

const SOFTMAX_CASES: SoftmaxCase[] = [
  { shape: [197, 197], scale: 0.125 },
  { shape: [4, 77, 77], causal: true },
  { shape: [1, 1] },
  { shape: [13, 3], scale: -0.5 },
  { shape: [2, 3, 3, 3], causal: true, padding: { kind: "lengths", dtype: "i32", heads: 3, empty: true } },
  { shape: [2, 2, 5, 7], causal: true, padding: { kind: "flags", dtype: "u32", heads: 2, empty: true } },
  {
    shape: [2, 12, 77, 77],
    causal: true,
    scale: 0.125,
    padding: { kind: "lengths", dtype: "u32", heads: 12 },
  },
  { shape: [2, 3, 197, 197], scale: 0.125, padding: { kind: "flags", dtype: "i32", heads: 3 } },
  // Rows of a multiple of 256 bytes, which the software adapter reads through textures (f32 and f16, or
  // f32 only), whole and padded, with a partial last texel and every mask.
  { shape: [5, 64] },
  {
    shape: [3, 4, 9, 128],
    causal: true,
    scale: 0.3,
    padding: { kind: "lengths", dtype: "i32", heads: 4, empty: true },
  },
  { shape: [2, 2, 7, 61], ldPad: 3, padding: { kind: "flags", dtype: "u32", heads: 2 } },
  { shape: [2, 3, 17, 113], ldPad: 15, causal: true, scale: 0.125 },
  { shape: [7, 197], ldPad: 59, scale: 0.125 },
  // More rows than a texture holds (8192 on lavapipe): the dispatch is split.
  { shape: [2, 4100, 64], causal: true },
];

/** Rows of `lk` stored at stride `ld`, junk in the padding (a kernel that reads it shows); and back. */
function padRows(a: Float64Array, lk: number, ld: number): Float64Array {
  const out = new Float64Array((a.length / lk) * ld).fill(1e4);
  for (let r = 0; r < a.length / lk; r++) out.set(a.subarray(r * lk, (r + 1) * lk), r * ld);
  return out;
}
function unpadRows(a: Float64Array, lk: number, ld: number): Float64Array {
  const out = new Float64Array((a.length / ld) * lk);
  for (let r = 0; r < a.length / ld; r++) out.set(a.subarray(r * ld, r * ld + lk), r * lk);
  return out;
}

/** The stored shape, the `columns` option and the two conversions of a case. */
function softmaxLayout(c: SoftmaxCase) {
  const lk = c.shape[c.shape.length - 1];
  const ld = lk + (c.ldPad ?? 0);
  return {
    stored: [...c.shape.slice(0, -1), ld],
    columns: c.ldPad ? lk : undefined,
    pad: (a: Float64Array) => c.ldPad ? padRows(a, lk, ld) : a,
    unpad: (a: Float64Array) => c.ldPad ? unpadRows(a, lk, ld) : a,
  };
}

function softmaxLabel(c: SoftmaxCase): string {
  const parts = [`[${c.shape.join(", ")}]`];
  if (c.scale !== undefined) parts.push(`scale ${c.scale}`);
  if (c.causal) parts.push("causal");
  if (c.ldPad) parts.push(`rows stored ${c.ldPad} longer`);
  if (c.padding) {
    parts.push(
      `${c.padding.dtype} ${c.padding.kind} padding${c.padding.empty ? " (a fully padded row)" : ""}`,
    );
  }
  return parts.join(", ");
}

/** Random masks for a case: the values for the reference and the tensor for the kernel. */
function softmaxMasks(rt: Runtime, rng: Rng, c: SoftmaxCase) {
  const gpu: SoftmaxOptions = { scale: c.scale, causal: c.causal };
  const ref: SoftmaxReferenceOptions = { scale: c.scale, causal: c.causal };
  let mask: Tensor | undefined;
  const pad = c.padding;
  if (pad) {
    const lk = c.shape[c.shape.length - 1];
    const batch = numel(c.shape) / (lk * pad.heads * c.shape[c.shape.length - 2]);
    const shape = pad.kind === "lengths" ? [batch] : [batch, lk];
    const values = new Array<number>(numel(shape));
    for (let bi = 0; bi < batch; bi++) {
      const empty = pad.empty && bi === 1;
      if (pad.kind === "lengths") values[bi] = empty ? 0 : 1 + rng.int(lk);
      else {for (let k = 0; k < lk; k++) {
          values[bi * lk + k] = empty ? 0 : rng.next() < 0.7 ? 1 + rng.int(3) : 0;
        }}
    }
    mask = Tensor.from(rt, values, shape, pad.dtype, "keyPadding");
    gpu.keyPadding = { mask, heads: pad.heads };
    ref.keyPadding = { mask: values, shape, heads: pad.heads };
  }
  return { gpu, ref, mask };
}

function softmaxChecks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const dt = dtype as DType;
  const fwd: KernelCheck = {
    name: "softmax",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: SOFTMAX_CASES.map((c) => ({
      label: softmaxLabel(c),
      async run(rt, rng) {
        const x = rng.array(numel(c.shape), -4, 4, f16);
        const { gpu, ref, mask } = softmaxMasks(rt, rng, c);
        const lay = softmaxLayout(c);
        const tx = upload(rt, lay.pad(x), lay.stored, dt, "scores");
        const y = lay.unpad(await take(await softmax(tx, { ...gpu, columns: lay.columns })));
        disposeAll(tx, mask);
        return relErr(y, softmaxReference(x, c.shape, ref));
      },
    })),
  };
  const bwd: KernelCheck = {
    name: "softmax",
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: SOFTMAX_CASES.map((c) => ({
      label: softmaxLabel(c),
      async run(rt, rng) {
        const x = rng.array(numel(c.shape), -4, 4, f16);
        const { gpu, ref, mask } = softmaxMasks(rt, rng, c);
        // The kernel sees y in storage precision; the reference must use the same y.
        const y = roundTo(softmaxReference(x, c.shape, ref), f16);
        const dy = rng.array(numel(c.shape), -1, 1, f16);
        const lay = softmaxLayout(c);
        const ty = upload(rt, lay.pad(y), lay.stored, dt, "y");
        const tdy = upload(rt, lay.pad(dy), lay.stored, dt, "dy");
        const dx = lay.unpad(await take(await softmaxBackward(ty, tdy, { ...gpu, columns: lay.columns })));
        disposeAll(ty, tdy, mask);
        return relErr(dx, softmaxBackwardReference(y, dy, c.shape, ref));
      },
    })),
  };
  return [fwd, bwd];
}

const softmaxFd: KernelCheck = {
  name: "softmax.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: ([
    { shape: [5, 77], scale: 0.7 },
    { shape: [3, 13, 13], causal: true },
    { shape: [2, 2, 6, 9], causal: true, scale: 1.3, padding: { kind: "lengths", dtype: "i32", heads: 2 } },
  ] as SoftmaxCase[]).map((c) => ({
    label: softmaxLabel(c),
    async run(rt, rng) {
      const x = rng.array(numel(c.shape), -3, 3);
      const dy = rng.array(numel(c.shape), -1, 1);
      const { gpu, mask } = softmaxMasks(rt, rng, c);
      const tx = upload(rt, x, c.shape, "f32", "scores");
      const tdy = upload(rt, dy, c.shape, "f32", "dy");
      const ty = await softmax(tx, gpu);
      const dx = await take(await softmaxBackward(ty, tdy, gpu));
      disposeAll(tx, tdy, ty);
      const err = await finiteDifferenceError({
        inputs: [x],
        upstream: dy,
        grads: [dx],
        forward: ([xs]) => gpuForward(rt, xs, (t) => softmax(t, gpu), c.shape),
      }, rng);
      mask?.dispose();
      return err;
    },
  })),
};

// ---- sum / mean ----

// [shape, axis]: mean over frames, bias-gradient column sums, singletons, every axis of an odd
// shape, and an axis longer than the software chunk (1024) so the two-stage sum runs.
const REDUCE_CASES: [Shape, number][] = [
  [[2, 8, 512], 1],
  [[197, 768], 0],
  [[1], 0],
  [[1, 1, 1], 2],
  [[3, 5, 7], 0],
  [[3, 5, 7], -1],
  [[13, 77], 1],
  [[4100, 3], 0],
];

function reduceChecks(op: "sum" | "mean", dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const dt = dtype as DType;
  const isMean = op === "mean";
  const fwd: KernelCheck = {
    name: op,
    dtype,
    direction: "forward",
    // A sum of random signs cancels ([4100, 3] reached 0.80 of the old 1e-5 over 200 seeds): each
    // output against its own rounding bound.
    measure: "bound",
    tol: 1,
    cases: [
      ...REDUCE_CASES.map(([shape, axis]) => ({ shape, axis, out: dt })),
      // f16 in, f32 out: the mixed-precision bias-gradient path.
      ...(f16 ? [{ shape: [1576, 77] as Shape, axis: 0, out: "f32" as DType }] : []),
    ].map(({ shape, axis, out }) => ({
      label: `[${shape.join(", ")}] axis ${axis}${out !== dt ? ` → ${out}` : ""}`,
      async run(rt, rng) {
        const x = rng.array(numel(shape), -1, 1, f16);
        const tx = upload(rt, x, shape, dt, "x");
        const y = await take(await (isMean ? mean : sum)(tx, axis, { dtype: out }));
        tx.dispose();
        const ref = sumReference(x, shape, axis, isMean);
        const absSum = sumReference(x.map(Math.abs), shape, axis);
        const len = shape[axis < 0 ? axis + shape.length : axis];
        return boundErr(y, ref, reduceBound(ref, absSum, len, isMean, out === "f16"));
      },
    })),
  };
  const bwd: KernelCheck = {
    name: op,
    dtype,
    direction: "backward",
    tol: tolFor(dtype),
    cases: REDUCE_CASES.map(([shape, axis]) => ({
      label: `[${shape.join(", ")}] axis ${axis}`,
      async run(rt, rng) {
        const a = axis < 0 ? axis + shape.length : axis;
        const reduced = shape.filter((_, i) => i !== a);
        const dy = rng.array(numel(reduced), -1, 1, f16);
        const tdy = upload(rt, dy, reduced, dt, "dy");
        const dx = await take(await (isMean ? meanBackward : sumBackward)(tdy, shape, axis));
        tdy.dispose();
        return relErr(dx, expandReference(dy, shape, axis, isMean ? 1 / shape[a] : 1));
      },
    })),
  };
  return [fwd, bwd];
}

const meanFd: KernelCheck = {
  name: "mean.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: ([[[3, 5, 7], 1], [[2, 8, 512], 1], [[13, 77], -1]] as [Shape, number][]).map(([shape, axis]) => ({
    label: `[${shape.join(", ")}] axis ${axis}`,
    async run(rt, rng) {
      const x = rng.array(numel(shape), -1, 1);
      const a = axis < 0 ? axis + shape.length : axis;
      const reduced = shape.filter((_, i) => i !== a);
      const dy = rng.array(numel(reduced), -1, 1);
      const tdy = upload(rt, dy, reduced, "f32", "dy");
      const dx = await take(await meanBackward(tdy, shape, axis));
      tdy.dispose();
      return await finiteDifferenceError({
        inputs: [x],
        upstream: dy,
        grads: [dx],
        forward: ([xs]) => gpuForward(rt, xs, (t) => mean(t, axis), shape),
      }, rng);
    },
  })),
};

export const normalizationChecks: KernelCheck[] = [
  ...layerNormChecks("f32"),
  ...layerNormChecks("f16"),
  layerNormFd,
  ...layerNormResidualChecks,
  ...softmaxChecks("f32"),
  ...softmaxChecks("f16"),
  softmaxFd,
  ...reduceChecks("sum", "f32"),
  ...reduceChecks("sum", "f16"),
  ...reduceChecks("mean", "f32"),
  ...reduceChecks("mean", "f16"),
  meanFd,
];
