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
import { DEFAULT_TIMER, timeOnce, timerKind, type TimerOptions, timeRuns } from "./timer.ts";

export interface CandidateResult {
  id: string;
  /** time per run, when it passed its check */
  ms?: number;
  gflops?: number;
  /** the check's error over its bound (< 1 passed) */
  checkErr?: number;
  /** why it was not timed: a wrong answer or an error */
  excluded?: string;
  /** how it was measured when not fully (too slow to win) */
  note?: string;
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
  /** why it was not tuned ("budget": the time was spent on larger shapes) */
  skipped?: string;
}

/** The heuristic's choice is kept unless another candidate is more than this much faster (5 %). */
export const KEEP_HEURISTIC_WITHIN = 0.05;

export interface TuneOptions {
  rng: Rng;
  timer?: TimerOptions;
  /** one line per candidate as it is measured */
  log?: (line: string) => void;
  /** performance.now() after which no further shape class is started */
  deadline?: number;
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
  // the most work first, so that a budget cut leaves the cheapest shapes to the heuristic
  const order = [...classes].sort((a, b) => fam.flop(b[1].rep) - fam.flop(a[1].rep));
  for (const [shapeClass, { rep, uses }] of order) {
    if (o.deadline !== undefined && performance.now() > o.deadline) {
      const r = { ...classResult(rt, fam, shapeClass, rep, uses), skipped: "budget" };
      out.push(r);
      o.log?.(`  ${fam.name} ${shapeClass}: skipped (budget), the heuristic ${r.heuristic} stays`);
      continue;
    }
    out.push(await tuneClass(rt, fam, shapeClass, rep, uses, o));
  }
  return out;
}

/** A shape class's result before anything is measured: its candidates untried, the heuristic's choice named. */
function classResult<S>(
  rt: Runtime,
  fam: OpFamily<S>,
  shapeClass: string,
  rep: S,
  uses: string[],
): ClassResult {
  const ids = fam.candidates(rt, rep);
  return { family: fam.name, shapeClass, shape: fam.label(rep), uses, heuristic: ids[0], candidates: [] };
}

async function tuneClass<S>(
  rt: Runtime,
  fam: OpFamily<S>,
  shapeClass: string,
  rep: S,
  uses: string[],
  o: TuneOptions,
): Promise<ClassResult> {
  const r = classResult(rt, fam, shapeClass, rep, uses);
  const ids = fam.candidates(rt, rep);
  const timer = o.timer ?? DEFAULT_TIMER;
  const trial = fam.prepare(rt, rep, o.rng);
  try {
    for (const id of ids) {
      const c: CandidateResult = { id };
      r.candidates.push(c);
      try {
        // The check runs first: it compiles and warms the kernel (a first run on lavapipe can take
        // several times a warm one), and a wrong candidate is never timed.
        const chk = await trial.check(id);
        c.checkErr = chk.err;
        if (!(chk.err < 1)) {
          c.excluded = `wrong answer: error ${chk.err.toPrecision(3)}× its bound (${chk.what})`;
        } else {
          // one warm run: over 1.5x the best so far it cannot win, and costs no more runs (on lavapipe
          // a tiled GEMM at ViT-B/16 shapes takes 8-60 s a run)
          const first = await timeOnce(rt, () => trial.run(id), timer);
          const best = Math.min(...r.candidates.map((x) => (x.checkErr! < 1 ? x.ms ?? Infinity : Infinity)));
          if (first > 1.5 * best) c.note = `one run, ${(first / best).toFixed(1)}x the best: not timed again`;
          c.ms = c.note ? first : await timeRuns(rt, () => trial.run(id), timer, first);
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
  // only a checked candidate can win
  const timed = r.candidates.filter((c) => c.ms !== undefined && c.checkErr! < 1);
  if (timed.length) {
    const h = r.candidates.find((c) => c.id === r.heuristic);
    let best = timed.reduce((a, b) => (b.ms! < a.ms! ? b : a));
    // Within the noise of a few rounds the heuristic stays: a choice must be measurably faster to
    // replace it, so tuning never trades the known kernel for a coin flip.
    if (h && timed.includes(h) && h.ms! <= best.ms! * (1 + KEEP_HEURISTIC_WITHIN)) best = h;
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
    ? `${c.ms.toFixed(3)} ms  ${c.gflops!.toFixed(1)} GFLOP/s${c.note ? ` (${c.note})` : ""}`
    : `excluded: ${c.excluded}`;
  return `  ${r.family} ${r.shapeClass}  ${c.id}${c.id === r.heuristic ? " (heuristic)" : ""}: ${what}`;
}

export interface ModelTuneOptions extends StepOptions, TuneOptions {
  model: string;
  /** op families to tune (default: every family in the registry) */
  ops?: string[];
  /** start no shape class after this many seconds (the rest keep their heuristic) */
  budgetS?: number;
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
  const deadline = o.budgetS === undefined ? o.deadline : t0 + o.budgetS * 1000;
  for (const fam of FAMILIES) {
    if (!ops.includes(fam.name)) continue;
    const list = (shapes as unknown as Record<string, { shape: unknown; what: string }[]>)[fam.name] ?? [];
    classes.push(...await tuneFamily(rt, fam, list, { ...o, deadline }));
  }
  return {
    model: o.model,
    step,
    timer: timerKind(rt, o.timer?.kind),
    seconds: (performance.now() - t0) / 1000,
    classes,
  };
}
