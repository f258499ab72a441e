// What training holds from its first epoch to its last: the training data and loader, AdamW over what
// the variant trains, the loss scaler (f16), the schedule, and the micro-batch steps with their device
// buffers. Opened once per run that trains, and disposed when training ends however it ends.

import type { VideoLoader } from "../data/loader.ts";
import { type BatchPlan, ranksShareOf, worldMicroBatch } from "../dsl/batch-plan.ts";
import type { ResolvedTrain } from "../dsl/types.ts";
import type { TrainPosition } from "./checkpoint.ts";
import type { LossScaler } from "./loss-scale.ts";
import { AdamW } from "./optimizer.ts";
import { MicroBatchSteps } from "./accumulation.ts";
import { GradientAverager } from "./data-parallel.ts";
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
    /** micro-batches per update on this rank: the plan's, divided among the ranks */
    readonly perUpdate: number,
    /** ranks training together (MPI), each taking its share of every update */
    readonly ranks: number,
    private readonly averager?: GradientAverager,
  ) {}

  static async open(run: TrainingRun, tr: ResolvedTrain): Promise<TrainingSession> {
    const { exp, model } = run;
    const data = await trainingData(exp, tr, run.tok, model);
    const world = run.world;
    const perUpdate = ranksShare(exp.name, data.plan, world.size);
    const loader = trainingLoader(exp, tr, data.items, world);
    const opt = new AdamW(model.trainable(), { weightDecay: tr.weightDecay });
    const scaler = lossScalerFor(run.rt, model);
    const averager = world.distributed ? new GradientAverager(run.rt, opt.params, world) : undefined;
    const steps = new MicroBatchSteps(run.rt, model, opt, scaler, data.classes.tokens, {
      batch: tr.batch,
      frames: exp.data.frames,
      size: exp.model.inputSize,
      classes: data.classes.names.length,
      // A is micro-batches per update: the upstream's accumulation × the world size this run
      // reproduces, of which this rank takes its share (the targets are divided by the whole A: the
      // all-reduce then averages over the ranks, which divides by W again, so ÷ A/W here)
      perUpdate,
    }, averager);
    return new TrainingSession(
      tr,
      data.classes,
      data.plan,
      loader,
      opt,
      scaler,
      runSchedule(tr, data.plan),
      steps,
      perUpdate,
      world.size,
      averager,
    );
  }

  /** videos per micro-batch */
  get batch(): number {
    return this.tr.batch;
  }

  /** devices of the run being reproduced */
  get worldSize(): number {
    return this.tr.worldSize;
  }

  /** loader batches per epoch */
  get iterations(): number {
    return this.loader.batchesPerEpoch;
  }

  /**
   * The micro-batch of the whole world (all ranks' micro-batches in step) that this rank's micro-batch
   * `micro` of the epoch ends: the schedule counts those, so it moves as a single process's would.
   */
  worldMicro(micro: number): number {
    return worldMicroBatch(micro, this.ranks);
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
    this.averager?.dispose();
  }
}

/**
 * Micro-batches per update on each of `ranks` ranks: the experiment's effective batch stays what it
 * says, so the plan's micro-batches per update must divide among the ranks.
 */
export function ranksShare(name: string, plan: BatchPlan, ranks: number): number {
  const share = ranksShareOf(plan, ranks);
  if (share === undefined) {
    throw new Error(
      `vifi: ${name}: ${plan.microBatchesPerUpdate} micro-batches per update (batch × accumulation × worldSize = ` +
        `${plan.effectiveBatch}) do not divide among ${ranks} MPI ranks; set train.worldSize or ` +
        `accumulation so that they do (the effective batch must stay what the experiment says)`,
    );
  }
  return share;
}
