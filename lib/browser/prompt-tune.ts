// Prompt tuning from a few clips per class, made to run in a page: ViFi-CLIP's bridge-and-prompt variant
// (docs/upstream.md §5.2) with CLIP frozen, learning only the text context vectors and the vision prompt
// tokens of each tower's first layers. The step is recorded once and replayed (lib/train/step.ts), AdamW
// updates only the prompt tensors, every step's loss is handed to `onStep` as it lands, and an AbortSignal
// stops the run after the step in flight. What comes back is the learned prompts, the model left holding
// them (frozen, ready to predict) and the bytes of a prompts file (prompt-file.ts) for download.
// No Deno or node API: the page's script bundles this file.

import type { ViFiClip } from "../models/vifi.ts";
import { classTokens } from "../models/load.ts";
import { checkPromptConfig, initPromptWeights, type PromptConfig, type Weights } from "../models/config.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import { Rng } from "../random/rng.ts";
import { Tensor } from "../tensor/tensor.ts";
import { AdamW } from "../train/optimizer.ts";
import { LossScaler } from "../train/loss-scale.ts";
import { CompiledStep, type StepBatch } from "../train/step.ts";
import { scoreViews } from "../train/views.ts";
import { frozenFingerprint, type PromptFile, writePromptFile } from "./prompt-file.ts";

/** The clips to learn from, as the model takes them. */
export interface TuneClips {
  /** [N, T, 3, R, R] normalised frames, clip after clip (what prepareVideo makes of one view) */
  frames: Float32Array;
  /** the class index of each of the N clips */
  labels: number[];
  /** frames per clip */
  T: number;
}

export interface PromptStep {
  /** 1-based */
  step: number;
  /** the cross-entropy of this step's batch, before its update */
  loss: number;
  /** wall time of the step, the loss read included */
  ms: number;
}

export interface PromptTuneOptions {
  /** the frozen model; prompts it already holds are replaced, and it keeps the learned ones */
  model: ViFiClip;
  clips: TuneClips;
  classes: string[];
  /** the tokenizer the model's token table was trained with */
  tokenizer: TextTokenizer;
  /** class prompt after the learned context (default "{name}.", as lib/predict uses with learned prompts) */
  template?: string;
  /** default defaultPromptConfig(model's config) */
  prompt?: PromptConfig;
  /** planned steps (default 50) */
  steps?: number;
  /** AdamW's learning rate (default 2e-3) and weight decay (default 1e-3) */
  lr?: number;
  weightDecay?: number;
  /**
   * clips per step (default: as many as keep a step at 16 frames, at least one, at most N); the clips are
   * visited in a shuffled order, epoch by epoch
   */
  batch?: number;
  /** draws the prompts' initial values and the clip order (default 0) */
  seed?: number;
  /** the frozen weights' file or URL, recorded in the prompts file */
  weightsName?: string;
  onStep?: (s: PromptStep) => void | Promise<void>;
  /** stops the run after the step in flight; aborted before the first step, nothing runs (it throws) */
  signal?: AbortSignal;
}

export interface PromptTuneResult {
  /** the learned prompts and what they were learned on and for */
  file: PromptFile;
  /** the same as a prompts file's bytes */
  bytes: Uint8Array;
  /** [C, context] class tokens with the learned context's placeholders, for predicting with the model */
  tokens: Int32Array;
  losses: number[];
  /** true when the signal stopped the run before its planned steps */
  stopped: boolean;
  /** mean wall time of a replayed step (the first step records the plan and is not counted) */
  msPerStep: number;
}

/**
 * The paper's few-shot prompting settings (10 text and 10 vision tokens at depth 12, PROMPT_FEW_SHOT in
 * lib/dsl/paper-settings.ts) cut to what the model holds: no deeper than its layers, and at most a quarter
 * of the text context for the learned tokens, so class names still fit in small models.
 */
export function defaultPromptConfig(model: ViFiClip): PromptConfig {
  const c = model.config;
  const textCtx = Math.max(1, Math.min(10, Math.floor(c.text.context / 4)));
  return {
    textCtx,
    visionCtx: 10,
    textDepth: Math.min(12, c.text.layers),
    visionDepth: Math.min(12, c.vision.layers),
  };
}

function checkClips(model: ViFiClip, clips: TuneClips, classes: number): number {
  const R = model.config.vision.resolution;
  const per = clips.T * 3 * R * R;
  const N = clips.labels.length;
  if (!Number.isInteger(clips.T) || clips.T < 1) throw new Error(`vifi: prompt tuning: T ${clips.T} frames`);
  if (N === 0) throw new Error("vifi: prompt tuning needs at least one clip");
  if (clips.frames.length !== N * per) {
    throw new Error(
      `vifi: prompt tuning: clips.frames has ${clips.frames.length} values; ${N} clips of ` +
        `[${clips.T}, 3, ${R}, ${R}] need ${N * per}`,
    );
  }
  clips.labels.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 0 || l >= classes) {
      throw new Error(`vifi: prompt tuning: clip ${i} has label ${l}, outside the ${classes} classes`);
    }
  });
  return N;
}

/**
 * Clips prepared one by one (e.g. lib/browser/video.ts's model input of each dropped video, one view of T
 * frames each) stacked into the TuneClips a run takes.
 */
export function stackClips(items: { frames: Float32Array; label: number }[], T: number): TuneClips {
  const per = items[0]?.frames.length ?? 0;
  const frames = new Float32Array(items.length * per);
  items.forEach((it, i) => {
    if (it.frames.length !== per) {
      throw new Error(`vifi: prompt tuning: clip ${i} has ${it.frames.length} values, clip 0 ${per}`);
    }
    frames.set(it.frames, i * per);
  });
  return { frames, labels: items.map((it) => it.label), T };
}

/** Drops every prompt tensor the model holds, so a new configuration leaves no stale one to train. */
function dropPrompts(model: ViFiClip): void {
  for (const [name, p] of [...model.clip.params]) {
    if (name.includes("prompt_learner") || name.includes("VPT")) {
      p.dispose();
      model.clip.params.delete(name);
    }
  }
  model.clip.prompts = undefined;
  model.dropTextCache();
}

/** The clip order: each epoch a fresh shuffle of 0 … N−1, drawn from `rng`. */
function* clipOrder(N: number, rng: Rng): Generator<number> {
  for (;;) {
    const order = Array.from({ length: N }, (_, i) => i);
    for (let i = N - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    yield* order;
  }
}

/** Writes the next `B` clips of `order` and their one-hot targets into the step's input tensors. */
function fillBatch(batch: StepBatch, clips: TuneClips, order: Iterator<number>, per: number, B: number) {
  const frames = new Float32Array(B * per);
  const targets = new Float32Array(B * batch.classes);
  for (let b = 0; b < B; b++) {
    const i = order.next().value as number;
    frames.set(clips.frames.subarray(i * per, (i + 1) * per), b * per);
    targets[b * batch.classes + clips.labels[i]] = 1;
  }
  const rt = batch.frames.rt;
  rt.write(batch.frames.buffer, frames);
  rt.write(batch.targets.buffer, targets);
}

/** The current values of the model's prompt tensors (one GPU read each). */
async function readPrompts(model: ViFiClip): Promise<Weights> {
  const out: Weights = new Map();
  for (const p of model.trainable()) {
    out.set(p.name, { shape: [...p.value.shape], data: Float32Array.from(await p.value.read()) });
  }
  return out;
}

/** Trains the prompts; see the file's head. The model is left frozen with the learned prompts in it. */
export async function tunePrompts(o: PromptTuneOptions): Promise<PromptTuneResult> {
  const { model, clips, classes } = o;
  o.signal?.throwIfAborted();
  const N = checkClips(model, clips, classes.length);
  const config = o.prompt ?? defaultPromptConfig(model);
  checkPromptConfig(model.config, config);
  const template = o.template ?? "{name}.";
  const steps = o.steps ?? 50, lr = o.lr ?? 2e-3, weightDecay = o.weightDecay ?? 1e-3, seed = o.seed ?? 0;
  const B = Math.min(o.batch ?? Math.max(1, Math.floor(16 / clips.T)), N);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`vifi: prompt tuning: steps ${steps}`);
  if (!(Number.isInteger(B) && B >= 1)) throw new Error(`vifi: prompt tuning: batch ${o.batch}`);
  const tokens = classTokens(o.tokenizer, classes, template, model.config.text.context, config.textCtx);
  const fingerprint = await frozenFingerprint(model.clip);
  const rt = model.clip.rt;
  const R = model.config.vision.resolution, per = clips.T * 3 * R * R;

  dropPrompts(model);
  model.clip.addPrompts(config, initPromptWeights(model.config, config, seed));
  model.setVariant("prompt");
  const batch: StepBatch = {
    frames: Tensor.empty(rt, [B, clips.T, 3, R, R], "f32", "prompt tuning frames"),
    tokens,
    classes: classes.length,
    targets: Tensor.empty(rt, [B, classes.length], "f32", "prompt tuning targets"),
  };
  const opt = new AdamW(model.trainable(), { weightDecay });
  const scaler = model.clip.precision === "f16" ? new LossScaler(rt) : undefined;
  const order = clipOrder(N, new Rng(seed ^ 0x9e3779b9));
  const losses: number[] = [];
  let step: CompiledStep | undefined;
  let replayMs = 0;
  try {
    for (let s = 1; s <= steps; s++) {
      const t0 = performance.now();
      fillBatch(batch, clips, order, per, B);
      if (!step) step = await CompiledStep.compile(model, opt, batch, lr, scaler);
      else await step.run(lr);
      const loss = await step.loss();
      const ms = performance.now() - t0;
      if (s > 1) replayMs += ms;
      if (!Number.isFinite(loss)) {
        throw new Error(`vifi: prompt tuning diverged: the loss is ${loss} at step ${s}`);
      }
      losses.push(loss);
      await o.onStep?.({ step: s, loss, ms });
      if (o.signal?.aborted) break;
    }
  } finally {
    step?.dispose();
    opt.dispose();
    scaler?.dispose();
    batch.frames.dispose();
    batch.targets.dispose();
  }
  const learned = await readPrompts(model);
  model.setVariant("frozen");
  const file: PromptFile = {
    model: model.config,
    fingerprint,
    weights: o.weightsName,
    config,
    tensors: learned,
    classes,
    template,
    training: {
      steps: losses.length,
      firstLoss: losses[0],
      finalLoss: losses[losses.length - 1],
      lr,
      weightDecay,
      batch: B,
      clips: N,
      frames: clips.T,
      seed,
      stopped: losses.length < steps,
    },
  };
  return {
    file,
    bytes: writePromptFile(file),
    tokens,
    losses,
    stopped: losses.length < steps,
    msPerStep: losses.length > 1 ? replayMs / (losses.length - 1) : NaN,
  };
}

/**
 * Each clip's class probabilities [N, C] (the softmax of its logits, one view) under the model as it is:
 * with `tokens` from tunePrompts, the learned prompts; lib/predict scores a video's views the same way.
 */
export async function clipProbabilities(
  model: ViFiClip,
  frames: Float32Array,
  T: number,
  tokens: Int32Array,
  classes: number,
): Promise<Float32Array> {
  const R = model.config.vision.resolution;
  const N = frames.length / (T * 3 * R * R);
  return (await scoreViews(model, frames, N, 1, T, R, tokens, classes)).scores;
}
