// The train section of an experiment: its list and labels, the schedule and optimiser, the effective batch
// (batch × accumulation × worldSize, lib/dsl/batch-plan.ts), augmentation, checkpointing, resuming and the
// final multi-view evaluation.

import { batchPlan } from "./batch-plan.ts";
import { DEFAULTS } from "./defaults.ts";
import type { ResolveContext } from "./resolve-context.ts";
import type { ListFiles, ListReader } from "./resolve-data.ts";
import type { ClassPrompts } from "./resolve-prompts.ts";
import type { ResolvedExperiment, ResolvedTrain, TrainSpec } from "./types.ts";
import { TRAIN_CROPS } from "../video/train-transform.ts";

/** What the train section needs from the sections resolved before it. */
export interface TrainInputs {
  variant: ResolvedExperiment["model"]["variant"];
  /** model.template: the training prompts' template */
  template: string;
  /** protocol.shots: every class must have this many training videos */
  shots?: number;
  lists: ListReader;
  /** the training label file's prompts are added here, to be checked against the text context */
  prompts: ClassPrompts[];
}

export async function resolveTrain(
  ctx: ResolveContext,
  t: TrainSpec,
  inp: TrainInputs,
): Promise<ResolvedTrain> {
  if (inp.variant === "frozen") {
    ctx.fail("model.variant", '"frozen" trains nothing; drop the train section or pick a trainable variant');
  }
  const files = await inp.lists.pair(t, "train");
  inp.prompts.push({ field: "train.labels", names: files.names, template: inp.template });
  const epochs = ctx.posInt(t.epochs ?? DEFAULTS.epochs, "train.epochs");
  const lr = t.lr ?? DEFAULTS.lr;
  if (typeof lr !== "number" || !Number.isFinite(lr) || lr <= 0) {
    ctx.fail("train.lr", `must be a positive number, got ${JSON.stringify(lr)}`);
  }
  if (inp.shots !== undefined) checkShots(ctx, inp.shots, files);
  let resume: ResolvedTrain["resume"];
  if (t.resume !== undefined) {
    const mode = ctx.oneOf(t.resume.mode, "train.resume.mode", ["init", "continue"] as const);
    const path = await ctx.optionalFile(t.resume.path, "train.resume.path", "checkpoint");
    resume = { path: path!, mode };
  }
  let finalViews: ResolvedTrain["finalViews"];
  if (t.finalViews !== undefined) {
    finalViews = {
      clips: ctx.posInt(t.finalViews.clips, "train.finalViews.clips"),
      crops: ctx.posInt(t.finalViews.crops, "train.finalViews.crops"),
    };
  }
  const { batch, accumulation, effectiveBatch, worldSize } = batchOf(ctx, t, files);
  return {
    list: files.list,
    labels: files.labels,
    root: files.root,
    videos: files.items.length,
    epochs,
    lr,
    batch,
    accumulation,
    effectiveBatch,
    worldSize,
    ...hyperparameters(ctx, t),
    ...(resume ? { resume } : {}),
    ...(finalViews ? { finalViews } : {}),
  };
}

/** K-shot (protocol.shots): every class of the training list must have at least K videos. */
function checkShots(ctx: ResolveContext, shots: number, files: ListFiles): void {
  const counts = new Array<number>(files.names.length).fill(0);
  for (const it of files.items) counts[it.label]++;
  const c = counts.findIndex((n) => n < shots);
  if (c >= 0) {
    ctx.fail(
      "protocol.shots",
      `K = ${shots} but class ${c} (${files.names[c]}) has only ${counts[c]} video(s) in ${files.list}`,
    );
  }
}

/**
 * The micro-batch, devices and accumulation, and the effective batch of one update. A list too short for a
 * single update is only a warning here: a dry run shows it, and the trainer refuses to start such a run
 * (the list is read again there).
 */
function batchOf(
  ctx: ResolveContext,
  t: TrainSpec,
  files: ListFiles,
): Pick<ResolvedTrain, "batch" | "accumulation" | "effectiveBatch" | "worldSize"> {
  const batch = ctx.posInt(t.batch ?? DEFAULTS.batch, "train.batch");
  const worldSize = ctx.posInt(t.worldSize ?? DEFAULTS.worldSize, "train.worldSize");
  const accumulation = accumulationOf(ctx, t, batch, worldSize);
  const plan = batchPlan(files.items.length, { batch, accumulation, worldSize });
  if (plan.updatesPerEpoch < 1) {
    const field = t.effectiveBatch !== undefined ? "train.effectiveBatch" : "train.batch";
    ctx.warnings.push(
      `${field}: an update takes ${plan.effectiveBatch} videos (batch ${batch} × accumulation ` +
        `${accumulation} × worldSize ${worldSize}) but the training list ${files.list} has ${files.items.length}`,
    );
  }
  return { batch, accumulation, effectiveBatch: plan.effectiveBatch, worldSize };
}

/**
 * The per-device accumulation: given, or effectiveBatch ÷ (batch × worldSize), which must divide and,
 * when both are given, agree.
 */
function accumulationOf(
  ctx: ResolveContext,
  t: { accumulation?: number; effectiveBatch?: number },
  batch: number,
  worldSize: number,
): number {
  if (t.effectiveBatch === undefined) {
    return ctx.posInt(t.accumulation ?? DEFAULTS.accumulation, "train.accumulation");
  }
  const effective = ctx.posInt(t.effectiveBatch, "train.effectiveBatch");
  const step = batch * worldSize;
  if (effective % step !== 0) {
    ctx.fail(
      "train.effectiveBatch",
      `${effective} is not a multiple of batch ${batch} × worldSize ${worldSize} = ${step}`,
    );
  }
  const derived = effective / step;
  if (t.accumulation !== undefined && ctx.posInt(t.accumulation, "train.accumulation") !== derived) {
    ctx.fail(
      "train.accumulation",
      `${t.accumulation} conflicts with effectiveBatch ${effective} = batch ${batch} × ` +
        `worldSize ${worldSize} × accumulation ${derived}; give one of the two`,
    );
  }
  return derived;
}

/** The warm-up, regularisation, augmentation and checkpoint frequency: range checks, checked in this order. */
function hyperparameters(
  ctx: ResolveContext,
  t: TrainSpec,
): Pick<
  ResolvedTrain,
  | "warmupEpochs"
  | "weightDecay"
  | "labelSmoothing"
  | "mixup"
  | "cutmix"
  | "switchProb"
  | "colorJitter"
  | "grayScale"
  | "flip"
  | "crop"
  | "saveFreq"
> {
  return {
    warmupEpochs: ctx.nonNegInt(t.warmupEpochs ?? DEFAULTS.warmupEpochs, "train.warmupEpochs"),
    weightDecay: ctx.nonNeg(t.weightDecay ?? DEFAULTS.weightDecay, "train.weightDecay"),
    labelSmoothing: ctx.inRange(
      t.labelSmoothing ?? DEFAULTS.labelSmoothing,
      "train.labelSmoothing",
      0,
      1,
      true,
    ),
    mixup: ctx.nonNeg(t.mixup ?? DEFAULTS.mixup, "train.mixup"),
    cutmix: ctx.nonNeg(t.cutmix ?? DEFAULTS.cutmix, "train.cutmix"),
    switchProb: ctx.inRange(t.switchProb ?? DEFAULTS.switchProb, "train.switchProb", 0, 1),
    colorJitter: ctx.inRange(t.colorJitter ?? DEFAULTS.colorJitter, "train.colorJitter", 0, 1),
    grayScale: ctx.inRange(t.grayScale ?? DEFAULTS.grayScale, "train.grayScale", 0, 1),
    flip: ctx.inRange(t.flip ?? DEFAULTS.flip, "train.flip", 0, 1),
    crop: ctx.oneOf(t.crop ?? DEFAULTS.crop, "train.crop", TRAIN_CROPS),
    saveFreq: ctx.posInt(t.saveFreq ?? DEFAULTS.saveFreq, "train.saveFreq"),
  };
}
