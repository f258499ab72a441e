// The experiment a researcher writes (`experiments/*.exp.ts` default-exports one, or an array for a
// sweep) and its resolved form, which is all the trainer, the evaluator and the results store see.
// Plain data: `--dry-run` prints the resolved form as JSON.

import type { PromptConfig } from "../models/config.ts";
import type { Variant } from "../models/vifi.ts";
import type { TokenizerKind } from "../text/tokenizer.ts";
import type { TrainCrop } from "../video/train-transform.ts";

/** Which table of the paper a run belongs to; leaderboards group and aggregate by it. */
export const PROTOCOL_KINDS = [
  "zero-shot",
  "base-to-novel",
  "few-shot",
  "fully-supervised",
  "custom",
  /** contrastive pretraining on synthetic caption pairs (a `pretrain` section): no evaluations to rank */
  "pretrain",
] as const;
export type ProtocolKind = typeof PROTOCOL_KINDS[number];

export interface ProtocolTag {
  kind: ProtocolKind;
  /** dataset trained on or evaluated (k400, hmdb, ucf, ssv2, k600, synthetic, …) */
  dataset?: string;
  /** base-to-novel seed 1..3 */
  seed?: number;
  /** few-shot K */
  shots?: number;
}

export interface ModelSpec {
  /** a CLIP_CONFIGS name ("ViT-B/16", "tiny", …); inferred from `weights` when absent */
  arch?: string;
  /** OpenAI CLIP .pt, ViFi-CLIP .pth, HF .safetensors or a vifi checkpoint; absent = random init */
  weights?: string;
  /** the CLIP file that supplies the token embedding a ViFi-CLIP checkpoint lacks */
  clipWeights?: string;
  /** what trains (docs/upstream.md §5.1); "prompt" = bridge-and-prompt, "frozen" = evaluation only */
  variant?: Variant;
  prompt?: PromptConfig;
  /** class prompt, `{name}` replaced by the class name; docs/upstream.md §4.1 */
  template?: string;
  /**
   * "clip" BPE (needs the vocabulary), "bytes" (byte-level, for models trained from scratch) or "words"
   * (a closed word list named by `vocab`, one word per line: for small models trained on a known world)
   */
  tokenizer?: TokenizerKind;
  /**
   * bpe_simple_vocab_16e6.txt.gz or an HF vocab.json directory (default: the download cache); for the
   * "words" tokenizer its word list
   */
  vocab?: string;
  /** "auto" = f16 where the adapter has shader-f16 */
  precision?: "f32" | "f16" | "auto";
  /** image side fed to the model; default the architecture's resolution */
  inputSize?: number;
}

export interface ListSpec {
  /** "<path> <label>" list file */
  list: string;
  /** label CSV (id,name) the list's labels index */
  labels: string;
  /** videos root; default `data.root` */
  root?: string;
}

export interface EvalSpec extends ListSpec {
  /** name of this evaluation in results: "val", "base", "novel", "hmdb/split2", … */
  name: string;
  dataset?: string;
  split?: number;
  subset?: "base" | "novel" | "all";
  /** test views (docs/upstream.md §9): clips × crops; default 1 × 1 */
  clips?: number;
  crops?: number;
  /** prompt template for this evaluation (vanilla CLIP uses "{name}") */
  template?: string;
  /**
   * score only what the upstream's validation scores (exact parity with its numbers): per device of
   * `worldSize`, batches of 2 with drop_last, so a device's odd video out is left unscored. Default
   * false: every video counts.
   */
  dropLast?: boolean;
  /** devices whose drop_last `dropLast` reproduces (default 8, the upstream's) */
  worldSize?: number;
}

export interface TrainSpec extends ListSpec {
  epochs?: number;
  lr?: number;
  /** per-step batch (the upstream's per-GPU BATCH_SIZE) */
  batch?: number;
  /**
   * per-device accumulation steps of the run reproduced (the upstream's ACCUMULATION_STEPS); derived
   * from effectiveBatch when absent (default 1)
   */
  accumulation?: number;
  /**
   * videos per optimizer update over all devices, the paper's "BS" (batch × accumulation × worldSize);
   * vifi accumulates effectiveBatch ÷ batch micro-batches per update on its one device
   */
  effectiveBatch?: number;
  /**
   * devices of the run reproduced (the paper's: 8). The schedule counts that run's per-device loader
   * iterations, so warmup and cosine line up with it. Default 1.
   */
  worldSize?: number;
  warmupEpochs?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  /** Beta(α, α) for mixup; 0 disables */
  mixup?: number;
  /** Beta(α, α) for cutmix; 0 disables */
  cutmix?: number;
  /** probability of cutmix over mixup when both are on */
  switchProb?: number;
  /** probabilities of the per-video colour jitter and grayscale coins (AUG.COLOR_JITTER / GRAY_SCALE) */
  colorJitter?: number;
  grayScale?: number;
  /** probability of the horizontal flip (0.5 upstream; 0 where left/right is part of a label) */
  flip?: number;
  /**
   * the training crop: "multi-scale" (upstream's MultiScaleCrop, may stretch a non-square crop), "square"
   * (its square sizes only) or "centre" (no crop augmentation); see lib/video/train-transform.ts
   */
  crop?: TrainCrop;
  /** validate (the first evaluation) every N epochs and at the end */
  saveFreq?: number;
  /** init = weights and optimizer state but the schedule from epoch 0 (upstream --resume); continue = exact */
  resume?: { path: string; mode: "init" | "continue" };
  /** multi-view evaluation of the final weights after training (fully supervised: 4 × 3) */
  finalViews?: { clips: number; crops: number };
}

export interface DataSpec {
  /** videos root the lists' paths are relative to */
  root: string;
  /** frames per clip (DATA.NUM_FRAMES) */
  frames?: number;
  /** loader worker threads */
  workers?: number;
  onError?: "fail" | "skip";
}

/**
 * Contrastive pretraining (protocol kind "pretrain"): CLIP's symmetric in-batch loss on synthetic
 * image–caption pairs (lib/data/captions.ts), a fresh batch each step, warmup + cosine by step. The final
 * weights are `last.safetensors` in the output folder, a later experiment's `model.weights`.
 */
export interface PretrainSpec {
  steps: number;
  /** pairs per step, the in-batch negatives (at least 2) */
  batch: number;
  lr: number;
  /** steps of linear warmup, fewer than `steps` (default 0) */
  warmupSteps?: number;
  /** AdamW weight decay (default 0.05) */
  weightDecay?: number;
  /** frames per pair: 1 a still, 2–4 a strip that shows the motion (default 1) */
  frames?: number;
  /**
   * the `deno task synthetic --seed` whose base/novel split is held out: its novel colour × shape × motion
   * triples are never named together in one caption. Default: the experiment's seed.
   */
  novelSeed?: number;
  /** "partial" (default): novel pictures with partial captions; "never": base pictures only */
  novelClips?: "partial" | "never";
  /** share of the base pairs captioned with all three attributes (default 0.4) */
  fullShare?: number;
  /**
   * "pair" (default, CLIP's): each picture's own caption is its one positive; "describing": every caption
   * in the batch that is true of the picture is a positive ("a red circle" of every red circle), as UniCL
   * does for shared labels — lib/train/contrastive.ts
   */
  positives?: "pair" | "describing";
}

export interface Experiment {
  name: string;
  description?: string;
  protocol?: ProtocolTag;
  model: ModelSpec;
  /** required, except by a pretrain run, which draws its own pictures */
  data?: DataSpec;
  /** absent: evaluation only */
  train?: TrainSpec;
  /** with protocol kind "pretrain" and nothing else: no train section, no evaluations */
  pretrain?: PretrainSpec;
  evals: EvalSpec[];
  seed?: number;
  /** where checkpoints and logs go; default $VIFI_RUNS/<name>, else runs/<name> */
  output?: string;
}

/** Every default filled in, every path absolute and checked. */
export interface ResolvedExperiment {
  name: string;
  description: string;
  /** file the experiment came from (.exp.ts or .yaml) */
  source: string;
  protocol: ProtocolTag;
  model: Required<Omit<ModelSpec, "weights" | "clipWeights" | "prompt" | "vocab" | "arch">> & {
    arch?: string;
    weights?: string;
    clipWeights?: string;
    prompt?: PromptConfig;
    vocab?: string;
  };
  data: Required<DataSpec>;
  train?: Required<Omit<TrainSpec, "resume" | "finalViews" | "root">> & {
    root: string;
    /** videos in the training list when resolved (what `--dry-run` counts updates per epoch from) */
    videos: number;
    resume?: { path: string; mode: "init" | "continue" };
    finalViews?: { clips: number; crops: number };
  };
  /** a pretrain run's section, every default filled in (data.frames is its frames) */
  pretrain?: Required<PretrainSpec>;
  evals: (Required<Omit<EvalSpec, "dataset" | "split" | "subset" | "template">> & {
    dataset?: string;
    split?: number;
    subset?: "base" | "novel" | "all";
    template: string;
  })[];
  seed: number;
  output: string;
  /** problems a `--dry-run` reports instead of failing on (a missing videos root or weight file) */
  warnings?: string[];
}

export type ResolvedTrain = NonNullable<ResolvedExperiment["train"]>;
export type ResolvedEval = ResolvedExperiment["evals"][number];
export type ResolvedPretrain = NonNullable<ResolvedExperiment["pretrain"]>;

/**
 * What `resolveExperiment` accepts under each key: `true` for a value, an object for a nested section, a
 * one-element array for a list of sections. `train` runs `.exp.ts` files without type checking, so a key
 * the interfaces above do not have (`epoch`, `learningRate`) would otherwise be ignored in silence.
 */
export type KeyShape = true | { readonly [key: string]: KeyShape } | readonly [KeyShape];

/** Exactly the keys of T: the compiler refuses a missing or an extra one, so the interfaces stay the list. */
type KeysOf<T> = { readonly [K in keyof Required<T>]: KeyShape };

const PROMPT_KEYS: KeysOf<PromptConfig> = {
  textCtx: true,
  visionCtx: true,
  textDepth: true,
  visionDepth: true,
};

const PROTOCOL_KEYS: KeysOf<ProtocolTag> = { kind: true, dataset: true, seed: true, shots: true };

const MODEL_KEYS: KeysOf<ModelSpec> = {
  arch: true,
  weights: true,
  clipWeights: true,
  variant: true,
  prompt: PROMPT_KEYS,
  template: true,
  tokenizer: true,
  vocab: true,
  precision: true,
  inputSize: true,
};

const DATA_KEYS: KeysOf<DataSpec> = { root: true, frames: true, workers: true, onError: true };

const TRAIN_KEYS: KeysOf<TrainSpec> = {
  list: true,
  labels: true,
  root: true,
  epochs: true,
  lr: true,
  batch: true,
  accumulation: true,
  effectiveBatch: true,
  worldSize: true,
  warmupEpochs: true,
  weightDecay: true,
  labelSmoothing: true,
  mixup: true,
  cutmix: true,
  switchProb: true,
  colorJitter: true,
  grayScale: true,
  flip: true,
  crop: true,
  saveFreq: true,
  resume: { path: true, mode: true } satisfies KeysOf<NonNullable<TrainSpec["resume"]>>,
  finalViews: { clips: true, crops: true } satisfies KeysOf<NonNullable<TrainSpec["finalViews"]>>,
};

const EVAL_KEYS: KeysOf<EvalSpec> = {
  list: true,
  labels: true,
  root: true,
  name: true,
  dataset: true,
  split: true,
  subset: true,
  clips: true,
  crops: true,
  template: true,
  dropLast: true,
  worldSize: true,
};

const PRETRAIN_KEYS: KeysOf<PretrainSpec> = {
  steps: true,
  batch: true,
  lr: true,
  warmupSteps: true,
  weightDecay: true,
  frames: true,
  novelSeed: true,
  novelClips: true,
  fullShare: true,
  positives: true,
};

/** The keys an Experiment may have, at every depth (see {@link KeyShape}). */
export const EXPERIMENT_KEYS: KeysOf<Experiment> = {
  name: true,
  description: true,
  protocol: PROTOCOL_KEYS,
  model: MODEL_KEYS,
  data: DATA_KEYS,
  train: TRAIN_KEYS,
  pretrain: PRETRAIN_KEYS,
  evals: [EVAL_KEYS],
  seed: true,
  output: true,
};
