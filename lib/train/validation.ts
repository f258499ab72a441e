// Evaluating the model's current weights: one evaluation of the experiment with given test views, and
// the validation at an epoch's end (the first evaluation, every SAVE_FREQ epochs and at the last
// one), which keeps track of the best epoch.

import type { ResolvedEval } from "../dsl/types.ts";
import { type EvalResult, evaluate } from "./evaluator.ts";
import { evaluationItems, evaluationLoader } from "./run-data.ts";
import type { TrainingRun } from "./run-state.ts";

/** Evaluation `e` on `clips` × `crops` views of each of its videos. */
export async function evaluateOn(
  run: TrainingRun,
  e: ResolvedEval,
  clips: number,
  crops: number,
): Promise<EvalResult> {
  const classes = await run.classSets.forEval(e);
  const items = await evaluationItems(run.exp, e, classes);
  // data-parallel: each rank scores its shard; the counts are summed so every rank has the result
  const loader = evaluationLoader(run.exp, e, items, clips, crops, run.world);
  try {
    return await evaluate(run.model, loader, {
      tokens: classes.tokens,
      classNames: classes.names,
      views: clips * crops,
      world: run.world,
    });
  } finally {
    loader.close();
  }
}

/** Whether epoch `epoch` ends with a validation: every `saveFreq` epochs and the last, if there is one. */
export function validationDue(run: TrainingRun, epoch: number, last: boolean): boolean {
  return run.exp.evals.length > 0 && (epoch % run.exp.train!.saveFreq === 0 || last);
}

export interface Validation {
  result: EvalResult;
  /** better than every validation before it (the run's best is now this epoch) */
  improved: boolean;
}

/** Validates epoch `epoch` with the first evaluation's views, logs it, and moves the best on. */
export async function validateEpoch(
  run: TrainingRun,
  epoch: number,
  meanLoss: number,
  last: boolean,
): Promise<Validation> {
  const v = run.exp.evals[0];
  const r = await evaluateOn(run, v, v.clips, v.crops);
  if (last) run.lastValidation = r;
  run.log(
    `epoch ${epoch}: loss ${meanLoss.toFixed(4)}, ${v.name} top-1 ${r.top1.toFixed(1)} top-5 ${
      r.top5.toFixed(1)
    }`,
  );
  const improved = r.top1 > run.bestTop1;
  if (improved) {
    run.bestTop1 = r.top1;
    run.best = { epoch, top1: r.top1 };
  }
  return { result: r, improved };
}
