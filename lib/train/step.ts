// One training step of ViFi-CLIP — forward, soft-target cross-entropy, backward, AdamW — eager, or
// compiled once into a Plan and replayed.

import { Tape } from "../autograd/tape.ts";
import type { Plan, PlanStats } from "../gpu/plan.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { AdamW } from "./optimizer.ts";
import type { LossScaler } from "./loss-scale.ts";

/** GPU-resident inputs of a step; write new data into them between steps. */
export interface StepBatch {
  /** [B, T, 3, R, R] normalised frames */
  frames: Tensor;
  /** [C, context] prompt token ids (fixed for a run: they become constants of a compiled step) */
  tokens: Int32Array;
  classes: number;
  /** [B, C] target distributions */
  targets: Tensor;
}

/**
 * Which part of a step a plan holds: "step" = forward, loss, backward and the AdamW update;
 * "gradients" = forward and backward only (gradients accumulate until an update: the upstream's
 * ACCUMULATION_STEPS); "update" = the optimizer update alone, then zeroed gradients.
 */
export type StepParts = "step" | "gradients" | "update";

/**
 * Records the step's GPU work; `lossOut` (a 1-element f32 tensor) receives the loss. With a loss
 * scaler (mixed precision) the backward is scaled and a non-finite gradient skips the update.
 */
async function recordStep(
  model: ViFiClip,
  opt: AdamW,
  batch: StepBatch,
  lr: number,
  lossOut: Tensor,
  scaler?: LossScaler,
  parts: StepParts = "step",
) {
  const rt = lossOut.rt;
  const tape = new Tape();
  try {
    if (parts !== "update") {
      const loss = await model.loss(tape, batch.frames, batch.tokens, batch.classes, batch.targets);
      rt.copyBuffer(loss.value.buffer, 0, lossOut.buffer, 0, 4);
      await tape.backward(loss, scaler?.seed ?? 1);
    }
    if (parts === "gradients") return;
    await applyUpdate(opt, lr, scaler);
  } finally {
    tape.dispose();
  }
}

/**
 * The optimizer update once the gradients are in: with a loss scaler (mixed precision) the gradients are
 * unscaled inside the update, and a non-finite one skips it on the GPU.
 */
export async function applyUpdate(opt: AdamW, lr: number, scaler?: LossScaler): Promise<void> {
  if (scaler) {
    await scaler.check(opt.params);
    await opt.update(lr, { gradScale: () => 1 / scaler.scale, skipIf: scaler.overflow });
  } else {
    await opt.update(lr);
  }
}

/** An eager step: ops run as they are called. Returns the loss (one GPU round trip). */
export async function eagerStep(
  model: ViFiClip,
  opt: AdamW,
  batch: StepBatch,
  lr: number,
  scaler?: LossScaler,
): Promise<number> {
  const out = Tensor.empty(batch.frames.rt, [1], "f32", "loss");
  try {
    await recordStep(model, opt, batch, lr, out, scaler);
    if (await scaler?.update()) opt.unstep();
    return (await out.read())[0];
  } finally {
    out.dispose();
  }
}

export interface StepReport extends PlanStats {
  /** GPU time of the step (timestamp queries), null where the adapter has none */
  deviceMs: number | null;
  /** pool high-water mark of bytes in use (eager and plan buffers together) */
  peakBytes: number;
}

/**
 * A step compiled to a plan. compile() runs one real step while recording it (so it advances the
 * optimizer like an eager step); run() replays it with no per-op JavaScript.
 */
export class CompiledStep {
  private constructor(
    readonly plan: Plan,
    private opt: AdamW,
    private lossOut: Tensor,
    private scaler?: LossScaler,
    readonly parts: StepParts = "step",
  ) {}

  static async compile(
    model: ViFiClip,
    opt: AdamW,
    batch: StepBatch,
    lr: number,
    scaler?: LossScaler,
    opts: { parts?: StepParts } = {},
  ): Promise<CompiledStep> {
    const parts = opts.parts ?? "step";
    const rt = batch.frames.rt;
    // Parameter gradients and optimizer moments must exist before recording: they outlive the step.
    for (const p of opt.params) if (p.trainable) p.gradBuffer();
    opt.prepare();
    const lossOut = Tensor.empty(rt, [1], "f32", "loss");
    rt.beginCapture();
    let plan: Plan;
    try {
      await recordStep(model, opt, batch, lr, lossOut, scaler, parts);
    } finally {
      plan = rt.endCapture();
    }
    const step = new CompiledStep(plan, opt, lossOut, scaler, parts);
    if (parts !== "gradients" && await scaler?.update()) opt.unstep();
    return step;
  }

  /** Replay the step at learning rate `lr` (does not wait for the GPU, except to adapt a loss scale). */
  async run(lr: number): Promise<void> {
    if (this.parts === "gradients") return this.plan.run();
    this.opt.advance(lr);
    this.plan.run();
    // a skipped update is no AdamW step (apex O1): the next one keeps this step's bias corrections
    if (await this.scaler?.update()) this.opt.unstep();
  }

  /** Loss of the latest step (one GPU round trip). */
  async loss(): Promise<number> {
    return (await this.lossOut.read())[0];
  }

  async report(): Promise<StepReport> {
    const rt = this.lossOut.rt;
    return {
      ...this.plan.stats(),
      deviceMs: await this.plan.deviceMs(),
      peakBytes: rt.pool.stats.peakInUseBytes,
    };
  }

  get dispatches(): number {
    return this.plan.dispatches;
  }

  dispose(): void {
    this.plan.dispose();
    this.lossOut.dispose();
  }
}
