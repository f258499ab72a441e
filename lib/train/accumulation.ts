// One loader batch as one micro-batch on the device: its soft targets (label smoothing, then mixup or
// cutmix), scaled for gradient accumulation, and a compiled plan that replays the step. When every
// micro-batch is an update the whole step is one plan; otherwise every micro-batch runs the gradient
// plan, and the last of each window of A also runs the update plan (data-parallel: after the window's
// gradients are averaged over the ranks, an exchange that overlaps the window's last backward once its
// plan is compiled).

import type { Batch } from "../data/loader.ts";
import type { ResolvedTrain } from "../dsl/types.ts";
import type { Runtime } from "../gpu/runtime.ts";
import type { ViFiClip } from "../models/vifi.ts";
import type { Rng } from "../random/rng.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { LossScaler } from "./loss-scale.ts";
import { blendBatch, smoothedTargets } from "./mixup.ts";
import type { GradientAverager } from "./data-parallel.ts";
import type { AdamW } from "./optimizer.ts";
import { CompiledStep, type StepParts } from "./step.ts";

export interface MicroBatchShape {
  /** videos per micro-batch */
  batch: number;
  frames: number;
  size: number;
  classes: number;
  /** micro-batches per optimizer update (the upstream's accumulation × its world size) */
  perUpdate: number;
}

export class MicroBatchSteps {
  private readonly frames: Tensor;
  private readonly targets: Tensor;
  /** compiled on first use: the first micro-batch of each kind runs while it is recorded */
  private readonly steps: Partial<Record<StepParts, CompiledStep>> = {};

  constructor(
    private readonly rt: Runtime,
    private readonly model: ViFiClip,
    private readonly opt: AdamW,
    private readonly scaler: LossScaler | undefined,
    private readonly tokens: Int32Array,
    readonly shape: MicroBatchShape,
    /** data-parallel: the gradients averaged over the ranks before each update */
    private readonly averager?: GradientAverager,
  ) {
    const { batch: B, frames: T, size, classes: C } = shape;
    this.frames = Tensor.empty(rt, [B, T, 3, size, size], "f32", "batch frames");
    this.targets = Tensor.empty(rt, [B, C], "f32", "batch targets");
  }

  /** Writes a batch's frames and its blended targets (mixup/cutmix drawn from `rng`) to the device. */
  load(batch: Batch, tr: ResolvedTrain, rng: Rng): void {
    const { classes: C, perUpdate: A } = this.shape;
    const targets = smoothedTargets(batch.labels, C, tr.labelSmoothing);
    blendBatch(batch.frames, batch.shape, targets, {
      classes: C,
      labelSmoothing: tr.labelSmoothing,
      mixup: tr.mixup,
      cutmix: tr.cutmix,
      switchProb: tr.switchProb,
    }, rng);
    // The loss is divided by ACCUMULATION_STEPS and DDP averages over the world: here both at once,
    // over A micro-batches; with soft targets that is dividing the targets.
    if (A > 1) { for (let i = 0; i < targets.length; i++) targets[i] /= A; }
    this.rt.write(this.frames.buffer, batch.frames);
    this.rt.write(this.targets.buffer, targets);
  }

  /** Whether micro-batch `micro` of the epoch (counting from 0) ends an accumulation window. */
  updates(micro: number): boolean {
    return (micro + 1) % this.shape.perUpdate === 0;
  }

  /** Steps on the loaded micro-batch at rate `lr`: gradients always, the update when `update`. */
  async take(lr: number, update: boolean): Promise<void> {
    // Data-parallel steps are always two plans: the all-reduce sits between backward and update.
    if (this.shape.perUpdate === 1 && !this.averager) {
      await this.run("step", lr);
    } else {
      const gradients = this.steps.gradients;
      if (update && this.averager && gradients) {
        // the window's last backward: its gradients are exchanged while it runs (VIFI_DP_OVERLAP)
        await this.averager.averageDuring(gradients.plan);
      } else {
        await this.run("gradients", lr);
        if (!update) return;
        await this.averager?.average();
      }
      await this.run("update", lr);
    }
  }

  /** The latest micro-batch's loss (one GPU round trip). */
  async loss(): Promise<number> {
    return await (this.steps.step ?? this.steps.gradients)!.loss();
  }

  private async run(parts: StepParts, lr: number): Promise<void> {
    const s = this.steps[parts];
    if (s) return await s.run(lr);
    this.steps[parts] = await CompiledStep.compile(
      this.model,
      this.opt,
      { frames: this.frames, tokens: this.tokens, classes: this.shape.classes, targets: this.targets },
      lr,
      this.scaler,
      { parts },
    );
  }

  dispose(): void {
    for (const s of Object.values(this.steps)) s?.dispose();
    this.frames.dispose();
    this.targets.dispose();
  }
}
