// Contrastive pretraining of the demo's tiny CLIP (issue 14): CLIP's symmetric in-batch loss on synthetic
// image–caption pairs, drawn afresh every step, whose captions name colour, shape and motion in many
// phrasings. The novel colour × shape × motion triples of the synthetic split of `novelSeed` (the demo's
// dataset is `deno task synthetic --seed 1`) are never named together in one caption, so zero-shot on the
// novel classes reads combinations of words the text tower never saw. The result,
// runs/synthetic/pretrain/last.safetensors, is what a base-to-novel experiment names as model.weights.

import { defineExperiment } from "../lib/dsl/define.ts";

export default defineExperiment({
  name: "synthetic-pretrain",
  description: "a tiny CLIP pretrained contrastively on synthetic caption pairs (novel triples held out)",
  protocol: { kind: "pretrain", dataset: "synthetic" },
  model: { arch: "synthetic", variant: "both", tokenizer: "bytes", precision: "f32" },
  pretrain: {
    steps: 300,
    batch: 64,
    lr: 2e-3,
    warmupSteps: 30,
    weightDecay: 0.05,
    // strips of two frames: the trail of a moving shape shows its direction
    frames: 2,
    novelSeed: 1,
    novelClips: "partial",
  },
  evals: [],
  seed: 1,
  output: "runs/synthetic/pretrain",
});
