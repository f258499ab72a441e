// 20 optimizer updates of vifi's training step beside the upstream's loop in PyTorch (torch.optim.AdamW,
// timm's warmup + cosine by loader iteration, label smoothing, accumulation 2, fixed frames, mixup off).
// The vifi side drives the trainer's own pieces the way lib/train/trainer.ts's loop does (LrSchedule,
// smoothedTargets, targets ÷ A, compiled "gradients" and "update" steps, zeroed gradients per epoch);
// the torch side is tests/torch/vifi_torch.py `train`, written from the spec.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { type ClipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { smoothedTargets } from "../../lib/train/mixup.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { LrSchedule } from "../../lib/train/schedule.ts";
import { CompiledStep, type StepParts } from "../../lib/train/step.ts";
import { type RawTensors, readRaw, runTorch, skipWithoutTorch, writeRaw } from "./torch_env.ts";
import { assertTrainingParity } from "./training_parity.ts";

const ignore = skipWithoutTorch("torch training tests");

const config: ClipConfig = {
  name: "torch-train",
  embedDim: 16,
  vision: { width: 32, layers: 1, heads: 2, patch: 8, resolution: 32 },
  text: { width: 32, layers: 1, heads: 2, context: 16, vocab: 64 },
};

/** 2 epochs × 20 loader iterations, accumulation 2: 20 updates, the first epoch all warmup. */
const run = {
  classes: 3,
  accumulation: 2,
  itersPerEpoch: 20,
  epochs: 2,
  warmupEpochs: 1,
  lr: 1e-3,
  weightDecay: 0.001,
  smoothing: 0.1,
  pool: 4,
};

Deno.test({ name: "20 AdamW updates: loss curve and final parameters match PyTorch", ignore }, async () => {
  const rt = await getRuntime();
  const rng = new Rng(77);
  const [B, T, C, R, A] = [2, 2, run.classes, config.vision.resolution, run.accumulation];
  const weights = initClipWeights(config, 31, { randomNorms: true });
  const tokens = randomTokens(config, C, rng);
  const pool = Array.from({ length: run.pool }, () => ({
    frames: Float32Array.from(rng.normals(B * T * 3 * R * R)),
    labels: Int32Array.from({ length: B }, () => rng.int(C)),
  }));
  const dir = await Deno.makeTempDir({ prefix: "vifi-torch-train-" });
  const model = ViFiClip.fromWeights(rt, config, weights, "both");
  const framesT = Tensor.empty(rt, [B, T, 3, R, R], "f32", "batch frames");
  const targetsT = Tensor.empty(rt, [B, C], "f32", "batch targets");
  const steps: Partial<Record<StepParts, CompiledStep>> = {};
  const opt = new AdamW(model.trainable(), { weightDecay: run.weightDecay });
  try {
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
    Deno.writeTextFileSync(`${dir}/train.json`, JSON.stringify(run));
    writeRaw(dir, "weights", weights);
    const inputs: RawTensors = new Map([["tokens", { shape: [C, config.text.context], data: tokens }]]);
    pool.forEach((p, k) => {
      inputs.set(`frames.${k}`, { shape: [B, T, 3, R, R], data: p.frames });
      inputs.set(`labels.${k}`, { shape: [B], data: p.labels });
    });
    writeRaw(dir, "inputs", inputs);
    const torch = runTorch("train", dir);

    // The trainer's loop (lib/train/trainer.ts) with the loader replaced by the fixed pool, one device.
    const schedule = new LrSchedule({
      lr: run.lr,
      epochs: run.epochs,
      warmupEpochs: run.warmupEpochs,
      itersPerEpoch: run.itersPerEpoch,
    });
    const batchStep = async (parts: StepParts, lr: number) => {
      const s = steps[parts];
      if (s) return await s.run(lr);
      const batch = { frames: framesT, tokens, classes: C, targets: targetsT };
      steps[parts] = await CompiledStep.compile(model, opt, batch, lr, undefined, { parts });
    };
    const losses: number[] = [];
    for (let epoch = 0; epoch < run.epochs; epoch++) {
      for (const p of opt.params) if (p.trainable) p.zeroGrad();
      for (let idx = 0; idx < run.itersPerEpoch; idx++) {
        const data = pool[(epoch * run.itersPerEpoch + idx) % run.pool];
        const targets = smoothedTargets(data.labels, C, run.smoothing);
        for (let i = 0; i < targets.length; i++) targets[i] /= A;
        rt.write(framesT.buffer, data.frames);
        rt.write(targetsT.buffer, targets);
        const updates = (idx + 1) % A === 0;
        const lr = schedule.current;
        await batchStep("gradients", lr);
        if (updates) await batchStep("update", lr);
        if (updates) schedule.afterUpdate(epoch, idx);
        losses.push(await steps.gradients!.loss());
      }
    }
    if (opt.step !== 20) throw new Error(`vifi took ${opt.step} AdamW steps, 20 expected`);
    const final = await model.clip.weights();

    await torch;
    assertTrainingParity("torch training parity (20 updates)", {
      losses,
      names: model.trainable().map((p) => p.name),
      initial: (name) => weights.get(name)!.data as Float32Array,
      final: (name) => final.get(name)!.data as Float32Array,
    }, readRaw(dir, "out"));
  } finally {
    for (const s of Object.values(steps)) s?.dispose();
    opt.dispose();
    framesT.dispose();
    targetsT.dispose();
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
