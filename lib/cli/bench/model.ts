// The whole-model rows of `deno task bench`: ViFi-CLIP ViT-B/16 on 1 video × 8 frames at 224² with 8
// classes (random weights): an eager forward pass, and a training step (both towers, AdamW) compiled
// to a plan and replayed. No reference engine runs the model in this process, so no ratio.

import type { Runtime } from "../../gpu/runtime.ts";
import { Rng } from "../../random/rng.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { Tape } from "../../autograd/tape.ts";
import { type ClipConfig, clipConfig, initClipWeights, type Weights } from "../../models/config.ts";
import { vifiForwardFlops } from "../../models/flops.ts";
import { randomTokens } from "../../models/parity.ts";
import { type Variant, ViFiClip } from "../../models/vifi.ts";
import type { Precision } from "../../models/clip.ts";
import { LossScaler } from "../../train/loss-scale.ts";
import { AdamW } from "../../train/optimizer.ts";
import { CompiledStep, eagerStep } from "../../train/step.ts";
import type { Emit, Want } from "./row.ts";

/** The model, its inputs, and the columns every model row shares. */
export interface ModelBench {
  rt: Runtime;
  model: ViFiClip;
  frames: Tensor;
  tokens: Int32Array;
  targets: Tensor;
  /** batch, frames per video, classes */
  B: number;
  T: number;
  C: number;
  forwardFlops: number;
  /** FLOPs of a training step of what trains */
  trainFlops: number;
  trainVariant: Variant;
  base: { shape: string; dtype: string; ref: null; ref_ms: null; ratio: null };
}

/** The vifi-forward and vifi-train-step rows (whichever --filter keeps), on one randomly initialised model. */
export async function modelRows(rt: Runtime, want: Want, emit: Emit): Promise<void> {
  const config = clipConfig("ViT-B/16");
  const [B, T, C] = [1, 8, 8];
  const shape = `ViT-B/16 ${B}x${T}x224² C=${C}`;
  const doForward = want("vifi-forward", shape);
  const doTrain = want("vifi-train-step", shape);
  if (!doForward && !doTrain) return;
  const m = modelBench(rt, config, { B, T, C, shape });
  try {
    if (doForward) emit(await forwardRow(m));
    if (doTrain) emit(await trainStepRow(m));
  } finally {
    disposeModelBench(m);
  }
}

export interface ModelBenchOptions {
  B: number;
  T: number;
  C: number;
  shape: string;
  precision?: Precision;
  /** what trains in the step row (default both towers) */
  variant?: Variant;
  /** random weights to use (default: drawn from seed 3) */
  weights?: Weights;
  /** FLOPs of the forward and of a training step; default both towers' (vifiForwardFlops, 3× for the step) */
  flops?: { forward: number; train: number };
}

export function modelBench(rt: Runtime, config: ClipConfig, o: ModelBenchOptions): ModelBench {
  const { B, T, C } = o;
  const rng = new Rng(3);
  const variant = o.variant ?? "both";
  const precision = o.precision ?? "f32";
  // frozen for the forward row (nothing recorded for backward); the step row sets `variant`
  const model = ViFiClip.fromWeights(rt, config, o.weights ?? initClipWeights(config, 3), "frozen", {
    precision,
  });
  const R = config.vision.resolution;
  const frames = Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames");
  const tokens = randomTokens(config, C, rng);
  const targets = Tensor.from(rt, Array.from({ length: B * C }, (_, i) => (i % C === 0 ? 1 : 0)), [B, C]);
  const forwardFlops = o.flops?.forward ?? vifiForwardFlops(config, B, T, C);
  // Backward costs about twice the forward of everything that trains (by default: both towers).
  const trainFlops = o.flops?.train ?? 3 * forwardFlops;
  const base = { shape: o.shape, dtype: precision, ref: null, ref_ms: null, ratio: null };
  return {
    rt,
    model,
    frames,
    tokens,
    targets,
    B,
    T,
    C,
    forwardFlops,
    trainFlops,
    trainVariant: variant,
    base,
  };
}

export function disposeModelBench(m: ModelBench): void {
  m.frames.dispose();
  m.targets.dispose();
  m.model.dispose();
}

/**
 * Eager forward passes after a warm-up one (best of `runs`): wall time, and the share of it the host
 * spent recording.
 */
export async function forwardRow(m: ModelBench, runs = 1) {
  const { rt, model, frames, tokens, B, T, C, forwardFlops, base } = m;
  rt.pool.resetPeaks();
  const run = async () => {
    const tape = new Tape();
    const t0 = performance.now();
    await model.forward(tape, frames, tokens, C);
    const host = performance.now() - t0;
    await rt.sync();
    const wall = performance.now() - t0;
    tape.dispose();
    return { host, wall };
  };
  model.dropTextCache();
  await run(); // compile pipelines, fill the class-embedding cache
  let best = await run();
  for (let i = 1; i < runs; i++) {
    const r = await run();
    if (r.wall < best.wall) best = r;
  }
  const { host, wall } = best;
  return {
    ...base,
    op: "vifi-forward",
    ms: wall,
    gflops: forwardFlops / wall / 1e6,
    frames_per_s: (B * T) / (wall / 1000),
    host_share: host / wall,
    peak_mb: rt.pool.stats.peakInUseBytes / 2 ** 20,
  };
}

/**
 * Replays of the compiled training step (best of `runs`), after an eager step that creates its state.
 * `wallTime`: the row's ms is the wall time of a replay including its wait, instead of the device time
 * from timestamp queries (which the row then reports as device_ms).
 */
export async function trainStepRow(m: ModelBench, runs = 1, wallTime = false) {
  const { rt, model, frames, tokens, targets, B, T, C, trainFlops, base } = m;
  model.setVariant(m.trainVariant);
  const opt = new AdamW(model.trainable());
  const scaler = base.dtype === "f16" ? new LossScaler(rt) : undefined;
  const batch = { frames, tokens, classes: C, targets };
  rt.pool.resetPeaks();
  await eagerStep(model, opt, batch, 1e-6, scaler); // creates gradients and moments
  const step = await CompiledStep.compile(model, opt, batch, 1e-6, scaler);
  await rt.sync();
  let wall = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await step.run(1e-6);
    await rt.sync();
    wall = Math.min(wall, performance.now() - t0);
  }
  const report = await step.report();
  const ms = wallTime ? wall : report.deviceMs ?? wall;
  const row = {
    ...base,
    op: "vifi-train-step",
    ms,
    gflops: trainFlops / ms / 1e6,
    frames_per_s: (B * T) / (ms / 1000),
    host_share: report.hostMs / ms,
    peak_mb: report.peakBytes / 2 ** 20,
    dispatches: report.dispatches,
    device_ms: report.deviceMs,
  };
  step.dispose();
  opt.dispose();
  return row;
}
