// What training holds from its first epoch to its last: the training data and loader, AdamW over what
// the variant trains, the loss scaler (f16), the schedule, and the micro-batch steps with their device
// buffers. Opened once per run that trains, and disposed when training ends however it ends.

import type { VideoLoader } from "../data/loader.ts";
import type { BatchPlan } from "../dsl/batch-plan.ts";
import type { ResolvedTrain } from "../dsl/types.ts";
import type { TrainPosition } from "./checkpoint.ts";
import type { LossScaler } from "./loss-scale.ts";
import { AdamW } from "./optimizer.ts";
import { MicroBatchSteps } from "./accumulation.ts";
import { type ClassSet, trainingData, trainingLoader } from "./run-data.ts";
import { lossScalerFor, runSchedule } from "./run-schedule.ts";
import type { TrainingRun } from "./run-state.ts";
import type { LrSchedule } from "./schedule.ts";

export class TrainingSession {
  /** when the step loop began (after any resume), and the steps it has to take from there */
  private clock = { start: 0, totalIterations: 0 };

  private constructor(
    readonly tr: ResolvedTrain,
    readonly classes: ClassSet,
    readonly plan: BatchPlan,
    readonly loader: VideoLoader,
    readonly opt: AdamW,
    readonly scaler: LossScaler | undefined,
    readonly schedule: LrSchedule,
    readonly steps: MicroBatchSteps,
  ) {}

  static async open(run: TrainingRun, tr: ResolvedTrain): Promise<TrainingSession> {
    const { exp, model } = run;
    const data = await trainingData(exp, tr, run.tok, model);
    const loader = trainingLoader(exp, tr, data.items);
    const opt = new AdamW(model.trainable(), { weightDecay: tr.weightDecay });
    const scaler = lossScalerFor(run.rt, model);
    const steps = new MicroBatchSteps(run.rt, model, opt, scaler, data.classes.tokens, {
      batch: tr.batch,
      frames: exp.data.frames,
      size: exp.model.inputSize,
      classes: data.classes.names.length,
      // A is micro-batches per update: the upstream's accumulation × the world size this run reproduces
      perUpdate: data.plan.microBatchesPerUpdate,
    });
    return new TrainingSession(
      tr,
      data.classes,
      data.plan,
      loader,
      opt,
      scaler,
      runSchedule(tr, data.plan),
      steps,
    );
  }

  /** videos per micro-batch */
  get batch(): number {
    return this.tr.batch;
  }

  /** micro-batches per optimizer update */
  get perUpdate(): number {
    return this.plan.microBatchesPerUpdate;
  }

  /** devices of the run being reproduced */
  get worldSize(): number {
    return this.tr.worldSize;
  }

  /** loader batches per epoch */
  get iterations(): number {
    return this.loader.batchesPerEpoch;
  }

  /** Starts the clock of the step loop, which takes every batch from `from` to the last epoch's end. */
  begin(from: TrainPosition): void {
    this.clock = {
      start: performance.now(),
      totalIterations: (this.tr.epochs - from.epoch) * this.iterations - from.iteration,
    };
  }

  /** seconds since the step loop began */
  get elapsed(): number {
    return (performance.now() - this.clock.start) / 1000;
  }

  get totalIterations(): number {
    return this.clock.totalIterations;
  }

  /** Upstream zeroes gradients at each epoch start, dropping a trailing partial accumulation. */
  zeroGradients(): void {
    for (const p of this.opt.params) if (p.trainable) p.zeroGrad();
  }

  dispose(): void {
    this.loader.close();
    this.steps.dispose();
    this.opt.dispose();
    this.scaler?.dispose();
  }
}
