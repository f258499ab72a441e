// ViFi-CLIP on the kernels: parity with onnxruntime-web, whole-model gradients against finite
// differences, training on a fixed batch, variants and bad input.

import { Tape } from "../../lib/autograd/tape.ts";
import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { clipConfig, initClipWeights, initPromptWeights, promptShapes } from "../../lib/models/config.ts";
import { imageTowerParity, loadOrt, randomTokens, vifiParity } from "../../lib/models/parity.ts";
import { vifiLogitsReference } from "../../lib/models/reference.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { CompiledStep, eagerStep, type StepBatch } from "../../lib/train/step.ts";
import { LossScaler } from "../../lib/train/loss-scale.ts";
import { relErr } from "../../lib/selftest/check.ts";

const seed = sessionSeed();
console.log(`model tests: seed ${seed} (replay with VIFI_SEED=${seed})`);
const tiny = clipConfig("tiny");

let ort: unknown;
try {
  ort = await loadOrt();
} catch (e) {
  console.log(
    `parity tests skipped: onnxruntime-web cannot be imported (${e instanceof Error ? e.message : e})`,
  );
}

async function runtime(): Promise<Runtime> {
  const rt = await getRuntime();
  rt.pool.poison = true;
  return rt;
}

function oneHot(B: number, C: number, label: (b: number) => number): Float32Array {
  const t = new Float32Array(B * C);
  for (let b = 0; b < B; b++) t[b * C + label(b)] = 1;
  return t;
}

Deno.test({
  name: "tiny ViFi-CLIP logits and embeddings match onnxruntime-web (f32 < 1e-4)",
  ignore: !ort,
  async fn() {
    const rt = await runtime();
    const r = await vifiParity(rt, tiny, { batch: 2, frames: 3, classes: 5, seed, ort });
    console.log(`  rel_err ${JSON.stringify(r.outputs)}`);
    if (!(r.relErr < 1e-4)) throw new Error(`parity ${JSON.stringify(r.outputs)} ≥ 1e-4`);
  },
});

const f16 = (await getRuntime()).gpu.features.f16;
if (!f16) console.log("mixed-precision tests skipped: the adapter has no working shader-f16");

Deno.test({
  name: "tiny ViFi-CLIP in mixed precision (f16) matches onnxruntime-web f32 (< 5e-3)",
  ignore: !ort || !f16,
  async fn() {
    const rt = await runtime();
    const r = await vifiParity(rt, tiny, { batch: 2, frames: 3, classes: 5, seed, ort, dtype: "f16" });
    console.log(`  rel_err ${JSON.stringify(r.outputs)}`);
    if (!(r.relErr < 5e-3)) throw new Error(`parity ${JSON.stringify(r.outputs)} ≥ 5e-3`);
  },
});

for (const dtype of ["f32", "f16"] as const) {
  const tol = dtype === "f32" ? 1e-4 : 5e-3;
  Deno.test({
    name: `ViT-B/16 image tower (1 frame, 224², random weights) matches onnxruntime-web (${dtype} < ${tol})`,
    ignore: !ort || (dtype === "f16" && !f16),
    async fn() {
      const rt = await runtime();
      // The image tower reads only the vision settings and the embedding size: tiny text keeps the
      // 25M-parameter token table out of this test.
      const config = { ...clipConfig("ViT-B/16"), text: tiny.text };
      const r = await imageTowerParity(rt, config, { frames: 1, seed, ort, dtype });
      console.log(`  rel_err ${r.relErr.toExponential(2)}`);
      if (!(r.relErr < tol)) throw new Error(`parity ${r.relErr} ≥ ${tol}`);
    },
  });
}

/** Loss on a fixed batch, no gradients recorded. */
async function lossOf(model: ViFiClip, frames: Tensor, tokens: Int32Array, C: number, targets: Tensor) {
  const saved = model.variant;
  model.setVariant("frozen");
  const tape = new Tape();
  const loss = (await (await model.loss(tape, frames, tokens, C, targets)).value.read())[0];
  tape.dispose();
  model.setVariant(saved);
  return loss;
}

/**
 * Central differences of the loss along a random direction over 3 elements of each tensor kind
 * (layer 0 of each tower stands for the others), against the backward's gradients.
 */
async function gradientCheck(model: ViFiClip, rng: Rng): Promise<{ rel: number; kinds: number }> {
  const rt = model.clip.rt;
  const [B, T, C, R] = [2, 2, 3, tiny.vision.resolution];
  const frames = Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames");
  const tokens = randomTokens(tiny, C, rng);
  // Soft targets (label smoothing-like) so every logit carries gradient.
  const tg = oneHot(B, C, (b) => b % C).map((v) => 0.8 * v + 0.2 / C);
  const targets = Tensor.from(rt, tg, [B, C], "f32", "targets");
  const tape = new Tape();
  await tape.backward(await model.loss(tape, frames, tokens, C, targets));
  tape.dispose();
  const kinds = model.trainable().map((p) => p.name).filter((n) =>
    !/resblocks\.[2-9]|resblocks\.1\.(?!VPT)/.test(n)
  );
  // Read every gradient first: evaluating the loss below freezes the model, which frees them.
  const grads = new Map<string, Float32Array>();
  for (const name of kinds) grads.set(name, Float32Array.from(await model.clip.p(name).grad!.read()));
  const rows: string[] = [];
  let num = 0;
  let den = 0;
  for (const name of kinds) {
    const p = model.clip.p(name);
    const value = Float32Array.from(await p.value.read());
    const grad = grads.get(name)!;
    // Small-norm tensors (prompt vectors, std 0.02) feed LayerNorms that divide by their spread: a step
    // that is large next to that spread measures curvature, not slope, so the step scales with it.
    const rms = Math.sqrt(value.reduce((a, v) => a + v * v, 0) / value.length);
    const eps = 2e-3 * Math.min(1, Math.max(rms, 1e-3) / 0.05);
    const picks = Array.from({ length: Math.min(3, value.length) }, () => rng.int(value.length));
    const dir = picks.map(() => (rng.next() < 0.5 ? -1 : 1));
    const analytic = picks.reduce((s, i, k) => s + grad[i] * dir[k], 0);
    const at = async (sign: number) => {
      const v = value.slice();
      picks.forEach((i, k) => (v[i] += sign * eps * dir[k]));
      rt.device.queue.writeBuffer(p.value.buffer, 0, v);
      return await lossOf(model, frames, tokens, C, targets);
    };
    const [plus, minus] = [await at(1), await at(-1)];
    const fd = (plus - minus) / (2 * eps);
    rt.device.queue.writeBuffer(p.value.buffer, 0, value);
    num += (fd - analytic) ** 2;
    den += analytic ** 2;
    // The f32 loss carries rounding noise of up to ~1e-6 of its size (seen: 6e-7 along key-bias
    // directions, where the true gradient is exactly zero), and the difference divides it by 2·eps.
    const noise = (1e-6 * Math.max(Math.abs(plus), Math.abs(minus))) / eps;
    rows.push(`${name}: fd ${fd.toExponential(3)} analytic ${analytic.toExponential(3)}`);
    if (Math.abs(fd - analytic) > 0.05 * Math.abs(analytic) + 2e-4 + noise) {
      throw new Error(`gradient of ${name} disagrees:\n  ${rows.join("\n  ")}`);
    }
  }
  frames.dispose();
  targets.dispose();
  const rel = Math.sqrt(num / den);
  if (!(rel < 1e-2)) throw new Error(`whole-model gradient error ${rel}:\n  ${rows.join("\n  ")}`);
  return { rel, kinds: kinds.length };
}

Deno.test("whole-model gradients match central finite differences (tiny, every tensor kind)", async () => {
  const rt = await runtime();
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed, { randomNorms: true }), "both");
  const r = await gradientCheck(model, new Rng(seed));
  console.log(`  ${r.kinds} tensor kinds, ‖fd − analytic‖/‖analytic‖ = ${r.rel.toExponential(2)}`);
  model.dispose();
});

Deno.test("prompt variant forward matches the float64 reference (deep text and vision prompts, f32 < 1e-4)", async () => {
  const rt = await runtime();
  const rng = new Rng(seed);
  const weights = initClipWeights(tiny, seed, { randomNorms: true });
  const prompts = { textCtx: 3, visionCtx: 4, textDepth: 2, visionDepth: 2 };
  const promptWeights = initPromptWeights(tiny, prompts, seed + 1);
  const model = ViFiClip.fromWeights(rt, tiny, weights, "frozen");
  model.clip.addPrompts(prompts, promptWeights);
  const [B, T, C, R] = [2, 2, 3, tiny.vision.resolution];
  const frames = rng.normals(B * T * 3 * R * R);
  // "SOT X X X name… EOT": the placeholders are what the learned context replaces.
  const ctx = tiny.text.context;
  const eot = tiny.text.vocab - 1;
  const tokens = new Int32Array(C * ctx);
  for (let c = 0; c < C; c++) {
    const row = [eot - 1, ...Array(prompts.textCtx).fill(7)];
    for (let i = 0; i < 1 + c; i++) row.push(1 + rng.int(eot - 2));
    row.push(eot);
    tokens.set(row, c * ctx);
  }
  const tf = Tensor.from(rt, frames, [B, T, 3, R, R]);
  const ours = await model.embed(tf, tokens, C);
  const ref = vifiLogitsReference(tiny, weights, frames, B, T, tokens, C, {
    config: prompts,
    weights: promptWeights,
  });
  const errs = {
    logits: relErr(ours.logits, ref.logits),
    video: relErr(ours.video, ref.video),
    text: relErr(ours.text, ref.text),
  };
  console.log(`  rel_err ${JSON.stringify(errs)}`);
  if (!Object.values(errs).every((e) => e < 1e-4)) {
    throw new Error(`prompted model differs: ${JSON.stringify(errs)}`);
  }
  tf.dispose();
  model.dispose();
});

Deno.test("prompt variant: only prompts train, and their gradients match finite differences", async () => {
  const rt = await runtime();
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed, { randomNorms: true }), "frozen");
  const prompts = { textCtx: 3, visionCtx: 4, textDepth: 2, visionDepth: 2 };
  model.clip.addPrompts(prompts, initPromptWeights(tiny, prompts, seed));
  model.setVariant("prompt");
  const names = model.trainable().map((p) => p.name).sort();
  const want = promptShapes(tiny, prompts).map(([n]) => n).sort();
  if (JSON.stringify(names) !== JSON.stringify(want)) {
    throw new Error(`prompt variant trains ${names.join(", ")}`);
  }
  const r = await gradientCheck(model, new Rng(seed));
  console.log(`  ${r.kinds} prompt tensors, ‖fd − analytic‖/‖analytic‖ = ${r.rel.toExponential(2)}`);
  model.dispose();
});

function fixedBatch(rt: Runtime, rng: Rng, B: number, T: number, C: number): StepBatch {
  const R = tiny.vision.resolution;
  return {
    frames: Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R], "f32", "frames"),
    tokens: randomTokens(tiny, C, rng),
    classes: C,
    targets: Tensor.from(rt, oneHot(B, C, (b) => b % C), [B, C], "f32", "targets"),
  };
}

Deno.test("compiled step overfits a fixed batch: loss falls by ≥ 90 %, GPU memory stays flat", async () => {
  const rt = await runtime();
  rt.pool.poison = false;
  const rng = new Rng(seed);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "both");
  const batch = fixedBatch(rt, rng, 4, 2, 4);
  const opt = new AdamW(model.trainable(), { weightDecay: 0 });
  const losses = [await eagerStep(model, opt, batch, 1e-3)];
  const step = await CompiledStep.compile(model, opt, batch, 1e-3);
  losses.push(await step.loss());
  const inUse = rt.pool.stats.inUseBytes;
  for (let i = 0; i < 28; i++) {
    await step.run(1e-3);
    losses.push(await step.loss());
    if (rt.pool.stats.inUseBytes !== inUse) {
      throw new Error(
        `GPU memory in use went from ${inUse} to ${rt.pool.stats.inUseBytes} bytes at replay ${i}`,
      );
    }
  }
  const report = await step.report();
  console.log(
    `  loss ${losses[0].toFixed(4)} → ${losses.at(-1)!.toFixed(4)}; ${report.dispatches} dispatches, ` +
      `host ${report.hostMs.toFixed(2)} ms, device ${report.deviceMs?.toFixed(1)} ms per step`,
  );
  if (!(losses.at(-1)! < 0.1 * losses[0])) throw new Error(`loss only went ${losses[0]} → ${losses.at(-1)}`);
  step.dispose();
  opt.dispose();
  batch.frames.dispose();
  batch.targets.dispose();
  model.dispose();
});

Deno.test({
  name: "mixed precision trains: dynamic loss scaling skips overflowing steps, loss falls by ≥ 90 %",
  ignore: !f16,
  async fn() {
    const rt = await runtime();
    rt.pool.poison = false;
    const rng = new Rng(seed);
    const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, seed), "both", { precision: "f16" });
    const batch = fixedBatch(rt, rng, 4, 2, 4);
    const opt = new AdamW(model.trainable(), { weightDecay: 0 });
    // 2^20 is sure to overflow f16 gradients at first: the scaler must skip and back off.
    const scaler = new LossScaler(rt, 2 ** 20);
    const losses = [await eagerStep(model, opt, batch, 1e-3, scaler)];
    const step = await CompiledStep.compile(model, opt, batch, 1e-3, scaler);
    losses.push(await step.loss());
    for (let i = 0; i < 40; i++) {
      await step.run(1e-3);
      losses.push(await step.loss());
    }
    console.log(
      `  loss ${losses[0].toFixed(4)} → ${losses.at(-1)!.toFixed(4)}; scale 2^20 → 2^${
        Math.log2(scaler.scale)
      }, ` +
        `${scaler.skipped} steps skipped`,
    );
    if (scaler.skipped === 0 || scaler.scale >= 2 ** 20) throw new Error("the loss scale never backed off");
    const master = await model.clip.p("visual.proj").value.read();
    if (!master.every(Number.isFinite)) throw new Error("non-finite master weights after skipped steps");
    if (!(losses.at(-1)! < 0.1 * losses[0])) {
      throw new Error(`loss only went ${losses[0]} → ${losses.at(-1)}`);
    }
    step.dispose();
    scaler.dispose();
    opt.dispose();
    batch.frames.dispose();
    batch.targets.dispose();
    model.dispose();
  },
});

Deno.test("eager and compiled steps give the same parameters after 3 steps (f32 < 1e-5)", async () => {
  const rt = await runtime();
  rt.pool.poison = false;
  const rng = new Rng(seed);
  const weights = initClipWeights(tiny, seed, { randomNorms: true });
  const batch = fixedBatch(rt, rng, 3, 2, 5);
  const lrs = [1e-3, 2e-3, 5e-4];
  const eager = ViFiClip.fromWeights(rt, tiny, weights, "both");
  const eagerOpt = new AdamW(eager.trainable());
  for (const lr of lrs) await eagerStep(eager, eagerOpt, batch, lr);
  const compiled = ViFiClip.fromWeights(rt, tiny, weights, "both");
  const opt = new AdamW(compiled.trainable());
  await eagerStep(compiled, opt, batch, lrs[0]);
  const step = await CompiledStep.compile(compiled, opt, batch, lrs[1]); // the recording is step 2
  await step.run(lrs[2]);
  // Compiled from the very first step, before the optimizer has any state (as the trainer does).
  const first = ViFiClip.fromWeights(rt, tiny, weights, "both");
  const firstOpt = new AdamW(first.trainable());
  const firstStep = await CompiledStep.compile(first, firstOpt, batch, lrs[0]);
  for (const lr of lrs.slice(1)) await firstStep.run(lr);
  const a = await eager.clip.weights();
  let worst = 0;
  for (const model of [compiled, first]) {
    const b = await model.clip.weights();
    for (const [name, w] of a) {
      const e = relErr(b.get(name)!.data, w.data);
      if (!(e < 1e-5)) throw new Error(`${name}: eager and compiled differ by ${e}`);
      worst = Math.max(worst, e);
    }
  }
  firstStep.dispose();
  firstOpt.dispose();
  first.dispose();
  console.log(`  worst parameter relative difference ${worst.toExponential(2)}`);
  step.dispose();
  for (const o of [eagerOpt, opt]) o.dispose();
  eager.dispose();
  compiled.dispose();
  batch.frames.dispose();
  batch.targets.dispose();
});

Deno.test("variants train what the spec says; frozen parameters get no gradient memory", async () => {
  const rt = await runtime();
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 1), "image");
  const names = (v: "both" | "image" | "text" | "frozen") => {
    model.setVariant(v);
    return model.trainable().map((p) => p.name);
  };
  const all = [...model.clip.params.keys()];
  const both = names("both");
  if (both.includes("token_embedding.weight") || both.length !== all.length - 1) {
    throw new Error("both: wrong set");
  }
  const image = names("image");
  if (
    !image.every((n) => n.startsWith("visual.")) ||
    image.length !== all.filter((n) => n.startsWith("visual.")).length
  ) {
    throw new Error("image: wrong set");
  }
  const text = names("text");
  if (text.some((n) => n.startsWith("visual.") || n === "logit_scale" || n === "token_embedding.weight")) {
    throw new Error("text: wrong set");
  }
  if (names("frozen").length !== 0) throw new Error("frozen: something trains");

  model.setVariant("image");
  const rng = new Rng(seed);
  const [B, T, C, R] = [1, 2, 3, tiny.vision.resolution];
  const frames = Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R]);
  const tokens = randomTokens(tiny, C, rng);
  const targets = Tensor.from(rt, oneHot(B, C, () => 1), [B, C]);
  const tape = new Tape();
  await tape.backward(await model.loss(tape, frames, tokens, C, targets));
  tape.dispose();
  for (const [name, p] of model.clip.params) {
    if (name.startsWith("visual.") !== (p.grad !== undefined)) {
      throw new Error(`${name}: gradient presence is wrong`);
    }
  }
  // A frozen text tower is encoded once: the second forward records fewer dispatches.
  const count = async () => {
    const before = rt.dispatches;
    const t = new Tape();
    await model.forward(t, frames, tokens, C);
    t.dispose();
    return rt.dispatches - before;
  };
  await count();
  const first = await count();
  model.dropTextCache();
  const uncached = await count();
  if (!(first < uncached)) throw new Error(`text cache unused: ${first} vs ${uncached} dispatches`);
  frames.dispose();
  targets.dispose();
  model.dispose();
});

Deno.test("embeddings export: unit-norm video and class embeddings", async () => {
  const rt = await runtime();
  const rng = new Rng(seed);
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 2), "both");
  const [B, T, C, R] = [3, 2, 4, tiny.vision.resolution];
  const frames = Tensor.from(rt, rng.normals(B * T * 3 * R * R), [B, T, 3, R, R]);
  const { video, text } = await model.embed(frames, randomTokens(tiny, C, rng), C);
  const E = tiny.embedDim;
  for (const [what, x, n] of [["video", video, B], ["text", text, C]] as const) {
    if (x.length !== n * E) throw new Error(`${what}: ${x.length} values, expected ${n * E}`);
    for (let r = 0; r < n; r++) {
      const norm = Math.hypot(...x.subarray(r * E, (r + 1) * E));
      if (Math.abs(norm - 1) > 1e-5) throw new Error(`${what} row ${r} has norm ${norm}`);
    }
  }
  frames.dispose();
  model.dispose();
});

Deno.test("bad weights and inputs fail naming the tensor and both shapes", async () => {
  const rt = await runtime();
  const w = initClipWeights(tiny, 3);
  w.set("visual.proj", { shape: [32, 17], data: new Float32Array(32 * 17) });
  let msg = "";
  try {
    ViFiClip.fromWeights(rt, tiny, w);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("visual.proj") || !msg.includes("[32, 17]") || !msg.includes("[32, 16]")) {
    throw new Error(`unhelpful error: ${msg}`);
  }
  const model = ViFiClip.fromWeights(rt, tiny, initClipWeights(tiny, 3));
  const bad = Tensor.zeros(rt, [1, 2, 3, 31, 31], "f32", "frames");
  msg = "";
  try {
    await model.forward(new Tape(), bad, randomTokens(tiny, 2, new Rng(1)), 2);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("frames") || !msg.includes("[2, 3, 31, 31]") || !msg.includes("32, 32")) {
    throw new Error(`unhelpful error: ${msg}`);
  }
  bad.dispose();
  model.dispose();
});
