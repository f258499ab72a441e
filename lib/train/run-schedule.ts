// The schedule of a run: the learning rate per loader iteration of the run being reproduced (so warmup
// and cosine line up with the upstream's, however many micro-batches this device accumulates), where it
// stands after a saved epoch, and the loss scaling half-precision training needs.

import { type BatchPlan, upstreamIteration, worldMicroBatch } from "../dsl/batch-plan.ts";
import type { ResolvedTrain } from "../dsl/types.ts";
import type { Runtime } from "../gpu/runtime.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { LossScaler } from "./loss-scale.ts";
import { LrSchedule } from "./schedule.ts";

export function runSchedule(tr: ResolvedTrain, plan: BatchPlan): LrSchedule {
  return new LrSchedule({
    lr: tr.lr,
    epochs: tr.epochs,
    warmupEpochs: tr.warmupEpochs,
    // per-device loader iterations of the reproduced run, so warmup and cosine line up with it
    itersPerEpoch: plan.itersPerEpoch,
  });
}

/**
 * Sets the rate to the one after epoch `epoch`'s last update (a checkpoint saved at an epoch's end):
 * `microBatches` per epoch on this rank, `perUpdate` of them per update, `ranks` ranks in step (the
 * schedule counts the whole world's micro-batches, as a single process takes them).
 */
export function scheduleAfterEpoch(
  schedule: LrSchedule,
  epoch: number,
  at: { microBatches: number; perUpdate: number; ranks: number; worldSize: number },
): void {
  const updates = Math.floor(at.microBatches / at.perUpdate);
  if (updates < 1) return;
  const lastWorldMicro = worldMicroBatch(updates * at.perUpdate - 1, at.ranks);
  schedule.afterUpdate(epoch, upstreamIteration(lastWorldMicro, at.worldSize));
}

/** After micro-batch `micro`: the rate moves on only when it ended an update, to its upstream iteration's. */
export function scheduleAfterMicroBatch(
  schedule: LrSchedule,
  epoch: number,
  micro: number,
  updated: boolean,
  worldSize: number,
): void {
  if (updated) schedule.afterUpdate(epoch, upstreamIteration(micro, worldSize));
}

/** f16 weights train with a dynamic loss scale (apex O1's); f32 needs none. */
export function lossScalerFor(rt: Runtime, model: ViFiClip): LossScaler | undefined {
  return model.clip.precision === "f16" ? new LossScaler(rt) : undefined;
}
