// Helpers for `experiments/*.exp.ts`: a file default-exports one Experiment or an array of them.
// `sweep` exists so that a family of runs (seeds, K, datasets) is written once and every member still
// gets its own name — the name is the key of the output folder and of the results store.

import type { Experiment } from "./types.ts";

/** Identity; it only makes TypeScript check the literal against {@link Experiment}. */
export function defineExperiment(e: Experiment): Experiment {
  return e;
}

export type AxisValue = string | number | boolean;
export type Axes = Record<string, readonly AxisValue[]>;
export type AxisPoint<A extends Axes> = { [K in keyof A]: A[K][number] };

/**
 * Axes a plain Experiment base knows how to apply. Anything else (datasets, K, splits) changes list
 * and label files, so it needs a function base that builds the experiment for a point.
 */
const DIRECT_AXES: Record<string, (e: Experiment, v: AxisValue) => void> = {
  seed: (e, v) => {
    e.seed = num("seed", v);
  },
  variant: (e, v) => {
    e.model.variant = v as Experiment["model"]["variant"];
  },
  frames: (e, v) => {
    if (e.pretrain) e.pretrain.frames = num("frames", v);
    else if (e.data) e.data.frames = num("frames", v);
    else throw new Error(`sweep: axis frames needs a base with a data or pretrain section (${e.name})`);
  },
  lr: (e, v) => {
    (e.pretrain ?? needTrain(e, "lr")).lr = num("lr", v);
  },
  epochs: (e, v) => {
    needTrain(e, "epochs").epochs = num("epochs", v);
  },
  batch: (e, v) => {
    (e.pretrain ?? needTrain(e, "batch")).batch = num("batch", v);
  },
  accumulation: (e, v) => {
    needTrain(e, "accumulation").accumulation = num("accumulation", v);
  },
  effectiveBatch: (e, v) => {
    needTrain(e, "effectiveBatch").effectiveBatch = num("effectiveBatch", v);
  },
  worldSize: (e, v) => {
    needTrain(e, "worldSize").worldSize = num("worldSize", v);
  },
};

function num(axis: string, v: AxisValue): number {
  if (typeof v !== "number") throw new Error(`sweep: axis ${axis} needs numbers, got ${JSON.stringify(v)}`);
  return v;
}

function needTrain(e: Experiment, axis: string) {
  if (!e.train) throw new Error(`sweep: axis ${axis} needs a base with a train section (${e.name})`);
  return e.train;
}

function suffix(key: string, v: AxisValue): string {
  if (typeof v === "boolean") return v ? key : `no-${key}`;
  if (typeof v === "number") return `${key}${v}`;
  return v;
}

function product<A extends Axes>(axes: A): AxisPoint<A>[] {
  let points: Record<string, AxisValue>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    if (values.length === 0) throw new Error(`sweep: axis ${key} has no values`);
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return points as AxisPoint<A>[];
}

/**
 * The Cartesian product of `axes` (first axis outermost). With an Experiment base, only the axes
 * seed, variant, frames, lr, epochs, batch, accumulation, effectiveBatch and worldSize apply (frames, lr
 * and batch set a pretrain section's own), and each
 * member is named `<base>-<suffix>…` (numbers as `<axis><value>`, strings as the value). With a function base, the
 * names it returns are kept when they are already distinct; otherwise the suffixes are appended.
 * Throws if the names still collide.
 */
export function sweep<const A extends Axes>(
  base: Experiment | ((point: AxisPoint<A>) => Experiment),
  axes: A,
): Experiment[] {
  const points = product(axes);
  const tag = (p: AxisPoint<A>) => Object.entries(p).map(([k, v]) => suffix(k, v as AxisValue)).join("-");
  let out: Experiment[];
  if (typeof base === "function") {
    out = points.map((p) => base(p));
    const names = new Set(out.map((e) => e.name));
    if (names.size !== out.length) {
      out = out.map((e, i) => ({ ...e, name: `${e.name}-${tag(points[i])}` }));
    }
  } else {
    for (const key of Object.keys(axes)) {
      if (!DIRECT_AXES[key]) {
        throw new Error(
          `sweep: axis ${JSON.stringify(key)} cannot be applied to a fixed experiment (${base.name}); ` +
            `pass a function (point) => Experiment instead, or use one of ${
              Object.keys(DIRECT_AXES).join(", ")
            }`,
        );
      }
    }
    out = points.map((p) => {
      const e = structuredClone(base);
      for (const [k, v] of Object.entries(p)) DIRECT_AXES[k](e, v as AxisValue);
      e.name = `${base.name}-${tag(p)}`;
      return e;
    });
  }
  const seen = new Set<string>();
  for (const e of out) {
    if (seen.has(e.name)) throw new Error(`sweep: two experiments are named ${JSON.stringify(e.name)}`);
    seen.add(e.name);
  }
  return out;
}
