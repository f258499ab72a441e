// The whole-model rows of `deno task bench`: ViFi-CLIP ViT-B/16 on 1 video × 8 frames at 224² with 8
// classes (random weights): an eager forward pass, and a training step (both towers, AdamW) compiled
// to a plan and replayed. No reference engine runs the model in this process, so no ratio.

import type { Runtime } from "../../gpu/runtime.ts";
import { Rng } from "../../random/rng.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { Tape } from "../../autograd/tape.ts";
import { type ClipConfig, clipConfig, initClipWeights } from "../../models/config.ts";
import { vifiForwardFlops } from "../../models/flops.ts";
import { randomTokens } from "../../models/parity.ts";
import { ViFiClip } from "../../models/vifi.ts";
import { AdamW } from "../../train/optimizer.ts";
import { CompiledStep, eagerStep } from "../../train/step.ts";
import type { Emit, Want } from "./row.ts";

/** The model, its inputs, and the columns every model row shares. */
interface ModelBench {
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
  const m = modelBench(rt, config, B, T, C, shape);
  try {
    if (doForward) emit(await forwardRow(m));
    if (doTrain) emit(await trainStepRow(m));
  } finally {
    m.frames.dispose();
    m.targets.dispose();
    m.model.dispose();
  }
}

function modelBench(
  rt: Runtime,
  config: ClipConfig,
  B: number,
  T: number,
  C: number,
  shape: string,
): ModelBench {
  const rng = new Rng(3);
  const model = ViFiClip.fromWeights(rt, config, initClipWeights(config, 3), "frozen");
  const R = config.vision.resolution;
  const frames = Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames");
  const tokens = randomTokens(config, C, rng);
  const targets = Tensor.from(rt, Array.from({ length: B * C }, (_, i) => (i % C === 0 ? 1 : 0)), [B, C]);
  const forwardFlops = vifiForwardFlops(config, B, T, C);
  const base = { shape, dtype: "f32", ref: null, ref_ms: null, ratio: null };
  return { rt, model, frames, tokens, targets, B, T, C, forwardFlops, base };
}

/** One eager forward pass after a warm-up one: wall time, and the share of it the host spent recording. */
async function forwardRow({ rt, model, frames, tokens, B, T, C, forwardFlops, base }: ModelBench) {
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
  const { host, wall } = await run();
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

/** One replay of the compiled training step (both towers), after an eager step that creates its state. */
async function trainStepRow({ rt, model, frames, tokens, targets, B, T, C, forwardFlops, base }: ModelBench) {
  model.setVariant("both");
  const opt = new AdamW(model.trainable());
  const batch = { frames, tokens, classes: C, targets };
  rt.pool.resetPeaks();
  await eagerStep(model, opt, batch, 1e-6); // creates gradients and moments
  const step = await CompiledStep.compile(model, opt, batch, 1e-6);
  await rt.sync();
  const t0 = performance.now();
  await step.run(1e-6);
  await rt.sync();
  const wall = performance.now() - t0;
  const report = await step.report();
  const ms = report.deviceMs ?? wall;
  // Backward costs about twice the forward of everything that trains (here: both towers).
  const flops = 3 * forwardFlops;
  const row = {
    ...base,
    op: "vifi-train-step",
    ms,
    gflops: flops / ms / 1e6,
    frames_per_s: (B * T) / (ms / 1000),
    host_share: report.hostMs / ms,
    peak_mb: report.peakBytes / 2 ** 20,
    dispatches: report.dispatches,
  };
  step.dispose();
  opt.dispose();
  return row;
}
