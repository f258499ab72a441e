// Evaluation per spec §7: each video's NUM_CROP·NUM_CLIP views scored separately, softmax per view,
// probabilities summed; top-1/top-5, per-class accuracy, confusion matrix, and the pooled embeddings
// (mean over views, renormalised) for plots.

import type { VideoLoader } from "../data/loader.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { Tensor } from "../tensor/tensor.ts";
import { Accuracy, type EvalMetrics } from "./metrics.ts";

export interface EvalEmbeddings {
  /** [N, E] unit-norm video embeddings in loader order */
  video: Float32Array;
  labels: Int32Array;
  /** [C, E] unit-norm class embeddings */
  text: Float32Array;
  dim: number;
}

export interface EvalResult extends EvalMetrics {
  embeddings: EvalEmbeddings;
  seconds: number;
}

export interface EvalOptions {
  tokens: Int32Array;
  classNames: string[];
  /** views per video (clips × crops) in the loader's output */
  views: number;
  /** called after each batch with (videos done, videos total) */
  onBatch?: (done: number, total: number) => void;
}

/** softmax of each row of `logits` [B, C] added into `into`. */
export function addSoftmax(logits: Float32Array, classes: number, into: Float32Array): void {
  for (let o = 0; o < logits.length; o += classes) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[o + c] - max);
    for (let c = 0; c < classes; c++) into[o + c] += Math.exp(logits[o + c] - max) / sum;
  }
}

/**
 * Scores one loader batch [B, V·T, 3, S, S]: summed per-view probabilities [B, C] and the view-mean
 * video embeddings [B, E] (renormalised).
 */
export async function scoreBatch(
  model: ViFiClip,
  frames: Float32Array,
  shape: readonly number[],
  views: number,
  tokens: Int32Array,
  classes: number,
): Promise<{ probs: Float32Array; video: Float32Array; text: Float32Array }> {
  const [B, VT, ...image] = shape;
  if (VT % views !== 0) throw new Error(`vifi: a batch of ${VT} frames per video is not ${views} views`);
  const T = VT / views;
  const per = image.reduce((a, b) => a * b, 1);
  const E = model.config.embedDim;
  const probs = new Float32Array(B * classes);
  const video = new Float32Array(B * E);
  let text: Float32Array = new Float32Array(0);
  const chunk = new Float32Array(B * T * per);
  for (let v = 0; v < views; v++) {
    for (let b = 0; b < B; b++) {
      const from = (b * VT + v * T) * per;
      chunk.set(frames.subarray(from, from + T * per), b * T * per);
    }
    const t = Tensor.from(model.clip.rt, chunk, [B, T, ...image], "f32", `eval view ${v}`);
    try {
      const out = await model.embed(t, tokens, classes);
      addSoftmax(out.logits, classes, probs);
      for (let i = 0; i < video.length; i++) video[i] += out.video[i];
      text = out.text;
    } finally {
      t.dispose();
    }
  }
  for (let b = 0; b < B; b++) {
    const row = video.subarray(b * E, (b + 1) * E);
    const n = Math.hypot(...row) || 1;
    for (let i = 0; i < E; i++) row[i] /= n;
  }
  return { probs, video, text };
}

/** One pass over a test-mode loader. */
export async function evaluate(model: ViFiClip, loader: VideoLoader, opts: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const C = opts.classNames.length;
  const acc = new Accuracy(opts.classNames);
  const E = model.config.embedDim;
  const videos: Float32Array[] = [];
  const labels: number[] = [];
  let text: Float32Array = new Float32Array(0);
  const total = loader.items.length;
  await model.withoutGrad(async () => {
    for await (const batch of loader.epoch(0)) {
      const r = await scoreBatch(model, batch.frames, batch.shape, opts.views, opts.tokens, C);
      acc.add(r.probs, batch.labels);
      videos.push(r.video);
      labels.push(...batch.labels);
      text = r.text;
      opts.onBatch?.(labels.length, total);
    }
  });
  const video = new Float32Array(labels.length * E);
  let o = 0;
  for (const v of videos) {
    video.set(v, o);
    o += v.length;
  }
  return {
    ...acc.result(),
    embeddings: { video, labels: Int32Array.from(labels), text, dim: E },
    seconds: (performance.now() - t0) / 1000,
  };
}
