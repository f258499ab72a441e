// CLIP's contrastive loss and step against PyTorch: open_clip's ClipLoss (cross-entropy of
// logits_per_image and logits_per_text against arange(B), averaged) and its training loop (AdamW, then
// logit_scale clamped to [0, ln 100]) in tests/torch/vifi_torch.py `contrastive`, on the same weights,
// clips and captions (5 clips of 3 frames, two of them with the same caption).

import { Tape } from "../../lib/autograd/tape.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { type ClipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { contrastiveLoss, contrastiveStep, MAX_LOGIT_SCALE } from "../../lib/train/contrastive.ts";
import { AdamW } from "../../lib/train/optimizer.ts";
import { type RawTensors, readRaw, relErr, runTorch, skipWithoutTorch, writeRaw } from "./torch_env.ts";
import { assertTrainingParity } from "./training_parity.ts";

const ignore = skipWithoutTorch("torch contrastive tests");

const config: ClipConfig = {
  name: "torch-contrastive",
  embedDim: 16,
  vision: { width: 32, layers: 1, heads: 2, patch: 8, resolution: 32 },
  text: { width: 32, layers: 1, heads: 2, context: 16, vocab: 64 },
};

/** CLIP's weight decay; logit_scale starts above ln 100 (the loss lowers it here), so the first step clamps. */
const run = { lr: 2e-3, weightDecay: 0.2, steps: 8, logitScale: MAX_LOGIT_SCALE + 0.01 };
const [B, T, R] = [5, 3, config.vision.resolution];

/** Same tolerances as tests/torch/gradients_test.ts. */
const FORWARD_TOL = 1e-5;
const GRAD_TOL = 1e-4;

function inputs() {
  const rng = new Rng(4321);
  const weights = initClipWeights(config, 17, { randomNorms: true });
  weights.set("logit_scale", { shape: [], data: Float32Array.of(run.logitScale) });
  const frames = Float32Array.from(rng.normals(B * T * 3 * R * R));
  const tokens = randomTokens(config, B, rng);
  const ctx = config.text.context;
  tokens.copyWithin(3 * ctx, 0, ctx); // clips 0 and 3 share a caption
  return { weights, frames, tokens };
}

/** vifi's loss and gradients at the initial weights, then its steps: losses, logit_scale after each. */
async function vifiSide(model: ViFiClip, frames: Tensor, tokens: Int32Array) {
  const tape = new Tape();
  const loss = await contrastiveLoss(tape, model, frames, tokens);
  await tape.backward(loss);
  const got = new Map([["loss", Float32Array.from(await loss.value.read())]]);
  for (const p of model.trainable()) got.set(`grad.${p.name}`, Float32Array.from(await p.grad!.read()));
  tape.dispose();
  for (const p of model.trainable()) p.zeroGrad();
  const opt = new AdamW(model.trainable(), { weightDecay: run.weightDecay });
  const losses: number[] = [];
  const scales: number[] = [];
  for (let i = 0; i < run.steps; i++) {
    losses.push(await contrastiveStep(model, opt, frames, tokens, run.lr));
    scales.push((await model.clip.p("logit_scale").value.read())[0]);
  }
  opt.dispose();
  return { got, losses, scales };
}

function compareGradients(got: Map<string, Float32Array>, want: RawTensors, trained: number): void {
  const errs = [...want].map(([name, w]) => {
    const g = got.get(name);
    if (!g) throw new Error(`vifi has no ${name} (torch computed one)`);
    return [name, relErr(g, w.data)] as [string, number];
  });
  const grads = errs.filter(([n]) => n.startsWith("grad."));
  if (grads.length !== trained) {
    throw new Error(`torch gave ${grads.length} gradients, vifi trains ${trained}`);
  }
  const worst = grads.reduce((a, b) => (b[1] > a[1] ? b : a));
  const lossErr = errs.find(([n]) => n === "loss")![1];
  console.log(
    `  loss ${got.get("loss")![0].toFixed(6)} vs torch ${want.get("loss")!.data[0].toFixed(6)} ` +
      `(rel ${lossErr.toExponential(2)}); gradients (${grads.length}) max rel ${worst[1].toExponential(2)} ` +
      `(${worst[0]})`,
  );
  for (const [name, e] of errs) {
    const tol = name.startsWith("grad.") ? GRAD_TOL : FORWARD_TOL;
    if (!(e < tol)) throw new Error(`${name}: relative error ${e} against torch (tolerance ${tol})`);
  }
}

Deno.test({ name: "contrastive loss, gradients and clamped AdamW steps match PyTorch", ignore }, async () => {
  const rt = await getRuntime();
  rt.pool.poison = true;
  const { weights, frames, tokens } = inputs();
  const dir = await Deno.makeTempDir({ prefix: "vifi-torch-contrastive-" });
  const model = ViFiClip.fromWeights(rt, config, weights, "both");
  const tf = Tensor.from(rt, frames, [B, T, 3, R, R], "f32", "frames");
  try {
    Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
    Deno.writeTextFileSync(`${dir}/run.json`, JSON.stringify(run));
    writeRaw(dir, "weights", weights);
    writeRaw(
      dir,
      "inputs",
      new Map([
        ["frames", { shape: [B, T, 3, R, R], data: frames }],
        ["tokens", { shape: [B, config.text.context], data: tokens }],
      ]),
    );
    const torch = runTorch("contrastive", dir);
    const names = model.trainable().map((p) => p.name);
    const { got, losses, scales } = await vifiSide(model, tf, tokens);
    const final = new Map<string, Float32Array>();
    for (const [name, p] of model.clip.params) final.set(name, Float32Array.from(await p.value.read()));
    await torch;

    compareGradients(got, readRaw(dir, "out"), names.length);
    const steps = readRaw(dir, "steps");
    const wantScales = steps.get("scales")!.data;
    console.log(
      `  logit_scale per step: vifi ${scales.map((s) => s.toFixed(5))}, torch ${
        [...wantScales].map((s) => s.toFixed(5))
      }`,
    );
    // The clamp must have engaged on both sides (f32 ln 100 exactly), or this run does not test it.
    const ln100 = Math.fround(MAX_LOGIT_SCALE);
    if (!scales.includes(ln100) || !wantScales.includes(ln100)) {
      throw new Error(`logit_scale never reached the clamp at ln 100: vifi ${scales}, torch ${wantScales}`);
    }
    if (!(relErr(scales, wantScales) < FORWARD_TOL)) throw new Error(`logit_scale steps differ from torch`);
    assertTrainingParity(`${run.steps} contrastive steps`, {
      losses,
      names,
      initial: (name) => weights.get(name)!.data as Float32Array,
      final: (name) => final.get(name)!,
    }, steps);
  } finally {
    tf.dispose();
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
