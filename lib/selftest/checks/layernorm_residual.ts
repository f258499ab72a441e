// LayerNorm fused with the residual add (sum = x + r stored, y = LN(sum)), and every launch layout of
// the LayerNorm kernels forced in turn: the one-row-per-invocation layouts the software adapter runs
// and the cooperative ones (lanes of a row reducing through workgroup memory) a GPU runs, so both are
// checked wherever the checks run.

import type { Runtime } from "../../gpu/runtime.ts";
import {
  layerNorm,
  layerNormBackward,
  layerNormBackwardReference,
  layerNormCandidates,
  layerNormReference,
  layerNormResidual,
  layerNormResidualBackward,
} from "../../tensor/ops/layernorm.ts";
import type { DType } from "../../tensor/tensor.ts";
import type { Rng } from "../../random/rng.ts";
import {
  boundErr,
  type CheckDtype,
  type KernelCheck,
  relErr,
  tolFor,
  UNIT_ROUNDOFF,
  worst,
} from "../check.ts";
import { layerNormBackwardDxBound } from "../rounding-bounds.ts";
import { finiteDifferenceError } from "../finite-difference.ts";
import { disposeAll, take, upload } from "../tensors.ts";

const roundTo = (a: ArrayLike<number>, f16: boolean) =>
  Float64Array.from(a, (v) => f16 ? Math.f16round(v) : Math.fround(v));

// ViT and text widths through textures (768, 512; 128 in f16 only), vec4 rows that cannot (68), scalar
// rows (1, 5, 77), a single element, row counts above the software chunk of the weight gradient, and
// more rows than a texture holds (8192 on lavapipe).
const SIZES = [[197, 768], [77, 512], [1, 1], [3, 5], [13, 77], [600, 77], [3, 68], [257, 128], [8195, 64]];

function inputs(rng: Rng, rows: number, width: number, f16: boolean) {
  // x and r offset in opposite directions: a kernel that normalizes x or r alone, not the sum, shows.
  const x = roundTo(rng.normals(rows * width, 2, f16).map((v) => v + 1.5), f16);
  const r = roundTo(rng.normals(rows * width, 1, f16).map((v) => v - 0.8), f16);
  const w = rng.array(width, 0.5, 1.5, f16);
  const b = rng.array(width, -1, 1, f16);
  return { x, r, w, b, sum: roundTo(x.map((v, i) => v + r[i]), f16) };
}

/** Gradient of x (and r) through the add: LN's dx of the stored sum plus the stream's own dsum. */
function residualBackwardReference(
  s: Float64Array,
  w: Float64Array,
  dy: Float64Array,
  dsum: Float64Array,
  n: number,
) {
  const ref = layerNormBackwardReference(s, w, dy, n);
  return { ...ref, dx: ref.dx.map((v, i) => v + dsum[i]) };
}

/** LN's dx bound (computed in f32), the f32 add of dsum, and the output's rounding to f16. */
function residualDxBound(
  s: Float64Array,
  w: Float64Array,
  dy: Float64Array,
  dx: Float64Array,
  n: number,
  f16: boolean,
) {
  return layerNormBackwardDxBound(s, w, dy, n, false).map((e, i) =>
    e + UNIT_ROUNDOFF.f32 * Math.abs(dx[i]) +
    (f16 ? Math.max(UNIT_ROUNDOFF.f16 * Math.abs(dx[i]), 2 ** -24) : 0)
  );
}

function residualChecks(dtype: CheckDtype): KernelCheck[] {
  const f16 = dtype === "f16";
  const dt = dtype as DType;
  const fwd: KernelCheck = {
    name: "layernorm-residual",
    dtype,
    direction: "forward",
    tol: tolFor(dtype),
    cases: SIZES.map(([rows, width]) => ({
      label: `${rows}×${width} (y, sum, mean, rstd)`,
      async run(rt, rng) {
        const v = inputs(rng, rows, width, f16);
        const t = [upload(rt, v.x, [rows, width], dt, "x"), upload(rt, v.r, [rows, width], dt, "r")];
        const [tw, tb] = [upload(rt, v.w, [width], dt, "weight"), upload(rt, v.b, [width], dt, "bias")];
        const out = await layerNormResidual(t[0], t[1], tw, tb);
        const [y, sum, mu, rstd] = [
          await take(out.y),
          await take(out.sum),
          await take(out.mean),
          await take(out.rstd),
        ];
        disposeAll(...t, tw, tb);
        const ref = layerNormReference(v.sum, v.w, v.b, width);
        // The stored sum is the add rounded once: exact, so any difference fails.
        const sumErr = relErr(sum, v.sum) === 0 ? 0 : Infinity;
        return worst(relErr(y, ref.y), relErr(mu, ref.mean), relErr(rstd, ref.rstd), sumErr);
      },
    })),
  };
  const bwd: KernelCheck = {
    name: "layernorm-residual",
    dtype,
    direction: "backward",
    // dx against its rounding bound (as layernorm's); dweight and dbias as a fraction of the tolerance.
    measure: "bound",
    tol: 1,
    cases: SIZES.flatMap(([rows, width]) =>
      [true, false].map((withDsum) => ({
        label: `${rows}×${width} (dx, dweight, dbias${withDsum ? ", with dsum" : ", no dsum"})`,
        async run(rt: Runtime, rng: Rng) {
          const v = inputs(rng, rows, width, f16);
          const dy = rng.array(rows * width, -1, 1, f16);
          const dsum = withDsum ? rng.array(rows * width, -1, 1, f16) : new Float64Array(rows * width);
          const t = [upload(rt, v.x, [rows, width], dt, "x"), upload(rt, v.r, [rows, width], dt, "r")];
          const [tw, tb] = [upload(rt, v.w, [width], dt, "weight"), upload(rt, v.b, [width], dt, "bias")];
          const tdy = upload(rt, dy, [rows, width], dt, "dy");
          const tds = withDsum ? upload(rt, dsum, [rows, width], dt, "dsum") : undefined;
          const f = await layerNormResidual(t[0], t[1], tw, tb);
          const g = await layerNormResidualBackward(f.sum, tw, f.mean, f.rstd, tdy, tds);
          const [dx, dw, db] = [await take(g.dx), await take(g.dweight), await take(g.dbias)];
          disposeAll(...t, tw, tb, tdy, tds, f.y, f.sum, f.mean, f.rstd);
          const ref = residualBackwardReference(v.sum, v.w, dy, dsum, width);
          const tol = tolFor(dtype);
          return worst(
            boundErr(dx, ref.dx, residualDxBound(v.sum, v.w, dy, ref.dx, width, f16)),
            relErr(dw, ref.dweight) / tol,
            relErr(db, ref.dbias) / tol,
          );
        },
      }))
    ),
  };
  return [fwd, bwd];
}

/** y and sum of layerNormResidual on float64 inputs (f32 on the GPU), concatenated. */
async function residualForward(
  rt: Runtime,
  [x, r, w, b]: Float64Array[],
  width: number,
): Promise<Float64Array> {
  const rows = x.length / width;
  const t = [upload(rt, x, [rows, width], "f32", "x"), upload(rt, r, [rows, width], "f32", "r")];
  const [tw, tb] = [upload(rt, w, [width], "f32", "weight"), upload(rt, b, [width], "f32", "bias")];
  const out = await layerNormResidual(t[0], t[1], tw, tb);
  const [y, sum] = [await take(out.y), await take(out.sum)];
  disposeAll(...t, tw, tb, out.mean, out.rstd);
  const both = new Float64Array(2 * x.length);
  both.set(y);
  both.set(sum, x.length);
  return both;
}

/** Both outputs under one loss ⟨dy, y⟩ + ⟨dsum, sum⟩: the backward's sharing of dsum is checked too. */
const residualFd: KernelCheck = {
  name: "layernorm-residual.finite-difference",
  dtype: "f32",
  direction: "backward",
  tol: 1e-3,
  cases: [[13, 77], [3, 5], [5, 68]].map(([rows, width]) => ({
    label: `${rows}×${width} (x, r, weight, bias)`,
    async run(rt, rng) {
      const v = inputs(rng, rows, width, false);
      const [dy, dsum] = [rng.array(rows * width, -1, 1), rng.array(rows * width, -1, 1)];
      const t = [upload(rt, v.x, [rows, width], "f32", "x"), upload(rt, v.r, [rows, width], "f32", "r")];
      const [tw, tb] = [upload(rt, v.w, [width], "f32", "weight"), upload(rt, v.b, [width], "f32", "bias")];
      const [tdy, tds] = [
        upload(rt, dy, [rows, width], "f32", "dy"),
        upload(rt, dsum, [rows, width], "f32", "ds"),
      ];
      const f = await layerNormResidual(t[0], t[1], tw, tb);
      const g = await layerNormResidualBackward(f.sum, tw, f.mean, f.rstd, tdy, tds);
      const dx = await take(g.dx);
      const grads = [dx, dx, await take(g.dweight), await take(g.dbias)];
      disposeAll(...t, tw, tb, tdy, tds, f.y, f.sum, f.mean, f.rstd);
      const upstream = new Float64Array(2 * dy.length);
      upstream.set(dy);
      upstream.set(dsum, dy.length);
      return await finiteDifferenceError({
        inputs: [v.x, v.r, v.w, v.b],
        upstream,
        grads,
        forward: (ins) => residualForward(rt, ins, width),
      }, rng);
    },
  })),
};

// Every layout on this adapter, forward and backward, plain and fused: odd row counts (a partial
// workgroup), widths below, at and above a layout's lanes, scalar and vec4 rows.
const VARIANT_SIZES = [[3, 5], [77, 68], [5, 768], [1, 1], [13, 512]];

/** 0 when a layout that is no candidate ("coop-3": not a power of two) is refused in one line naming it. */
async function refusesBadVariant(rt: Runtime, width: number, dt: DType): Promise<number> {
  const t = upload(rt, new Float64Array(width), [1, width], dt, "x");
  const w = upload(rt, new Float64Array(width), [width], dt, "weight");
  try {
    disposeAll(...Object.values(await layerNorm(t, w, w, { variant: "coop-3" })));
    return Infinity;
  } catch (e) {
    const m = e instanceof Error ? e.message : "";
    return m.includes('variant "coop-3" is not one of') && !m.includes("\n") ? 0 : Infinity;
  } finally {
    disposeAll(t, w);
  }
}

function variantCheck(dtype: CheckDtype): KernelCheck {
  const f16 = dtype === "f16";
  const dt = dtype as DType;
  return {
    name: "layernorm.variants",
    dtype,
    direction: "backward",
    measure: "bound",
    tol: 1,
    cases: VARIANT_SIZES.map(([rows, width]) => ({
      label: `${rows}×${width} (every layout: y, sum, dx, dweight; plain and residual)`,
      async run(rt: Runtime, rng: Rng) {
        const v = inputs(rng, rows, width, f16);
        const dy = rng.array(rows * width, -1, 1, f16);
        const dsum = rng.array(rows * width, -1, 1, f16);
        const tol = tolFor(dtype);
        const refY = layerNormReference(v.x, v.w, v.b, width).y;
        const refYs = layerNormReference(v.sum, v.w, v.b, width).y;
        const refG = layerNormBackwardReference(v.x, v.w, dy, width);
        const refGs = residualBackwardReference(v.sum, v.w, dy, dsum, width);
        const errs: number[] = [await refusesBadVariant(rt, width, dt)];
        for (const variant of layerNormCandidates(rt, width, dt)) {
          const t = [upload(rt, v.x, [rows, width], dt, "x"), upload(rt, v.r, [rows, width], dt, "r")];
          const [tw, tb] = [upload(rt, v.w, [width], dt, "weight"), upload(rt, v.b, [width], dt, "bias")];
          const [tdy, tds] = [
            upload(rt, dy, [rows, width], dt, "dy"),
            upload(rt, dsum, [rows, width], dt, "ds"),
          ];
          const f = await layerNorm(t[0], tw, tb, { variant });
          const g = await layerNormBackward(t[0], tw, f.mean, f.rstd, tdy, { variant });
          const fs = await layerNormResidual(t[0], t[1], tw, tb, { variant });
          const gs = await layerNormResidualBackward(fs.sum, tw, fs.mean, fs.rstd, tdy, tds, { variant });
          const [y, ys, sum] = [await take(f.y), await take(fs.y), await take(fs.sum)];
          const [dx, dxs, dw] = [await take(g.dx), await take(gs.dx), await take(gs.dweight)];
          disposeAll(...t, tw, tb, tdy, tds, f.mean, f.rstd, fs.mean, fs.rstd, g.dweight, g.dbias, gs.dbias);
          errs.push(
            relErr(y, refY) / tol,
            relErr(ys, refYs) / tol,
            relErr(sum, v.sum) === 0 ? 0 : Infinity,
            boundErr(dx, refG.dx, layerNormBackwardDxBound(v.x, v.w, dy, width, f16)),
            boundErr(dxs, refGs.dx, residualDxBound(v.sum, v.w, dy, refGs.dx, width, f16)),
            relErr(dw, refGs.dweight) / tol,
          );
        }
        return worst(...errs);
      },
    })),
  };
}

export const layerNormResidualChecks: KernelCheck[] = [
  ...residualChecks("f32"),
  ...residualChecks("f16"),
  residualFd,
  variantCheck("f32"),
  variantCheck("f16"),
];
