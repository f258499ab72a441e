// The checkpoints of a run: where training starts (exactly where a continued vifi checkpoint stopped,
// or at epoch 0 from weights to initialise from), and what it writes: each validated epoch's file,
// best as a copy of it, last at the end (a copy when the final epoch was validated), and on Ctrl-C
// the position inside the epoch with any half-accumulated gradients. Nothing computed after a GPU
// error becomes a checkpoint.

import { copyFileAtomic } from "../io/atomic-write.ts";
import {
  type CheckpointMeta,
  initialiseFrom,
  resumeInto,
  saveCheckpoint,
  type SavedWorld,
  type TrainPosition,
} from "./checkpoint.ts";
import { scheduleAfterEpoch } from "./run-schedule.ts";
import type { TrainingRun } from "./run-state.ts";
import type { TrainingSession } from "./training-session.ts";

/** Where training picks up: the first batch it takes, with the epoch's state so far. */
export async function startPosition(run: TrainingRun, t: TrainingSession): Promise<TrainPosition> {
  const resume = t.tr.resume;
  const start: TrainPosition = { epoch: 0, batch: 0, iteration: 0, lossSum: 0, lr: t.schedule.current };
  if (resume?.mode === "continue") return await continueFrom(run, t, resume.path, start);
  if (resume) {
    const took = await initialiseFrom(resume.path, run.model, {
      optimizer: t.opt,
      scaler: t.scaler,
      clipWeights: run.exp.model.clipWeights,
    });
    run.log(`initialised from ${resume.path}: ${took}; the schedule starts at epoch 0`);
  }
  return start;
}

/** `--continue`: weights, optimizer, loss scale, schedule and best validation as the checkpoint left them. */
async function continueFrom(
  run: TrainingRun,
  t: TrainingSession,
  path: string,
  fresh: TrainPosition,
): Promise<TrainPosition> {
  const meta = await resumeInto(path, run.model, t.opt, t.scaler);
  let start = fresh;
  if (meta.position) {
    start = positionHere(run, t, path, meta);
  } else if (meta.epoch !== undefined) {
    // a checkpoint saved at an epoch's end: the rate after that epoch's last update
    scheduleAfterEpoch(t.schedule, meta.epoch, {
      microBatches: t.iterations,
      perUpdate: t.perUpdate,
      ranks: t.ranks,
      worldSize: t.worldSize,
    });
    start = { epoch: meta.epoch + 1, batch: 0, iteration: 0, lossSum: 0, lr: t.schedule.current };
  }
  t.schedule.current = start.lr;
  run.bestTop1 = meta.bestAccuracy ?? -Infinity;
  if (meta.bestAccuracy !== undefined && meta.bestEpoch !== undefined) {
    run.best = { epoch: meta.bestEpoch, top1: meta.bestAccuracy };
  }
  run.log(`continuing ${path} at epoch ${start.epoch}, batch ${start.batch} of ${t.iterations}`);
  return start;
}

/** A checkpoint's position in this world's steps (positionIn), or its one-line refusal. */
function positionHere(
  run: TrainingRun,
  t: TrainingSession,
  path: string,
  meta: CheckpointMeta,
): TrainPosition {
  const saved = meta.world ?? { ranks: 1, batch: t.batch };
  const p = positionIn(meta.position!, saved, { ranks: t.ranks, batch: t.batch }, t.plan.effectiveBatch);
  if (p) return p;
  throw new Error(
    `vifi: ${run.exp.name}: ${path} was saved inside an update by ${saved.ranks} rank(s) of batch ` +
      `${saved.batch}; continue it with ${saved.ranks} rank(s) of batch ${saved.batch} ` +
      `(here ${t.ranks} of ${t.batch})`,
  );
}

/**
 * A position saved by world `saved` in the steps of world `now`. Taking as many videos per step (ranks ×
 * batch): the same. Otherwise it is rescaled by videos, which is only exact where an update ended (the
 * effective batch being the same, the same videos have been used): inside an accumulation window, whose
 * gradients are one rank's, undefined.
 */
export function positionIn(
  p: TrainPosition,
  saved: SavedWorld,
  now: SavedWorld,
  effectiveBatch: number,
): TrainPosition | undefined {
  const was = saved.ranks * saved.batch, here = now.ranks * now.batch;
  if (was === here) return p;
  const videos = p.iteration * was;
  if (videos % effectiveBatch !== 0 || (p.batch * was) % here !== 0) return undefined;
  return {
    ...p,
    batch: (p.batch * was) / here,
    iteration: videos / here,
    // the epoch's mean loss so far stays what it was: as many times more steps, as many times the sum
    lossSum: (p.lossSum * was) / here,
  };
}

/**
 * Saves the training state during epoch `epoch`: at its end, or (with `position`) inside it, when the
 * last complete epoch is the one before and the window's gradients so far are saved too.
 */
async function saveState(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  path: string,
  position?: TrainPosition,
): Promise<void> {
  // nothing computed after a GPU error may become a checkpoint
  await run.rt.sync();
  // data-parallel, every rank holds the same state: rank 0 alone writes it
  if (!run.writes) return;
  await saveCheckpoint(path, run.model, {
    optimizer: t.opt,
    scaler: t.scaler,
    runId: run.records.runId?.toString(),
    experiment: run.exp,
    epoch: position ? (epoch > 0 ? epoch - 1 : undefined) : epoch,
    bestAccuracy: Number.isFinite(run.bestTop1) ? run.bestTop1 : undefined,
    bestEpoch: run.best?.epoch,
    position,
    gradients: position !== undefined && position.iteration % t.perUpdate !== 0,
    world: { ranks: t.ranks, batch: t.batch },
  });
  run.checkpoints.push(path);
}

function lastPath(run: TrainingRun): string {
  return `${run.exp.output}/last.safetensors`;
}

/**
 * Ctrl-C: the epoch is not complete (even after its last batch: validation and its row are still to
 * come), so it is saved as a position, not logged; `--continue` takes the next batch.
 */
export async function saveInterrupted(
  run: TrainingRun,
  t: TrainingSession,
  position: TrainPosition,
): Promise<void> {
  const path = lastPath(run);
  await saveState(run, t, position.epoch, path, position);
  run.records.checkpoint({ epoch: position.epoch, kind: "last", path });
  run.log(
    `interrupted at epoch ${position.epoch}, batch ${position.batch} of ${t.iterations}: saved ${path}`,
  );
}

/** A validated epoch's checkpoint, and best as a copy of it when it improved; returns the epoch's file. */
export async function saveValidatedEpoch(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  top1: number,
  improved: boolean,
): Promise<string> {
  const path = `${run.exp.output}/ckpt_epoch_${epoch}.safetensors`;
  await saveState(run, t, epoch, path);
  run.records.checkpoint({ epoch, kind: "epoch", path, top1 });
  if (improved && run.writes) {
    const bestPath = `${run.exp.output}/best.safetensors`;
    await copyFileAtomic(path, bestPath);
    run.records.checkpoint({ epoch, kind: "best", path: bestPath, top1 });
  }
  return path;
}

/** The final epoch's `last`: a copy of the epoch's file when validation wrote one, not a second save. */
export async function saveLast(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  epochFile: string | undefined,
): Promise<void> {
  const path = lastPath(run);
  if (epochFile) {
    if (!run.writes) return;
    await copyFileAtomic(epochFile, path);
    run.checkpoints.push(path);
  } else {
    await saveState(run, t, epoch, path);
  }
  run.records.checkpoint({ epoch, kind: "last", path });
}
