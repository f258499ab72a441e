// Runs a resolved experiment the way the upstream main.py does (docs/upstream.md §8–9): AdamW over what the
// variant trains, the warmup + cosine schedule by loader iteration, soft targets with label smoothing
// and mixup/cutmix, gradient accumulation, validation every SAVE_FREQ epochs and at the end with
// best/last checkpoints, then every evaluation of the experiment on the final weights. A compiled plan
// replays each step; Ctrl-C (an aborted signal) finishes the step, saves the position in the epoch,
// and returns "interrupted". A GPU error fails the run before anything computed after it is stored.
//
// The stages, in the order a run takes them (one TrainingRun carries the state between them):
//   the data        lib/train/run-data.ts          class sets, training and evaluation lists and loaders
//   what it holds   lib/train/training-session.ts  loader, AdamW, loss scaler, schedule, micro-batch steps
//   the schedule    lib/train/run-schedule.ts      rate per upstream iteration, loss scaling
//   a step          lib/train/accumulation.ts      targets, mixup/cutmix, accumulation windows, plans
//   the epochs      lib/train/epoch.ts             the loop over epochs, each saying why it stopped
//   validation      lib/train/validation.ts        evaluations, the per-epoch validation, the best epoch
//   checkpoints     lib/train/run-checkpoints.ts   resume/continue, epoch/best/last, Ctrl-C's position
//   the store       lib/train/run-records.ts       steps, epochs, checkpoints and evaluations recorded
// A pretrain experiment takes none of these stages but lib/train/run-pretrain.ts (contrastive steps on
// synthetic caption pairs, stored as step rows, then last.safetensors).

import type { World } from "../dist/mpi.ts";
import type { ResolvedExperiment, ResolvedTrain } from "../dsl/types.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { initPromptWeights } from "../models/config.ts";
import { loadModel, tokenizerFor } from "../models/load.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { trainEpochs } from "./epoch.ts";
import { claimOutput, updateOwner } from "./output.ts";
import { startPosition } from "./run-checkpoints.ts";
import { broadcastWeights } from "./data-parallel.ts";
import { runPretrain } from "./run-pretrain.ts";
import { type ContinuedRun, continuedRun, type RunRecorder, RunRecords } from "./run-records.ts";
import { type EvalOutcome, type ProgressEvent, type RunOutcome, TrainingRun } from "./run-state.ts";
import { TrainingSession } from "./training-session.ts";
import { evaluateOn } from "./validation.ts";

export type { RunRecorder } from "./run-records.ts";
export type { EvalOutcome, ProgressEvent, RunOutcome } from "./run-state.ts";

export interface TrainerOptions {
  recorder?: RunRecorder;
  commit?: string | null;
  /** one line per event worth a log (validation, checkpoint, evaluation) */
  log?: (line: string) => void;
  onProgress?: (e: ProgressEvent) => void;
  /** Ctrl-C: finish the current step, save, stop */
  signal?: AbortSignal;
  /** stop after this many loader iterations in all (benchmarks) */
  maxIterations?: number;
  /** told the run id as soon as the store gave one (a second Ctrl-C marks it before exiting) */
  onRun?: (runId: number) => void;
  /**
   * data-parallel: the MPI ranks training this model together (lib/dist/mpi.ts). Every rank calls
   * runExperiment; rank 0's weights are broadcast, and rank 0 alone writes the store and the output
   * folder (other ranks are given no recorder, or it is ignored).
   */
  world?: World;
}

function deviceName(rt: Runtime): string {
  return rt.gpu.info.description;
}

export async function runExperiment(
  rt: Runtime,
  exp: ResolvedExperiment,
  opts: TrainerOptions = {},
): Promise<RunOutcome> {
  const world = opts.world;
  const rank0 = (world?.rank ?? 0) === 0;
  if (world?.distributed && exp.pretrain) {
    throw new Error(`vifi: ${exp.name}: pretraining is not data-parallel yet; run it as one process`);
  }
  const rec = rank0 ? opts.recorder : undefined;
  // Before the run exists: a folder another run owns, or one that cannot be written, is a usage error.
  const resume = exp.train?.resume;
  // a run that writes checkpoints owns its output folder
  const writes = rank0 && (exp.train !== undefined || exp.pretrain !== undefined);
  const db = (rec as { path?: string } | undefined)?.path;
  // read before claimOutput writes this process into the owner file: the run the folder's owner was
  const continued = rec && resume?.mode === "continue"
    ? await continuedRun(rec, db, exp.name, exp.output, resume.path)
    : undefined;
  if (writes) {
    await claimOutput(
      exp.output,
      { experiment: exp.name, db },
      resume?.mode === "continue" ? resume.path : undefined,
    );
  }
  const owned = async (status: "done" | "failed" | "interrupted" | undefined, id?: number) => {
    if (writes) {
      await updateOwner(exp.output, { ...(status && { status }), ...(id !== undefined && { runId: id }) });
    }
  };
  const runId = reopened(rec, continued, opts.log) ?? rec?.startRun({
    experiment: exp.name,
    protocol: exp.protocol,
    variant: exp.model.variant,
    config: exp,
    seed: exp.seed,
    device: deviceName(rt),
    commit: opts.commit,
  });
  if (runId !== undefined) opts.onRun?.(runId);
  let model: ViFiClip | undefined;
  try {
    if (runId !== undefined) await owned(undefined, runId);
    model = await experimentModel(rt, exp, world);
    addFreshPrompts(model, exp);
    // a pretrain experiment (lib/train/run-pretrain.ts) pretrains contrastively and evaluates nothing
    // only rank 0's recorder goes on (rec): the other ranks record nothing
    const summary: RunOutcome = exp.pretrain
      ? await runPretrain(rt, exp, model, { ...opts, recorder: rec }, runId)
      : await trainAndEvaluate(rt, exp, model, { ...opts, recorder: rec }, runId);
    rec?.finishRun(runId!, {
      status: summary.status,
      metrics: {
        best: summary.best,
        evals: Object.fromEntries(
          summary.evals.map((e) => [e.name, { top1: e.result.top1, top5: e.result.top5 }]),
        ),
        videosPerSec: summary.timing.videosPerSec,
      },
    });
    await owned(summary.status);
    return { ...summary, runId };
  } catch (e) {
    if (runId !== undefined) {
      rec?.finishRun(runId, { status: "failed", error: String(e instanceof Error ? e.message : e) });
    }
    await owned("failed").catch(() => {});
    throw e;
  } finally {
    model?.dispose();
  }
}

/**
 * A `--continue` of a stopped run takes its own row up again (one run, not one per attempt); its step
 * rows past the checkpoint and epoch rows from the checkpoint's incomplete epoch are dropped, since
 * this attempt logs them again. Kept: the checkpoint rows (the epoch files before the checkpoint are
 * unchanged; a later one, and the stopped attempt's `last` row, name a file this attempt writes again)
 * and evaluation rows (only a run past its last epoch writes them, and the store has no call that
 * drops them: a run stopped among its final evaluations keeps the ones it stored, and gets them again).
 * Otherwise a new run starts, and the log says why.
 */
function reopened(
  rec: RunRecorder | undefined,
  continued: { run?: ContinuedRun; why?: string } | undefined,
  log: ((line: string) => void) | undefined,
): number | undefined {
  if (!rec || !continued) return undefined;
  const c = continued.run;
  if (c && rec.reopenRun!(c.runId, { keepSteps: c.keepSteps, fromEpoch: c.fromEpoch })) {
    log?.(
      `continuing run ${c.runId} (its step rows after step ${c.keepSteps} and epochs from ${c.fromEpoch} ` +
        `are logged again)`,
    );
    return c.runId;
  }
  log?.(`a new run: ${c ? `run ${c.runId} cannot be reopened (done meanwhile)` : continued.why}`);
  return undefined;
}

/**
 * The experiment's model, from its weights (or its architecture, freshly initialised); data-parallel,
 * every rank's from rank 0's weights.
 */
async function experimentModel(rt: Runtime, exp: ResolvedExperiment, world?: World): Promise<ViFiClip> {
  const { model } = await loadModel(rt, {
    beforeBuild: world?.distributed ? (w) => broadcastWeights(world, w) : undefined,
    weights: exp.model.weights,
    clipWeights: exp.model.clipWeights,
    arch: exp.model.arch,
    variant: exp.model.variant,
    precision: exp.model.precision,
    seed: exp.seed,
  });
  return model;
}

/** Prompting a model whose file has no prompts (OpenAI CLIP, a fine-tuned ViFi-CLIP): fresh ones. */
function addFreshPrompts(model: ViFiClip, exp: ResolvedExperiment): void {
  if (exp.model.prompt && !model.clip.prompts) {
    model.clip.addPrompts(exp.model.prompt, initPromptWeights(model.config, exp.model.prompt, exp.seed));
    model.setVariant(exp.model.variant);
  }
}

/** Training when the experiment trains, then (unless Ctrl-C stopped it) the final weights evaluated. */
async function trainAndEvaluate(
  rt: Runtime,
  exp: ResolvedExperiment,
  model: ViFiClip,
  opts: TrainerOptions,
  runId: number | undefined,
): Promise<RunOutcome> {
  const t0 = performance.now();
  const tok = await tokenizerFor({
    tokenizer: exp.model.tokenizer,
    vocab: exp.model.vocab,
    config: model.config,
  });
  const run = new TrainingRun(rt, exp, model, tok, {
    log: opts.log ?? (() => {}),
    onProgress: opts.onProgress,
    signal: opts.signal,
    maxIterations: opts.maxIterations,
    world: opts.world,
  }, new RunRecords(opts.recorder, runId));
  if (exp.train) await train(run, exp.train);
  const evals = run.status !== "interrupted" ? await finalEvaluations(run) : [];
  return {
    runId,
    status: run.status,
    epochsRun: run.epochsRun,
    best: run.best,
    losses: run.losses,
    evals,
    checkpoints: run.checkpoints,
    timing: {
      seconds: (performance.now() - t0) / 1000,
      trainSeconds: run.trainSeconds,
      dataSeconds: run.dataSeconds,
      videos: run.videos,
      videosPerSec: run.videos / Math.max(run.trainSeconds, 1e-9),
    },
  };
}

/** The training half: from the start position (fresh, initialised or continued) over the epochs. */
async function train(run: TrainingRun, tr: ResolvedTrain): Promise<void> {
  const t = await TrainingSession.open(run, tr);
  try {
    await trainEpochs(run, t, await startPosition(run, t));
  } finally {
    t.dispose();
  }
}

/**
 * Every evaluation with its own views (the first also with the training's final views, when set); the
 * final epoch's validation is the first of them, reused. Each is stored with the last epoch trained.
 */
async function finalEvaluations(run: TrainingRun): Promise<EvalOutcome[]> {
  const tr = run.exp.train;
  const finals: EvalOutcome[] = [];
  for (const [i, e] of run.exp.evals.entries()) {
    const views = [{ clips: e.clips, crops: e.crops }];
    if (i === 0 && tr?.finalViews) views.push(tr.finalViews);
    for (const v of views) {
      const reuse = i === 0 && v === views[0] ? run.lastValidation : undefined;
      const result = reuse ?? await evaluateOn(run, e, v.clips, v.crops);
      await run.rt.sync(); // a result computed after a GPU error is never stored
      const name = v === views[0] ? e.name : `${e.name}@${v.clips}x${v.crops}`;
      run.records.evaluation(e, v.clips, v.crops, result, tr ? run.epochsRun - 1 : undefined, name);
      finals.push({ name, spec: e, views: v, result });
      run.log(
        `${name}: top-1 ${result.top1.toFixed(2)} top-5 ${result.top5.toFixed(2)} (${result.count} videos)`,
      );
    }
  }
  return finals;
}
