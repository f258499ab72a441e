// The op registry's row: what the tuner needs to know of an op family to choose its kernels by
// measurement. Adding a tunable op family is one .wgsl (kernels/), one .ts (lib/tensor/ops/, exporting
// `<op>Candidates(rt, shape)`, `<op>ShapeClass(shape)` and a `variant` option that forces a candidate,
// and asking `rt.tuning.get(family, class)` before its heuristic) and one row here: an `OpFamily`
// in lib/tune/registry.ts. The tuner then times every candidate on the shapes a model uses, refuses the
// ones that compute wrong answers, and stores the winner per shape class.

import type { Runtime } from "../gpu/runtime.ts";
import type { Rng } from "../random/rng.ts";

/** A check of one candidate's output: `err` is the error over its bound (passes below 1, NaN fails). */
export interface CheckResult {
  err: number;
  /** what was compared, e.g. "rows 0-7 and 1575 of C against float64" */
  what: string;
}

/** One shape's inputs on the device, ready to run any candidate on them. */
export interface Trial {
  /** Record one run of the op with `candidate` forced (no await of the GPU), freeing what it made. */
  run(candidate: string): Promise<void>;
  /** Run `candidate` once and compare its output with a float64 reference (true values, not another kernel's). */
  check(candidate: string): Promise<CheckResult>;
  dispose(): void;
}

export interface OpFamily<S> {
  /** the family name in rt.tuning (what the op asks for) */
  name: string;
  /** every candidate id that can run `s` on this adapter, the heuristic's choice first */
  candidates(rt: Runtime, s: S): string[];
  /** the tuning key: shapes of one class share their winner */
  shapeClass(s: S): string;
  /** a short human label of the shape, e.g. "1576x768x3072 NT f32" */
  label(s: S): string;
  /** floating-point operations of one run (for GFLOP/s) */
  flop(s: S): number;
  /** upload inputs for `s`, drawn from `rng` */
  prepare(rt: Runtime, s: S, rng: Rng): Trial;
}
