// How an experiment's batch settings map onto one device: the upstream trained on several GPUs, and an
// experiment reproduces its effective batch by accumulating more micro-batches here. Used by resolve
// (--dry-run's counts) and by the trainer, so both count updates the same way.

/** How one epoch splits into micro-batches, upstream loader iterations and optimizer updates. */
export interface BatchPlan {
  /** videos per optimizer update: batch × accumulation × worldSize (the paper's "BS") */
  effectiveBatch: number;
  /** micro-batches (of `batch` videos) this device accumulates per update: accumulation × worldSize */
  microBatchesPerUpdate: number;
  /** micro-batches the loader gives in an epoch (drop_last) */
  microBatchesPerEpoch: number;
  /**
   * loader iterations per epoch of the run being reproduced, per device: the DistributedSampler pads the
   * list to a multiple of worldSize and each device's loader drops its last partial batch. The schedule
   * counts these.
   */
  itersPerEpoch: number;
  updatesPerEpoch: number;
}

/**
 * The plan of a run that reproduces `worldSize` devices with per-device `batch` and `accumulation` on
 * one device: each upstream iteration is `worldSize` micro-batches here, so an update every
 * accumulation × worldSize micro-batches averages exactly the videos the upstream's DDP step averages.
 */
export function batchPlan(
  videos: number,
  t: { batch: number; accumulation: number; worldSize: number },
): BatchPlan {
  const micro = Math.floor(videos / t.batch);
  const perUpdate = t.accumulation * t.worldSize;
  return {
    effectiveBatch: t.batch * perUpdate,
    microBatchesPerUpdate: perUpdate,
    microBatchesPerEpoch: micro,
    itersPerEpoch: Math.floor(Math.ceil(videos / t.worldSize) / t.batch),
    // one device has no padding: an update the upstream fills with padded duplicates may be missing here
    updatesPerEpoch: Math.floor(micro / perUpdate),
  };
}

/**
 * Micro-batches per update on each of `ranks` data-parallel ranks (MPI), or undefined where the plan's
 * do not divide among them: the effective batch must stay what the experiment says.
 */
export function ranksShareOf(plan: BatchPlan, ranks: number): number | undefined {
  return plan.microBatchesPerUpdate % ranks === 0 ? plan.microBatchesPerUpdate / ranks : undefined;
}

/**
 * The micro-batch of the whole world (`ranks` ranks' micro-batches in step) that one rank's micro-batch
 * `micro` of an epoch ends: the schedule counts those, so it moves as a single process's would.
 */
export function worldMicroBatch(micro: number, ranks: number): number {
  return (micro + 1) * ranks - 1;
}

/** The upstream's per-device loader iteration that micro-batch `micro` of an epoch belongs to. */
export function upstreamIteration(micro: number, worldSize: number): number {
  return Math.floor(micro / worldSize);
}
