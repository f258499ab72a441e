// Multi-view evaluation (docs/upstream.md §9): a video's NUM_CROP·NUM_CLIP views are scored separately and their
// per-view softmax probabilities summed; the ranking uses that sum. Views go to the GPU one at a time,
// so 4 clips × 3 crops need no more device memory than a single view.

import { Tensor } from "../tensor/tensor.ts";
import type { ViFiClip } from "../models/vifi.ts";

/** Softmax of one row in float64 (logits of ~100 × cosine overflow nothing once the max is subtracted). */
export function softmaxRow(logits: ArrayLike<number>, start: number, n: number, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[start + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += out[i] = Math.exp(logits[start + i] - max);
  for (let i = 0; i < n; i++) out[i] /= sum;
}

export interface ViewScores {
  /** [B, C] Σ over the views of the softmax probabilities */
  scores: Float32Array;
  /** [B, E] mean over the views of the unit video embeddings, renormalised */
  video: Float32Array;
  /** [C, E] unit class embeddings */
  text: Float32Array;
}

/**
 * frames [B, V·T, 3, S, S] as prepareVideo lays out each video (view-major: crop, then clip, then
 * frame), tokens [C, context] → per video the sum over the V views of softmax(exp(logit_scale)·v̂·t̂ᵀ)
 * (divide by V for probabilities) and the view-mean embedding. The class embeddings are computed once
 * (the model caches them while the text tower is frozen or paused).
 */
export async function scoreViews(
  model: ViFiClip,
  frames: Float32Array,
  B: number,
  V: number,
  T: number,
  S: number,
  tokens: Int32Array,
  C: number,
): Promise<ViewScores> {
  const frame = 3 * S * S;
  if (frames.length !== B * V * T * frame) {
    throw new Error(
      `vifi: scoreViews: ${frames.length} values are not [${B}, ${V}·${T}, 3, ${S}, ${S}]`,
    );
  }
  const E = model.config.embedDim;
  const sums = new Float64Array(B * C);
  const probs = new Float64Array(C);
  const video = new Float32Array(B * E);
  let text: Float32Array = new Float32Array(0);
  const chunk = new Float32Array(B * T * frame);
  for (let v = 0; v < V; v++) {
    for (let b = 0; b < B; b++) {
      const from = (b * V * T + v * T) * frame;
      chunk.set(frames.subarray(from, from + T * frame), b * T * frame);
    }
    const t = Tensor.from(model.clip.rt, chunk, [B, T, 3, S, S], "f32", `view ${v}`);
    let out: { logits: Float32Array; video: Float32Array; text: Float32Array };
    try {
      out = await model.embed(t, tokens, C);
    } finally {
      t.dispose();
    }
    for (let b = 0; b < B; b++) {
      softmaxRow(out.logits, b * C, C, probs);
      for (let c = 0; c < C; c++) sums[b * C + c] += probs[c];
    }
    for (let i = 0; i < video.length; i++) video[i] += out.video[i];
    text = out.text;
  }
  for (let b = 0; b < B; b++) {
    const row = video.subarray(b * E, (b + 1) * E);
    const n = Math.hypot(...row) || 1;
    for (let i = 0; i < E; i++) row[i] /= n;
  }
  return { scores: Float32Array.from(sums), video, text };
}

/** The k highest entries of a row, highest first; ties keep the lower index first. */
export function topK(row: ArrayLike<number>, k: number): { index: number; value: number }[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => row[b] - row[a] || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, row.length))).map((index) => ({ index, value: row[index] }));
}
