// The on-device autotuner: for each op family and each shape class a model's training step uses, every
// candidate kernel is checked against a float64 reference on its first run (a wrong or failing one is
// excluded, with the reason printed) and timed (lib/tune/timer.ts); the fastest goes into rt.tuning.
// `deno task tune` (lib/cli/tune.ts) saves the result to the adapter's cache file.

import type { Runtime } from "../gpu/runtime.ts";
import { clipConfig } from "../models/config.ts";
import type { Rng } from "../random/rng.ts";
import type { OpFamily } from "./family.ts";
import { FAMILIES, familyNamed } from "./registry.ts";
import { type StepOptions, trainingStepShapes } from "./shapes.ts";
import { DEFAULT_TIMER, timerKind, type TimerOptions, timeRuns } from "./timer.ts";

export interface CandidateResult {
  id: string;
  /** time per run, when it passed its check */
  ms?: number;
  gflops?: number;
  /** the check's error over its bound (< 1 passed) */
  checkErr?: number;
  /** why it was not timed: a wrong answer or an error */
  excluded?: string;
}

export interface ClassResult {
  family: string;
  shapeClass: string;
  /** the shape that was timed for the class (its largest) */
  shape: string;
  /** the step's uses of this class, e.g. ["vision c_fc fwd", "vision c_proj dX"] */
  uses: string[];
  heuristic: string;
  candidates: CandidateResult[];
  winner?: string;
  /** heuristic's ms / winner's ms (1 when the heuristic won) */
  speedup?: number;
}

export interface TuneOptions {
  rng: Rng;
  timer?: TimerOptions;
  /** one line per candidate as it is measured */
  log?: (line: string) => void;
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/** Tune one family over `shapes` (deduplicated by shape class); sets rt.tuning for every class won. */
export async function tuneFamily<S>(
  rt: Runtime,
  fam: OpFamily<S>,
  shapes: { shape: S; what: string }[],
  o: TuneOptions,
): Promise<ClassResult[]> {
  const classes = new Map<string, { rep: S; uses: string[] }>();
  for (const { shape, what } of shapes) {
    const key = fam.shapeClass(shape);
    const c = classes.get(key);
    if (!c) classes.set(key, { rep: shape, uses: [what] });
    else {
      if (!c.uses.includes(what)) c.uses.push(what);
      if (fam.flop(shape) > fam.flop(c.rep)) c.rep = shape; // time the largest of the class
    }
  }
  const out: ClassResult[] = [];
  for (const [shapeClass, { rep, uses }] of classes) {
    out.push(await tuneClass(rt, fam, shapeClass, rep, uses, o));
  }
  return out;
}

async function tuneClass<S>(
  rt: Runtime,
  fam: OpFamily<S>,
  shapeClass: string,
  rep: S,
  uses: string[],
  o: TuneOptions,
): Promise<ClassResult> {
  const ids = fam.candidates(rt, rep);
  const r: ClassResult = {
    family: fam.name,
    shapeClass,
    shape: fam.label(rep),
    uses,
    heuristic: ids[0],
    candidates: [],
  };
  const trial = fam.prepare(rt, rep, o.rng);
  try {
    for (const id of ids) {
      const c: CandidateResult = { id };
      r.candidates.push(c);
      try {
        const chk = await trial.check(id);
        c.checkErr = chk.err;
        if (!(chk.err < 1)) {
          c.excluded = `wrong answer: error ${chk.err.toPrecision(3)}× its bound (${chk.what})`;
        } else {
          // a candidate 1.5x slower than the best so far on its first run is timed by that run alone
          const best = Math.min(...r.candidates.map((x) => x.ms ?? Infinity));
          c.ms = await timeRuns(rt, () => trial.run(id), o.timer ?? DEFAULT_TIMER, 1.5 * best);
          c.gflops = fam.flop(rep) / c.ms / 1e6;
        }
      } catch (e) {
        c.excluded = `failed: ${oneLine(e)}`;
        await rt.sync().catch(() => {}); // drain what the failed run recorded; its error is reported above
      }
      o.log?.(candidateLine(r, c));
    }
  } finally {
    trial.dispose();
  }
  const timed = r.candidates.filter((c) => c.ms !== undefined);
  if (timed.length) {
    const best = timed.reduce((a, b) => (b.ms! < a.ms! ? b : a));
    const h = r.candidates.find((c) => c.id === r.heuristic);
    r.winner = best.id;
    r.speedup = h?.ms !== undefined ? h.ms / best.ms! : undefined;
    rt.tuning.set(fam.name, shapeClass, best.id, {
      ms: best.ms,
      heuristic: r.heuristic,
      heuristicMs: h?.ms,
      shape: r.shape,
    });
  }
  return r;
}

function candidateLine(r: ClassResult, c: CandidateResult): string {
  const what = c.ms !== undefined
    ? `${c.ms.toFixed(3)} ms  ${c.gflops!.toFixed(1)} GFLOP/s`
    : `excluded: ${c.excluded}`;
  return `  ${r.family} ${r.shapeClass}  ${c.id}${c.id === r.heuristic ? " (heuristic)" : ""}: ${what}`;
}

export interface ModelTuneOptions extends StepOptions, TuneOptions {
  model: string;
  /** op families to tune (default: every family in the registry) */
  ops?: string[];
}

export interface ModelTuneReport {
  model: string;
  step: StepOptions;
  timer: string;
  seconds: number;
  classes: ClassResult[];
}

/** Tune every shape class of `model`'s training step, family by family (matmul first). */
export async function tuneModel(rt: Runtime, o: ModelTuneOptions): Promise<ModelTuneReport> {
  const t0 = performance.now();
  const cfg = clipConfig(o.model);
  const step: StepOptions = { batch: o.batch, frames: o.frames, classes: o.classes, dtype: o.dtype };
  const shapes = trainingStepShapes(cfg, step);
  const ops = o.ops ?? FAMILIES.map((f) => f.name);
  for (const name of ops) familyNamed(name); // refuse an unknown family before measuring anything
  if (o.dtype === "f16" && !rt.gpu.features.f16) {
    throw new Error("vifi: tune: --dtype f16 needs shader-f16, which this adapter lacks");
  }
  const classes: ClassResult[] = [];
  for (const fam of FAMILIES) {
    if (!ops.includes(fam.name)) continue;
    const list = (shapes as unknown as Record<string, { shape: unknown; what: string }[]>)[fam.name] ?? [];
    classes.push(...await tuneFamily(rt, fam, list, o));
  }
  return {
    model: o.model,
    step,
    timer: timerKind(rt, o.timer?.kind),
    seconds: (performance.now() - t0) / 1000,
    classes,
  };
}
