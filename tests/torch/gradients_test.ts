// vifi's forward and backward against torch autograd on a real-shaped, narrow CLIP: patch 16 at 224
// (197 image tokens), the 49,408-row vocabulary and 77-token context, width 64 and one block per tower so
// it runs in seconds. Same weights and inputs on both sides; torch's model is written from the spec in
// tests/torch/vifi_torch.py.

import { crossEntropyFn } from "../../lib/autograd/functions.ts";
import { Tape } from "../../lib/autograd/tape.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { type ClipConfig, initClipWeights } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { readRaw, relErr, runTorch, skipWithoutTorch, writeRaw } from "./torch_env.ts";

const ignore = skipWithoutTorch("torch gradient tests");

const config: ClipConfig = {
  name: "torch-parity",
  embedDim: 32,
  vision: { width: 64, layers: 1, heads: 2, patch: 16, resolution: 224 },
  text: { width: 64, layers: 1, heads: 2, context: 77, vocab: 49408 },
};

/** Forward outputs to ~f32 rounding; gradients pass through softmax and LayerNorm backward, a little looser. */
const FORWARD_TOL = 1e-5;
const GRAD_TOL = 1e-4;

Deno.test(
  { name: "ViFi-CLIP forward and every parameter gradient match torch autograd", ignore },
  async () => {
    const rt = await getRuntime();
    rt.pool.poison = true;
    const rng = new Rng(1234);
    const [B, T, C, R] = [2, 2, 3, config.vision.resolution];
    const weights = initClipWeights(config, 11, { randomNorms: true });
    const frames = Float32Array.from(rng.normals(B * T * 3 * R * R));
    const tokens = randomTokens(config, C, rng);
    // Soft targets (label smoothing 0.1 around one class per video), as training uses.
    const targets = new Float32Array(B * C).fill(0.1 / C);
    for (let b = 0; b < B; b++) targets[b * C + (b + 1) % C] += 0.9;

    const dir = await Deno.makeTempDir({ prefix: "vifi-torch-grad-" });
    try {
      Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
      writeRaw(dir, "weights", weights);
      writeRaw(
        dir,
        "inputs",
        new Map([
          ["frames", { shape: [B, T, 3, R, R], data: frames }],
          ["tokens", { shape: [C, config.text.context], data: tokens }],
          ["targets", { shape: [B, C], data: targets }],
        ]),
      );
      const torch = runTorch("forward", dir);

      const model = ViFiClip.fromWeights(rt, config, weights, "both");
      const tape = new Tape();
      const tf = Tensor.from(rt, frames, [B, T, 3, R, R], "f32", "frames");
      const tt = Tensor.from(rt, targets, [B, C], "f32", "targets");
      const out = await model.forward(tape, tf, tokens, C);
      const loss = await crossEntropyFn(tape, out.logits, tt);
      const got = new Map<string, Float32Array>([
        ["video", Float32Array.from(await out.video.value.read())],
        ["text", Float32Array.from(await out.text.value.read())],
        ["logits", Float32Array.from(await out.logits.value.read())],
        ["loss", Float32Array.from(await loss.value.read())],
      ]);
      await tape.backward(loss);
      const trained = model.trainable().length;
      for (const p of model.trainable()) got.set(`grad.${p.name}`, Float32Array.from(await p.grad!.read()));
      tape.dispose();
      model.dispose();
      tf.dispose();
      tt.dispose();

      await torch;
      const want = readRaw(dir, "out");
      const errs: [string, number][] = [];
      for (const [name, w] of want) {
        const g = got.get(name);
        if (!g) throw new Error(`vifi has no ${name} (torch computed one)`);
        errs.push([name, relErr(g, w.data)]);
      }
      const grads = errs.filter(([n]) => n.startsWith("grad."));
      if (grads.length !== trained) {
        throw new Error(`torch gave ${grads.length} gradients, vifi trains ${trained} parameters`);
      }
      const worst = (xs: [string, number][]) => xs.reduce((a, b) => (b[1] > a[1] ? b : a));
      const fwd = worst(errs.filter(([n]) => !n.startsWith("grad.")));
      const grad = worst(grads);
      console.log(
        `torch parity: forward max rel err ${fwd[1].toExponential(2)} (${fwd[0]}), ` +
          `gradients (${grads.length} parameters) max ${grad[1].toExponential(2)} (${grad[0]})`,
      );
      for (const [name, e] of errs) {
        const tol = name.startsWith("grad.") ? GRAD_TOL : FORWARD_TOL;
        if (!(e < tol)) throw new Error(`${name}: relative error ${e} against torch (tolerance ${tol})`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
