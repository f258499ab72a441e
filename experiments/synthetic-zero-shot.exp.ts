// The first row of the demo's table: the pretrained tiny CLIP (synthetic-pretrain.exp.ts) evaluated as it
// is, frozen, on the base and the novel classes of the synthetic dataset — CLIP's zero-shot, prompts
// "a photo of a {name}." — the row ViFi-CLIP's fine-tuning (synthetic.exp.ts) is compared against.

import { defineExperiment } from "../lib/dsl/define.ts";

const dir = Deno.env.get("VIFI_SYNTHETIC_DIR") ?? "runs/synthetic/data";
const weights = Deno.env.get("VIFI_SYNTHETIC_WEIGHTS") ?? "runs/synthetic/pretrain/last.safetensors";

export default defineExperiment({
  name: "synthetic-zero-shot",
  description: "the pretrained tiny CLIP, zero-shot on synthetic base and novel classes",
  protocol: { kind: "base-to-novel", dataset: "synthetic", seed: 1 },
  model: {
    arch: "synthetic-words",
    weights,
    variant: "frozen",
    tokenizer: "words",
    vocab: `${dir}/words.txt`,
    precision: "f32",
  },
  data: { root: dir, frames: 8 },
  evals: [
    { name: "base", subset: "base", list: `${dir}/base_val.txt`, labels: `${dir}/base_labels.csv` },
    { name: "novel", subset: "novel", list: `${dir}/novel_val.txt`, labels: `${dir}/novel_labels.csv` },
  ],
  seed: 1,
  output: "runs/synthetic/zero-shot",
});
