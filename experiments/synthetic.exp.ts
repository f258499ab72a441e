// The demo's ViFi-CLIP row: the pretrained tiny CLIP (synthetic-pretrain.exp.ts) fine-tuned, both towers,
// on the base classes of the synthetic dataset (`deno task synthetic DIR` makes it; `deno task demo` makes
// it, pretrains or loads the pretrained weights, and runs this beside synthetic-zero-shot.exp.ts). Novel
// classes are unseen combinations of colour, shape and motion words, evaluated as they are.

import { defineExperiment } from "../lib/dsl/define.ts";

const dir = Deno.env.get("VIFI_SYNTHETIC_DIR") ?? "runs/synthetic/data";
const weights = Deno.env.get("VIFI_SYNTHETIC_WEIGHTS") ?? "runs/synthetic/pretrain/last.safetensors";

export default defineExperiment({
  name: "synthetic-b2n",
  description: "ViFi-CLIP: the pretrained tiny CLIP fine-tuned (both towers) on synthetic base classes",
  protocol: { kind: "base-to-novel", dataset: "synthetic", seed: 1 },
  model: {
    arch: "synthetic-words",
    weights,
    variant: "both",
    tokenizer: "words",
    vocab: `${dir}/words.txt`,
    precision: "f32",
  },
  data: { root: dir, frames: 8 },
  train: {
    list: `${dir}/base_train.txt`,
    labels: `${dir}/base_labels.csv`,
    epochs: 5,
    lr: 1e-4,
    batch: 8,
    warmupEpochs: 1,
    weightDecay: 0.001,
    saveFreq: 5,
    // Colour, shape and direction are the labels here: grayscale and hue jitter would erase colour,
    // a flip would turn "moving left" into "moving right".
    colorJitter: 0,
    grayScale: 0,
    flip: 0,
    crop: "square",
    // The paper's rows keep the upstream's mixup and cutmix; see the README for what they cost here.
    mixup: 0,
    cutmix: 0,
  },
  evals: [
    { name: "base", subset: "base", list: `${dir}/base_val.txt`, labels: `${dir}/base_labels.csv` },
    { name: "novel", subset: "novel", list: `${dir}/novel_val.txt`, labels: `${dir}/novel_labels.csv` },
  ],
  seed: 1,
  output: "runs/synthetic/train",
});
