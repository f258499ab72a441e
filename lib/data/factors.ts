// What transfers, factor by factor: on the synthetic world a class is a colour, a shape and a direction
// ("red circle moving left"), so a wrong prediction may still have the colour right. From an evaluation's
// confusion matrix (rows = true class, columns = predicted) this counts, for each factor, the share of
// videos whose predicted class has the true one's value of that factor.

import { className, COLOURS, MOTIONS, SHAPES } from "./synthetic.ts";

export interface FactorAccuracy {
  /** percent of videos whose predicted class has the right colour / shape / direction */
  colour: number;
  shape: number;
  motion: number;
  videos: number;
}

interface Factors {
  colour: string;
  shape: string;
  motion: string;
}

/** A synthetic class name's factors; anything else is refused naming the class. */
export function factorsOf(name: string): Factors {
  const m = /^(\S+) (\S+) moving (\S+)$/.exec(name);
  const f = m && { colour: m[1], shape: m[2], motion: m[3] };
  if (
    !f || !(COLOURS as readonly string[]).includes(f.colour) ||
    !(SHAPES as readonly string[]).includes(f.shape) ||
    !(MOTIONS as readonly string[]).includes(f.motion) || className(f) !== name
  ) {
    throw new Error(
      `vifi: class ${JSON.stringify(name)} is not a synthetic "<colour> <shape> moving <direction>"`,
    );
  }
  return f;
}

/** Per-factor accuracy of an evaluation over synthetic classes, from its confusion matrix. */
export function factorAccuracy(classNames: string[], confusion: number[][]): FactorAccuracy {
  const facts = classNames.map(factorsOf);
  if (confusion.length !== facts.length || confusion.some((row) => row.length !== facts.length)) {
    throw new Error(`vifi: factorAccuracy: the confusion matrix is not ${facts.length} × ${facts.length}`);
  }
  const right = { colour: 0, shape: 0, motion: 0 };
  let videos = 0;
  confusion.forEach((row, t) =>
    row.forEach((n, p) => {
      videos += n;
      for (const k of ["colour", "shape", "motion"] as const) if (facts[t][k] === facts[p][k]) right[k] += n;
    })
  );
  const pct = (k: number) => (videos ? (100 * k) / videos : 0);
  return { colour: pct(right.colour), shape: pct(right.shape), motion: pct(right.motion), videos };
}
