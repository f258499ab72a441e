// Pretraining a CLIP contrastively on synthetic image–caption pairs (lib/data/captions.ts): each step draws
// a fresh batch of frames and captions from its own seed, tokenizes the captions and takes one eager
// contrastive step (lib/train/contrastive.ts). The learning rate warms up linearly and then follows the
// same cosine (floor lr/100) as fine-tuning, indexed by step. Eager, not compiled: the captions change
// every step and a compiled plan holds its token ids as constants.

import { captionMatches, type CaptionOptions, captionPairs } from "../data/captions.ts";
import type { ViFiClip } from "../models/vifi.ts";
import { classTokens } from "../models/load.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import { Tensor } from "../tensor/tensor.ts";
import { contrastiveStep } from "./contrastive.ts";
import { AdamW } from "./optimizer.ts";
import { lrAt } from "./schedule.ts";

export interface PretrainOptions {
  steps: number;
  /** pairs per step: the in-batch negatives */
  batch: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  seed: number;
  /** what the pairs look like: frames per pair, held-out triples, image size (the model's resolution) */
  data: Omit<CaptionOptions, "seed" | "count" | "size">;
  /**
   * "pair" (default): CLIP's one positive per picture; "describing": every caption of the batch that is
   * true of a picture is a positive of it (captionMatches)
   */
  positives?: "pair" | "describing";
  /** told each step's loss and rate */
  onStep?: (step: number, loss: number, lr: number) => void;
  /** Ctrl-C: no step starts once it is aborted (the losses then stop short of `steps`) */
  signal?: AbortSignal;
}

export interface PretrainResult {
  losses: number[];
  seconds: number;
}

/** The seed of step `step`'s batch: every step its own pairs, the same ones for the same run seed. */
export function batchSeed(seed: number, step: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + step + 1) >>> 0;
}

function checkOptions(o: PretrainOptions): void {
  for (const k of ["steps", "batch"] as const) {
    if (!Number.isInteger(o[k]) || o[k] < (k === "batch" ? 2 : 1)) {
      throw new Error(`vifi: pretrain.${k} must be an integer ≥ ${k === "batch" ? 2 : 1}, got ${o[k]}`);
    }
  }
  if (!(o.lr > 0)) throw new Error(`vifi: pretrain.lr must be > 0, got ${o.lr}`);
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0 || o.warmupSteps >= o.steps) {
    throw new Error(`vifi: pretrain.warmupSteps must be an integer in [0, steps), got ${o.warmupSteps}`);
  }
}

/** Train `model`'s trainable parameters contrastively for `opts.steps` steps; returns the loss per step. */
export async function pretrainClip(
  model: ViFiClip,
  tokenizer: TextTokenizer,
  opts: PretrainOptions,
): Promise<PretrainResult> {
  checkOptions(opts);
  const t0 = performance.now();
  const rt = model.clip.rt;
  const { resolution } = model.config.vision;
  const context = model.config.text.context;
  const opt = new AdamW(model.trainable(), { weightDecay: opts.weightDecay });
  const schedule = { lr: opts.lr, epochs: opts.steps, warmupEpochs: opts.warmupSteps, itersPerEpoch: 1 };
  const losses: number[] = [];
  try {
    for (let step = 0; step < opts.steps && !opts.signal?.aborted; step++) {
      const pairs = captionPairs({
        ...opts.data,
        seed: batchSeed(opts.seed, step),
        count: opts.batch,
        size: resolution,
      });
      const tokens = classTokens(tokenizer, pairs.captions, "{name}", context);
      const frames = Tensor.from(rt, pairs.frames, pairs.shape, "f32", "caption frames");
      // the rate after this step's iteration, so a warmup's first step is not taken at 0
      const lr = lrAt(step + 1, schedule);
      try {
        const matches = opts.positives === "describing" ? captionMatches(pairs) : undefined;
        losses.push(await contrastiveStep(model, opt, frames, tokens, lr, { matches }));
      } finally {
        frames.dispose();
      }
      opts.onStep?.(step, losses[step], lr);
    }
  } finally {
    opt.dispose();
  }
  return { losses, seconds: (performance.now() - t0) / 1000 };
}
