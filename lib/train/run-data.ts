// The data of a run: the class prompts a label file and template become, the training list (checked
// against its labels and against the batch plan) and its augmented drop_last loader, and an
// evaluation's list and test-view loader.

import type { World } from "../dist/mpi.ts";
import { readLabelCsv } from "../data/labels.ts";
import { checkLabels, type ListItem, readList } from "../data/lists.ts";
import { VideoLoader } from "../data/loader.ts";
import { type BatchPlan, batchPlan } from "../dsl/batch-plan.ts";
import type { ResolvedEval, ResolvedExperiment, ResolvedTrain } from "../dsl/types.ts";
import { classTokens } from "../models/load.ts";
import type { ViFiClip } from "../models/vifi.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import { upstreamValidationSubset } from "./evaluator.ts";

export interface ClassSet {
  names: string[];
  tokens: Int32Array;
}

/** The class prompts' token rows; with learned text context, its "X" slots come first (docs/upstream.md §4.1). */
export async function classSet(
  labels: string,
  template: string,
  tok: TextTokenizer,
  model: ViFiClip,
): Promise<ClassSet> {
  const names = await readLabelCsv(labels);
  const slots = model.clip.prompts?.textCtx ?? 0;
  return { names, tokens: classTokens(tok, names, template, model.config.text.context, slots) };
}

/** Class sets by label file and template, read once: every validation and final evaluation share them. */
export class ClassSets {
  private sets = new Map<string, ClassSet>();

  constructor(private readonly tok: TextTokenizer, private readonly model: ViFiClip) {}

  async forEval(e: ResolvedEval): Promise<ClassSet> {
    const key = `${e.labels}\u0000${e.template}`;
    if (!this.sets.has(key)) this.sets.set(key, await classSet(e.labels, e.template, this.tok, this.model));
    return this.sets.get(key)!;
  }
}

export interface TrainingData {
  classes: ClassSet;
  items: ListItem[];
  /** how an epoch of `items` splits into micro-batches, upstream iterations and updates */
  plan: BatchPlan;
}

/**
 * The training list and its classes (prompted with the first evaluation's template), refused when it
 * cannot fill one batch or one update of the effective batch.
 */
export async function trainingData(
  exp: ResolvedExperiment,
  tr: ResolvedTrain,
  tok: TextTokenizer,
  model: ViFiClip,
): Promise<TrainingData> {
  const classes = await classSet(tr.labels, exp.evals[0]?.template ?? exp.model.template, tok, model);
  const items = await readList(tr.list);
  checkLabels(items, classes.names, tr.list);
  if (items.length < tr.batch) {
    throw new Error(
      `vifi: ${exp.name}: the training list ${tr.list} has ${items.length} videos, fewer than one batch of ${tr.batch}`,
    );
  }
  const plan = batchPlan(items.length, tr);
  if (plan.updatesPerEpoch < 1) {
    throw new Error(
      `vifi: ${exp.name}: the training list ${tr.list} has ${items.length} videos, ` +
        `fewer than one update of ${plan.effectiveBatch}`,
    );
  }
  return { classes, items, plan };
}

/**
 * The training loader: augmented, and drop_last as the upstream's; data-parallel, this rank's shard of
 * every epoch (the DistributedSampler's rule).
 */
export function trainingLoader(
  exp: ResolvedExperiment,
  tr: ResolvedTrain,
  items: ListItem[],
  world?: Pick<World, "rank" | "size">,
): VideoLoader {
  return new VideoLoader(items, {
    rank: world?.rank ?? 0,
    worldSize: world?.size ?? 1,
    root: tr.root,
    batch: tr.batch,
    frames: exp.data.frames,
    mode: "train",
    size: exp.model.inputSize,
    colorJitter: tr.colorJitter,
    grayScale: tr.grayScale,
    flip: tr.flip,
    crop: tr.crop,
    seed: exp.seed,
    workers: exp.data.workers,
    onError: exp.data.onError,
    dropLast: true,
  });
}

/** An evaluation's videos, checked against its classes. */
export async function evaluationItems(
  exp: ResolvedExperiment,
  e: ResolvedEval,
  classes: ClassSet,
): Promise<ListItem[]> {
  const all = await readList(e.list);
  checkLabels(all, classes.names, e.list);
  // the upstream's drop_last validation leaves a device's odd video out (exact parity, when asked)
  return e.dropLast ? upstreamValidationSubset(all.length, e.worldSize, exp.seed).map((i) => all[i]) : all;
}

/** An evaluation's loader: `clips` × `crops` test views of every video, none dropped. */
export function evaluationLoader(
  exp: ResolvedExperiment,
  e: ResolvedEval,
  items: ListItem[],
  clips: number,
  crops: number,
  world?: Pick<World, "rank" | "size">,
): VideoLoader {
  return new VideoLoader(items, {
    // unshuffled, so rank r reads videos r, r + W, … (each with its own index's views)
    rank: world?.rank ?? 0,
    worldSize: world?.size ?? 1,
    root: e.root,
    batch: 2,
    frames: exp.data.frames,
    mode: "test",
    clips,
    crops,
    size: exp.model.inputSize,
    seed: exp.seed,
    workers: exp.data.workers,
    onError: exp.data.onError,
    dropLast: false,
  });
}
