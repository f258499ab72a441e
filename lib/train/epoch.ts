// The training loop: epochs from the start position to the last, each one its steps over the loader,
// then (when complete) its validation, checkpoints and row. An epoch says why it stopped: it ran to
// its end, Ctrl-C stopped it (after the step in flight, its position saved), or the benchmarks' limit
// on steps was reached (the epoch is then finished as a last one).

import { type Batch, itemSeed } from "../data/loader.ts";
import type { EpochRow, StepRow } from "../results/store.ts";
import { Rng } from "../random/rng.ts";
import type { TrainPosition } from "./checkpoint.ts";
import { saveInterrupted, saveLast, saveValidatedEpoch } from "./run-checkpoints.ts";
import { scheduleAfterMicroBatch } from "./run-schedule.ts";
import type { TrainingRun } from "./run-state.ts";
import type { TrainingSession } from "./training-session.ts";
import { validateEpoch, validationDue } from "./validation.ts";

export type EpochEnd = "complete" | "interrupted" | "iteration limit";

/** Trains from `start` until the last epoch is done, Ctrl-C, or the limit on steps. */
export async function trainEpochs(run: TrainingRun, t: TrainingSession, start: TrainPosition): Promise<void> {
  t.begin(start);
  for (let epoch = start.epoch; epoch < t.tr.epochs; epoch++) {
    const end = await runEpoch(run, t, epoch, epoch === start.epoch ? start : undefined);
    if (end !== "complete") break;
  }
  run.trainSeconds = t.elapsed;
}

/** Epoch `epoch`, from its start or (a continued run) from position `from`. */
async function runEpoch(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  from: TrainPosition | undefined,
): Promise<EpochEnd> {
  const epochStart = performance.now();
  const steps = await trainSteps(run, t, epoch, from);
  run.records.steps(steps.rows);
  if (steps.end === "interrupted") {
    run.status = "interrupted";
    const { batch, iteration, lossSum } = steps;
    await saveInterrupted(run, t, { epoch, batch, iteration, lossSum, lr: t.schedule.current });
    return "interrupted";
  }
  return await finishEpoch(run, t, epoch, steps, epochStart);
}

/** An epoch's steps so far: where in the loader it is, and its rows for the store. */
interface EpochSteps {
  end: EpochEnd;
  /** loader batches consumed */
  batch: number;
  /** steps taken (a batch a skipped file shortened is no step) */
  iteration: number;
  lossSum: number;
  rows: StepRow[];
}

/** Steps over the epoch's batches until the loader ends, Ctrl-C, or the limit on steps. */
async function trainSteps(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  from: TrainPosition | undefined,
): Promise<EpochSteps> {
  // Each epoch starts from zero gradients, except a run continued mid-epoch: it has the accumulation
  // window's gradients from its checkpoint.
  if (!from?.batch) t.zeroGradients();
  const s: EpochSteps = {
    end: "complete",
    batch: from?.batch ?? 0,
    iteration: from?.iteration ?? 0,
    lossSum: from?.lossSum ?? 0,
    rows: [],
  };
  const it = t.loader.epoch(epoch, s.batch)[Symbol.asyncIterator]();
  for (;;) {
    const w0 = performance.now();
    const next = await it.next();
    run.dataSeconds += (performance.now() - w0) / 1000;
    if (next.done) return s;
    // One mixup/cutmix stream per batch position, so a run continued anywhere draws what an
    // unbroken one would.
    const blendRng = new Rng(itemSeed(run.exp.seed, epoch, -2 - s.batch++));
    // a skipped file shortened the batch; its plan is fixed-size
    if (next.value.shape[0] !== t.batch) {
      // data-parallel, a rank that skipped a step would leave the others waiting in its all-reduce
      if (run.world.distributed) {
        throw new Error(
          `vifi: ${run.exp.name}: rank ${run.world.rank} lost a video of a batch at epoch ${epoch} ` +
            `(data.onError skipped it); a data-parallel run cannot skip a step on one rank`,
        );
      }
      continue;
    }
    const stop = await trainStep(run, t, epoch, s, next.value, blendRng);
    if (stop || run.atIterationLimit) {
      s.end = stop ? "interrupted" : "iteration limit";
      return s;
    }
  }
}

/**
 * One micro-batch: its step, the schedule after it, its loss checked and counted. Returns whether
 * training stops here (Ctrl-C/SIGTERM; data-parallel, on any rank, and only where an update ends).
 */
async function trainStep(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  s: EpochSteps,
  batch: Batch,
  blendRng: Rng,
): Promise<boolean> {
  t.steps.load(batch, t.tr, blendRng);
  const update = t.steps.updates(s.iteration);
  const lr = t.schedule.current;
  await t.steps.take(lr, update);
  scheduleAfterMicroBatch(t.schedule, epoch, t.worldMicro(s.iteration), update, t.worldSize);
  // the read checks too; this names the rule: nothing after a GPU error counts
  const own = await t.steps.loss();
  run.rt.checkErrors();
  const { loss, stop } = await agree(run, own, update);
  if (!Number.isFinite(loss) && !t.scaler) {
    throw new Error(
      `vifi: ${run.exp.name}: the loss became ${loss} at epoch ${epoch} iteration ${s.iteration}`,
    );
  }
  run.losses.push(loss);
  s.lossSum += loss;
  run.videos += t.batch * t.ranks;
  run.iterationsDone++;
  s.iteration++;
  reportStep(run, t, epoch, s, loss, lr);
  // alone, a stop asked for during this step (a progress hook's too) is taken now
  return stop ?? run.interrupted;
}

/**
 * What every rank decides alike after a step: the loss of the whole world's micro-batch (the mean of
 * the ranks' losses, so the loss curve is a single process's), and whether to stop, which any rank's
 * Ctrl-C/SIGTERM asks for. One f64 all-reduce carries both, so no rank stops while another waits for
 * it in a collective. Data-parallel runs stop only where an update ends: a checkpoint then holds no
 * half-accumulated gradients (which would be rank 0's alone), and continues in any world.
 */
async function agree(
  run: TrainingRun,
  loss: number,
  update: boolean,
): Promise<{ loss: number; stop?: boolean }> {
  const world = run.world;
  if (!world.distributed) return { loss };
  const shared = Float64Array.of(loss, run.interrupted ? 1 : 0);
  await world.allreduceSum(shared);
  return { loss: shared[0] / world.size, stop: update && shared[1] > 0 };
}

/** The step's row for the store and its progress event (speed and time left from the steps so far). */
function reportStep(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  s: EpochSteps,
  loss: number,
  lr: number,
) {
  const idx = s.iteration;
  const elapsed = t.elapsed;
  const framesPerSec = (run.videos * run.exp.data.frames) / Math.max(elapsed, 1e-9);
  s.rows.push({ step: epoch * t.iterations + idx - 1, epoch, loss, lr, framesPerSec, time: Date.now() });
  run.hooks.onProgress?.({
    epoch,
    epochs: t.tr.epochs,
    iteration: idx,
    iterations: t.iterations,
    loss,
    meanLoss: s.lossSum / idx,
    lr,
    framesPerSec,
    etaSeconds: (elapsed / run.iterationsDone) * (t.totalIterations - run.iterationsDone),
  });
}

/** A complete epoch: its validation and checkpoints when due, `last` at the final one, its row. */
async function finishEpoch(
  run: TrainingRun,
  t: TrainingSession,
  epoch: number,
  steps: EpochSteps,
  epochStart: number,
): Promise<EpochEnd> {
  run.epochsRun++;
  const stopping = run.atIterationLimit;
  const last = epoch === t.tr.epochs - 1 || stopping;
  const meanLoss = steps.iteration ? steps.lossSum / steps.iteration : NaN;
  const row: EpochRow = { epoch, trainLoss: meanLoss, seconds: (performance.now() - epochStart) / 1000 };
  /** this epoch's checkpoint, when validation wrote one: `last` is then a copy, not a second save */
  let epochFile: string | undefined;
  if (validationDue(run, epoch, last)) {
    const v = await validateEpoch(run, epoch, meanLoss, last);
    row.valTop1 = v.result.top1;
    row.valTop5 = v.result.top5;
    epochFile = await saveValidatedEpoch(run, t, epoch, v.result.top1, v.improved);
  } else {
    run.log(`epoch ${epoch}: loss ${meanLoss.toFixed(4)}`);
  }
  if (last) await saveLast(run, t, epoch, epochFile);
  run.records.epoch(row);
  return stopping ? "iteration limit" : "complete";
}
