// Mixed precision as apex O1 (the upstream's --opt-level O1): the loss scale starts at 2^16, and a step
// skipped for overflow is no AdamW step — its counter, moments and parameters stay as they were, so
// the next update's bias corrections are those of a run that never met the overflow.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { LossScaler } from "../../lib/train/loss-scale.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { CompiledStep, eagerStep, type StepBatch } from "../../lib/train/step.ts";

const tiny = clipConfig("tiny");

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

function batchOf(rt: Awaited<ReturnType<typeof getRuntime>>, seed: number): StepBatch {
  const rng = new Rng(seed);
  const B = 2, T = 2, C = 3, R = tiny.vision.resolution;
  const targets = new Float32Array(B * C);
  for (let b = 0; b < B; b++) targets[b * C + (b % C)] = 1;
  return {
    frames: Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames"),
    tokens: randomTokens(tiny, C, rng),
    classes: C,
    targets: Tensor.from(rt, targets, [B, C], "f32", "targets"),
  };
}

/** Force the next step to overflow: a seed so large that every gradient becomes ±∞ or NaN. */
function setScale(scaler: LossScaler, scale: number): void {
  scaler.scale = scale;
  scaler.rt.write(scaler.seed.buffer, new Float32Array([scale]));
}

Deno.test("loss scale: starts at 2^16 as apex O1's dynamic scaler", async () => {
  const scaler = new LossScaler(await getRuntime());
  check(scaler.scale === 2 ** 16, `initial scale ${scaler.scale}`);
  check((await scaler.seed.read())[0] === 2 ** 16, "seed on the GPU");
  scaler.dispose();
});

Deno.test("loss scale: an overflow step leaves AdamW's step and the parameters as they were; the next update equals an unskipped run's", async () => {
  const rt = await getRuntime();
  const batch = batchOf(rt, 11);
  const weights = initClipWeights(tiny, 12);
  const lrs = [1e-3, 5e-4];
  const run = async (compiled: boolean, overflowAfter?: number) => {
    const model = ViFiClip.fromWeights(rt, tiny, weights, "both");
    const opt = new AdamW(model.trainable(), { weightDecay: 0.001 });
    const scaler = new LossScaler(rt);
    const observed: { step: number; same: boolean }[] = [];
    let step: CompiledStep | undefined;
    const one = async (lr: number) => {
      if (!compiled) return void await eagerStep(model, opt, batch, lr, scaler);
      if (!step) step = await CompiledStep.compile(model, opt, batch, lr, scaler);
      else await step.run(lr);
    };
    for (let i = 0; i < lrs.length; i++) {
      await one(lrs[i]);
      if (i === overflowAfter) {
        const before = await model.clip.weights();
        setScale(scaler, 3e38);
        await one(lrs[i]);
        const after = await model.clip.weights();
        const same = [...before].every(([k, t]) => t.data.every((x, j) => x === after.get(k)!.data[j]));
        observed.push({ step: opt.step, same });
        check(scaler.skipped === 1, `skipped ${scaler.skipped}`);
        setScale(scaler, 2 ** 16);
      }
    }
    const final = await model.clip.weights();
    const result = { final, step: opt.step, observed };
    step?.dispose();
    scaler.dispose();
    opt.dispose();
    model.dispose();
    return result;
  };
  for (const compiled of [false, true]) {
    const plain = await run(compiled);
    const skipped = await run(compiled, 0);
    const how = compiled ? "compiled" : "eager";
    check(skipped.observed[0].step === 1, `${how}: step counter ${skipped.observed[0].step} after the skip`);
    check(skipped.observed[0].same, `${how}: the skipped step changed parameters`);
    check(skipped.step === plain.step, `${how}: ${skipped.step} updates vs ${plain.step}`);
    // the update after the skip is t = 2 as in the run without it: identical parameters
    for (const [name, t] of plain.final) {
      const got = skipped.final.get(name)!.data;
      for (let i = 0; i < t.data.length; i++) {
        if (got[i] !== t.data[i]) throw new Error(`${how}: ${name}[${i}] ${got[i]} vs ${t.data[i]}`);
      }
    }
  }
  batch.frames.dispose();
  batch.targets.dispose();
});
