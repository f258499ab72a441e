// A pretrain experiment (protocol kind "pretrain"): contrastive pretraining on synthetic caption pairs,
// which reads no videos and evaluates nothing. The pretrain section comes only with that protocol and
// without train, data and evals; its numbers are checked as pretrainClip (lib/train/pretrain.ts) will take
// them, and the longest caption of every template against the model's text context.

import { CAPTION_TEMPLATES } from "../data/captions.ts";
import { COLOURS, MOTIONS, SHAPES } from "../data/synthetic.ts";
import type { ClipConfig } from "../models/config.ts";
import { defaultWorkers } from "./defaults.ts";
import type { ResolveContext } from "./resolve-context.ts";
import { checkCaptionLengths } from "./resolve-prompts.ts";
import type { Experiment, PretrainSpec, ResolvedExperiment, ResolvedPretrain } from "./types.ts";

/** What a pretrain section leaves out. */
export const PRETRAIN_DEFAULTS = {
  warmupSteps: 0,
  weightDecay: 0.05,
  frames: 1,
  novelClips: "partial",
  fullShare: 0.4,
  positives: "pair",
} as const;

/** Whether the experiment asks for pretraining (its protocol or its section says so). */
export function isPretrain(e: Experiment): boolean {
  return e.protocol?.kind === "pretrain" || e.pretrain !== undefined;
}

/**
 * The pretrain section with its defaults, and the data section the run reports (no videos: the root is
 * the folder relative paths resolve against, the frames are the pairs').
 */
export async function resolvePretrain(
  ctx: ResolveContext,
  e: Experiment,
  run: { seed: number; model: ResolvedExperiment["model"]; config?: ClipConfig },
): Promise<{ pretrain: ResolvedPretrain; data: ResolvedExperiment["data"] }> {
  const p = pretrainSection(ctx, e);
  if (run.model.variant === "frozen") {
    ctx.fail("model.variant", 'a pretrain run trains: "frozen" trains nothing');
  }
  const pretrain = pretrainNumbers(ctx, p, run.seed);
  if (run.config) {
    const text = { tokenizer: run.model.tokenizer, vocab: run.model.vocab };
    await checkCaptionLengths(ctx, run.config, text, longestCaptions(), "model.arch");
  }
  const data = {
    root: ctx.cwd,
    frames: pretrain.frames,
    workers: defaultWorkers(),
    onError: "fail" as const,
  };
  return { pretrain, data };
}

/** The section, present exactly with protocol kind "pretrain" and alone: no train, data or evaluations. */
function pretrainSection(ctx: ResolveContext, e: Experiment): PretrainSpec {
  const kind = e.protocol?.kind ?? "custom";
  if (kind !== "pretrain") {
    ctx.fail("pretrain", `a pretrain section needs protocol.kind "pretrain", got ${JSON.stringify(kind)}`);
  }
  if (typeof e.pretrain !== "object" || e.pretrain === null) {
    ctx.fail("pretrain", 'missing: protocol.kind "pretrain" needs a pretrain section {steps, batch, lr}');
  }
  if (e.train !== undefined) {
    ctx.fail(
      "train",
      "a pretrain run takes no train section (fine-tune its last.safetensors in another experiment)",
    );
  }
  if (e.data !== undefined) {
    ctx.fail("data", "a pretrain run reads no videos (it draws its own pairs; frames go in pretrain.frames)");
  }
  if (e.evals.length > 0) {
    ctx.fail(
      "evals",
      "a pretrain run evaluates nothing (evaluate its last.safetensors in another experiment)",
    );
  }
  return e.pretrain;
}

function pretrainNumbers(ctx: ResolveContext, p: PretrainSpec, seed: number): ResolvedPretrain {
  const steps = ctx.posInt(p.steps, "pretrain.steps");
  const batch = ctx.posInt(p.batch, "pretrain.batch");
  if (batch < 2) {
    ctx.fail("pretrain.batch", "must be at least 2 (the other pairs of a batch are the negatives)");
  }
  const lr = ctx.nonNeg(p.lr, "pretrain.lr");
  if (lr === 0) ctx.fail("pretrain.lr", "must be a positive number, got 0");
  const warmupSteps = ctx.nonNegInt(p.warmupSteps ?? PRETRAIN_DEFAULTS.warmupSteps, "pretrain.warmupSteps");
  if (warmupSteps >= steps) {
    ctx.fail("pretrain.warmupSteps", `must be less than pretrain.steps (${steps}), got ${warmupSteps}`);
  }
  const frames = ctx.posInt(p.frames ?? PRETRAIN_DEFAULTS.frames, "pretrain.frames");
  if (frames > 4) ctx.fail("pretrain.frames", `must be 1 to 4, got ${frames}`);
  return {
    steps,
    batch,
    lr,
    warmupSteps,
    weightDecay: ctx.nonNeg(p.weightDecay ?? PRETRAIN_DEFAULTS.weightDecay, "pretrain.weightDecay"),
    frames,
    novelSeed: ctx.nonNegInt(p.novelSeed ?? seed, "pretrain.novelSeed"),
    novelClips: ctx.oneOf(
      p.novelClips ?? PRETRAIN_DEFAULTS.novelClips,
      "pretrain.novelClips",
      ["partial", "never"] as const,
    ),
    fullShare: ctx.inRange(p.fullShare ?? PRETRAIN_DEFAULTS.fullShare, "pretrain.fullShare", 0, 1),
    positives: ctx.oneOf(
      p.positives ?? PRETRAIN_DEFAULTS.positives,
      "pretrain.positives",
      ["pair", "describing"] as const,
    ),
  };
}

/**
 * Every caption template with its longest words (the longest caption a pretrain run can draw of each),
 * longest first, so a refusal names the caption that needs the most room.
 */
function longestCaptions(): string[] {
  const longest = (words: readonly string[]) => words.reduce((a, b) => (b.length > a.length ? b : a));
  const [c, s, m] = [longest(COLOURS), longest(SHAPES), longest(MOTIONS)];
  return Object.values(CAPTION_TEMPLATES).flat().map((t) =>
    t.replace("{c}", c).replace("{s}", s).replace("{m}", m)
  ).sort((a, b) => b.length - a.length);
}
