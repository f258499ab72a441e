// Fully supervised K400 table: 16 frames, 30 epochs, validation on K400 val every epoch (1 view) and
// the final weights on 4 clips × 3 crops (docs/upstream.md §6.3, §9). ViFi-CLIP uses an effective batch twice that
// of the image-FT and text-FT rows, with a higher learning rate, as the shipped configs do.

import { sweep } from "../lib/dsl/define.ts";
import { clipWeights, k400TrainFiles, k400Val, trainFiles, videoRoot } from "../lib/dsl/paper-settings.ts";

export default sweep(({ variant }) => ({
  name: `fully-supervised-k400-${variant === "both" ? "vifi" : `${variant}-ft`}`,
  protocol: { kind: "fully-supervised", dataset: "k400" },
  model: { arch: "ViT-B/16", weights: clipWeights(), variant },
  data: { root: videoRoot("k400"), frames: 16 },
  train: {
    ...trainFiles("k400", k400TrainFiles()),
    epochs: 30,
    lr: variant === "both" ? 2.2e-5 : 8e-6,
    // "# BS 512" / "# BS 256" (upstream configs): 8 GPUs × 4 × 16 / 8
    batch: 4,
    effectiveBatch: variant === "both" ? 512 : 256,
    worldSize: 8,
    saveFreq: 1,
    finalViews: { clips: 4, crops: 3 },
  },
  evals: [k400Val()],
}), { variant: ["both", "image", "text"] as const });
