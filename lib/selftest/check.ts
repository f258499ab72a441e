// The kernel self-check contract shared by `deno task test` and `deno task doctor`: every kernel
// and direction has a check that runs it on random inputs and returns its relative error against a
// float64 CPU reference. Tests run every case; doctor runs the first (small) case of each.

import type { Runtime } from "../gpu/runtime.ts";
import type { Rng } from "../random/rng.ts";

export type CheckDtype = "f32" | "f16" | "i32";

export interface CheckCase {
  /** what is special about this case, e.g. "M=197 K=77 N=3, transB" */
  label: string;
  /** Runs the kernel and returns ‖out − ref‖ / ‖ref‖ (NaN when the output has a non-finite value). */
  run(rt: Runtime, rng: Rng): Promise<number>;
}

export interface KernelCheck {
  name: string;
  dtype: CheckDtype;
  direction: "forward" | "backward" | "update";
  /**
   * What `run` returns: "relative" (default) is ‖out − ref‖ / ‖ref‖ and passes below `tol`; "bound"
   * is boundErr's max |out − ref| / bound over elements, with the bound derived from the
   * computation's own rounding errors, and passes below `tol` = 1.
   */
  measure?: "relative" | "bound";
  /** pass when the returned error < tol */
  tol: number;
  cases: CheckCase[];
}

/** ‖out − ref‖₂ / ‖ref‖₂ over all elements; NaN if `out` has a NaN or ±∞ or the lengths differ. */
export function relErr(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) return NaN;
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i];
    if (!Number.isFinite(o)) return NaN;
    const d = o - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (den === 0) return Math.sqrt(num);
  return Math.sqrt(num / den);
}

/** The worst of several errors (NaN wins, so a poisoned output can never pass). */
export function worst(...errs: number[]): number {
  let w = 0;
  for (const e of errs) {
    if (!(e >= 0)) return NaN;
    w = Math.max(w, e);
  }
  return w;
}

export function tolFor(dtype: CheckDtype, f32 = 1e-5, f16 = 3e-3): number {
  return dtype === "f16" ? f16 : f32;
}

/** Unit roundoff: the largest relative error of one correctly rounded f32 / f16 operation. */
export const UNIT_ROUNDOFF = { f32: 2 ** -24, f16: 2 ** -11 } as const;

/**
 * max_i |out_i − ref_i| / bound_i, for checks whose tolerance is an error bound per element built
 * from the unit roundoff times the magnitudes that entered that element (so an element that is small
 * because of cancellation is judged by the size of what cancelled, not by its own size). Below 1
 * passes. NaN if `out` has a non-finite value or the lengths differ; an element with a zero bound
 * must match exactly.
 */
export function boundErr(out: ArrayLike<number>, ref: ArrayLike<number>, bound: ArrayLike<number>): number {
  if (out.length !== ref.length || bound.length !== ref.length) return NaN;
  let w = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i];
    if (!Number.isFinite(o)) return NaN;
    const d = Math.abs(o - ref[i]);
    if (d === 0) continue;
    w = Math.max(w, bound[i] > 0 ? d / bound[i] : Infinity);
  }
  return w;
}
