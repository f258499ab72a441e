// Zero-shot table: fine-tune on K400 (32 frames, 10 epochs, effective batch 256 as on 8 GPUs), then
// evaluate that checkpoint on HMDB-51, UCF-101 and K600, three splits each (docs/upstream.md §6.3, §9). One run per
// row: ViFi-CLIP (both towers), image-FT, text-FT.

import { defineExperiment, sweep } from "../lib/dsl/define.ts";
import {
  clipWeights,
  k400TrainFiles,
  k400Val,
  trainFiles,
  videoRoot,
  zeroShotEvals,
} from "../lib/dsl/paper-settings.ts";

const fineTuned = sweep(({ variant }) => ({
  name: `zero-shot-k400-${variant === "both" ? "vifi" : `${variant}-ft`}`,
  description: `K400-trained ${variant} fine-tuning, zero-shot on HMDB / UCF / K600 (3 splits each)`,
  protocol: { kind: "zero-shot", dataset: "k400" },
  model: { arch: "ViT-B/16", weights: clipWeights(), variant },
  data: { root: videoRoot("k400"), frames: 32 },
  train: {
    ...trainFiles("k400", k400TrainFiles()),
    epochs: 10,
    lr: 8e-6,
    // "# Effective BS 256" (upstream config): 8 GPUs × 4 × 8, here 64 batches of 4 per update
    batch: 4,
    effectiveBatch: 256,
    worldSize: 8,
    saveFreq: 1,
  },
  // the first evaluation is the per-epoch validation; the rest run on the final weights
  evals: [k400Val(), ...zeroShotEvals()],
}), { variant: ["both", "image", "text"] as const });

// the vanilla CLIP row: no training, bare class names as prompts (maintainers: templates scored lower)
const vanilla = defineExperiment({
  name: "zero-shot-clip",
  description: "OpenAI CLIP ViT-B/16 without fine-tuning, zero-shot on HMDB / UCF / K600",
  protocol: { kind: "zero-shot" },
  model: { arch: "ViT-B/16", weights: clipWeights(), variant: "frozen", template: "{name}" },
  data: { root: videoRoot("k400"), frames: 32 },
  evals: zeroShotEvals(),
});

export default [...fineTuned, vanilla];
