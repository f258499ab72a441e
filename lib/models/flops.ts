// FLOP counts (2 per multiply-add) of CLIP's GEMMs, for throughput figures. LayerNorm, softmax and
// elementwise work are a few percent and left out, as is customary.

import { type ClipConfig, visionTokens } from "./config.ts";

function blockFlops(tokens: number, width: number): number {
  const qkv = 2 * tokens * width * 3 * width;
  const attn = 2 * 2 * tokens * tokens * width;
  const out = 2 * tokens * width * width;
  const mlp = 2 * 2 * tokens * width * 4 * width;
  return qkv + attn + out + mlp;
}

/** Image tower forward for `frames` frames. */
export function imageTowerFlops(c: ClipConfig, frames: number): number {
  const v = c.vision;
  const L = visionTokens(v);
  const patches = (L - 1) * 2 * v.width * 3 * v.patch * v.patch;
  return frames * (patches + v.layers * blockFlops(L, v.width) + 2 * v.width * c.embedDim);
}

/** Text tower forward for `classes` prompts of the full context length. */
export function textTowerFlops(c: ClipConfig, classes: number): number {
  const t = c.text;
  return classes * (t.layers * blockFlops(t.context, t.width) + 2 * t.width * c.embedDim);
}

/** ViFi-CLIP forward (both towers and the logits); a training step is about 3× the trained towers. */
export function vifiForwardFlops(c: ClipConfig, videos: number, frames: number, classes: number): number {
  return imageTowerFlops(c, videos * frames) + textTowerFlops(c, classes) + 2 * videos * classes * c.embedDim;
}
