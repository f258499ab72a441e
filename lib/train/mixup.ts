// Mini-batch targets and blending of the upstream (docs/upstream.md §8.2, X-CLIP's datasets/blending.py): one-hot
// with label smoothing, then per batch CutMix with probability `switchProb`, else Mixup, each pairing
// the batch with a random permutation of itself. Runs on the host over the loader's float32 frames.

import type { Rng } from "../random/rng.ts";

export interface BlendConfig {
  classes: number;
  labelSmoothing: number;
  /** Beta(α, α) for mixup; 0 turns mixup off */
  mixup: number;
  /** Beta(α, α) for cutmix; 0 turns cutmix off */
  cutmix: number;
  switchProb: number;
}

/** [B, C] smoothed one-hot rows: off = ε/C, on = 1 − ε + ε/C. */
export function smoothedTargets(labels: Int32Array, classes: number, smoothing: number): Float32Array {
  const off = smoothing / classes;
  const out = new Float32Array(labels.length * classes).fill(off);
  labels.forEach((y, b) => {
    if (!(y >= 0 && y < classes)) {
      throw new Error(`vifi: label ${y} of batch row ${b} is outside 0..${classes - 1}`);
    }
    out[b * classes + y] = 1 - smoothing + off;
  });
  return out;
}

function gamma(rng: Rng, shape: number): number {
  // Marsaglia–Tsang; shapes below 1 through the boost x·U^(1/shape).
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(rng.next() || Number.MIN_VALUE, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a);
  return x / (x + gamma(rng, b));
}

function permutation(rng: Rng, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

export interface BlendResult {
  kind: "mixup" | "cutmix" | "none";
  lambda: number;
  permutation: number[];
  box?: { x1: number; y1: number; x2: number; y2: number };
}

/**
 * Blends `frames` [B, T, 3, H, W] and `targets` [B, C] in place. Mixup: x ← λx + (1−λ)x[π]. CutMix:
 * a box of side ratio √(1−λ) centred uniformly, copied from sample π(b) into every frame of b, and λ
 * recomputed from the clipped box area.
 */
export function blendBatch(
  frames: Float32Array,
  shape: readonly number[],
  targets: Float32Array,
  cfg: BlendConfig,
  rng: Rng,
): BlendResult {
  const [B, T, Ch, H, W] = shape;
  const per = T * Ch * H * W;
  if (frames.length !== B * per) {
    throw new Error(`vifi: blend: frames hold ${frames.length} values, shape needs ${B * per}`);
  }
  if (targets.length !== B * cfg.classes) {
    throw new Error(`vifi: blend: targets hold ${targets.length} values, expected ${B}×${cfg.classes}`);
  }
  const useMixup = cfg.mixup > 0, useCutmix = cfg.cutmix > 0;
  if (!useMixup && !useCutmix) return { kind: "none", lambda: 1, permutation: [] };
  const cut = useCutmix && (!useMixup || rng.next() < cfg.switchProb);
  const alpha = cut ? cfg.cutmix : cfg.mixup;
  let lambda = sampleBeta(rng, alpha, alpha);
  const perm = permutation(rng, B);
  const src = frames.slice();
  let box: BlendResult["box"];
  if (cut) {
    const r = Math.sqrt(1 - lambda);
    const cw = Math.floor(W * r), chh = Math.floor(H * r);
    const cx = rng.int(W), cy = rng.int(H);
    const clamp = (v: number, hi: number) => Math.max(0, Math.min(hi, v));
    box = {
      x1: clamp(cx - (cw >> 1), W),
      x2: clamp(cx + (cw >> 1), W),
      y1: clamp(cy - (chh >> 1), H),
      y2: clamp(cy + (chh >> 1), H),
    };
    for (let b = 0; b < B; b++) {
      for (let plane = 0; plane < T * Ch; plane++) {
        for (let y = box.y1; y < box.y2; y++) {
          const row = b * per + plane * H * W + y * W;
          const from = perm[b] * per + plane * H * W + y * W;
          frames.set(src.subarray(from + box.x1, from + box.x2), row + box.x1);
        }
      }
    }
    lambda = 1 - ((box.x2 - box.x1) * (box.y2 - box.y1)) / (W * H);
  } else {
    for (let b = 0; b < B; b++) {
      const o = b * per, p = perm[b] * per;
      for (let i = 0; i < per; i++) frames[o + i] = lambda * src[o + i] + (1 - lambda) * src[p + i];
    }
  }
  const t = targets.slice();
  const C = cfg.classes;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      targets[b * C + c] = lambda * t[b * C + c] + (1 - lambda) * t[perm[b] * C + c];
    }
  }
  return { kind: cut ? "cutmix" : "mixup", lambda, permutation: perm, box };
}
