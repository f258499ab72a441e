// TSN-style frame sampling exactly as the reference loader does it (docs/upstream.md §7.2): one frame per segment,
// 0-based indices, out-of-range indices wrapped ("loop"). Randomness comes from a seedable Rng so a
// training run can be replayed; the upstream numpy stream cannot be reproduced bit-for-bit anyway.

import type { Rng } from "../random/rng.ts";

/** numpy `around(x)` with decimals=0: round half to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function checkArgs(n: number, t: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`frame count must be an integer >= 0, got ${n}`);
  if (!Number.isInteger(t) || t < 1) throw new Error(`number of frames to sample must be >= 1, got ${t}`);
}

function wrap(out: Int32Array, n: number): Int32Array {
  // numpy's mod by zero yields 0, which is what the reference ends up decoding for an empty video.
  for (let i = 0; i < out.length; i++) out[i] = n > 0 ? out[i] % n : 0;
  return out;
}

/** Training sampling: T indices into a video of N frames. */
export function sampleTrainIndices(n: number, t: number, rng: Rng): Int32Array {
  checkArgs(n, t);
  const out = new Int32Array(t);
  const seg = Math.floor(n / t);
  if (seg > 0) {
    for (let i = 0; i < t; i++) out[i] = i * seg + rng.int(seg);
  } else {
    // The reference computes arange(T) * (N / T) in float64 before rounding; keep that order.
    const ratio = n / t;
    for (let i = 0; i < t; i++) out[i] = roundHalfEven(i * ratio);
  }
  return wrap(out, n);
}

/** Single-clip test sampling: segment centres, ⌊i·seg + seg/2⌋ with a float segment length. */
export function sampleTestIndices(n: number, t: number): Int32Array {
  checkArgs(n, t);
  const out = new Int32Array(t);
  if (n === 0) return out;
  const seg = n / t;
  for (let i = 0; i < t; i++) out[i] = Math.floor(i * seg + seg / 2);
  return wrap(out, n);
}

/**
 * Multi-clip test sampling (TEST.NUM_CLIP > 1): the reference rebuilds the sampler without test mode,
 * so each clip is an independent random training-style draw; clip-major order.
 */
export function sampleMultiClip(n: number, t: number, clips: number, rng: Rng): Int32Array {
  if (!Number.isInteger(clips) || clips < 1) throw new Error(`clips must be an integer >= 1, got ${clips}`);
  const out = new Int32Array(clips * t);
  for (let c = 0; c < clips; c++) out.set(sampleTrainIndices(n, t, rng), c * t);
  return out;
}

/**
 * The frame indices the pipeline uses for one video: training draws one random TSN clip; testing takes
 * segment centres, or with clips > 1 independent training-style draws (as the reference does).
 */
export function sampleForMode(
  mode: "train" | "test",
  n: number,
  t: number,
  clips: number,
  rng: Rng,
): Int32Array {
  if (mode === "train") return sampleTrainIndices(n, t, rng);
  return clips > 1 ? sampleMultiClip(n, t, clips, rng) : sampleTestIndices(n, t);
}
