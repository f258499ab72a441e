// Inference on one video with a frozen model: load the weights the user named, tokenize the class
// prompts, sample and transform the video as the upstream's test pipeline does, and average the
// per-view softmax. Shared by `deno task predict` (lib/cli/predict.ts), embed, export and the
// dashboard's predict page, so it sits below both the CLI and the web app.

import { getRuntime } from "../gpu/runtime.ts";
import { prepareVideo } from "../data/prepare.ts";
import { classTokens, type LoadedModel, loadModel, tokenizerFor } from "../models/load.ts";
import type { Precision } from "../models/clip.ts";
import type { PromptConfig, Weights } from "../models/config.ts";
import { scoreViews, topK } from "../train/views.ts";
import type { TextTokenizer, TokenizerKind } from "../text/tokenizer.ts";

/** The model and prompt options every model-loading command shares (lib/cli/model-options.ts parses them). */
export interface ModelChoice {
  weights: string;
  clipWeights?: string;
  template?: string;
  vocab?: string;
  tokenizer?: TokenizerKind;
  headWidth?: number;
  precision?: Precision | "auto";
  /** learned prompts to add to the frozen weights (`--prompts FILE`, read by lib/browser/prompt-file.ts) */
  prompts?: PromptOverlay;
}

/** Learned bridge-and-prompt tensors for a frozen model, with the check that they were learned on it. */
export interface PromptOverlay {
  /** the prompts' file, named in errors */
  source: string;
  config: PromptConfig;
  weights: Weights;
  /** throws a one-line error when the prompts were learned on another model */
  check(loaded: LoadedModel): Promise<void>;
}

/** An inference-only model (nothing trains) from the weights the user named, with their learned prompts. */
export async function frozenModel(m: ModelChoice): Promise<LoadedModel> {
  const loaded = await loadModel(await getRuntime(), {
    weights: m.weights,
    clipWeights: m.clipWeights,
    variant: "frozen",
    precision: m.precision,
    headWidth: m.headWidth,
    // the overlay's prompts replace any the weights file carries, whatever their depth
    prompt: m.prompts ? false : undefined,
  });
  if (!m.prompts) return loaded;
  try {
    await m.prompts.check(loaded);
    loaded.model.clip.addPrompts(m.prompts.config, m.prompts.weights);
    loaded.model.setVariant("frozen");
  } catch (e) {
    loaded.model.dispose();
    throw e;
  }
  return loaded;
}

export interface ClassPrompts {
  tokens: Int32Array;
  template: string;
}

/**
 * The tokenizer the options name, else the one the checkpoint was trained with (its word list travels in
 * the file), else the default for the model's token table.
 */
async function promptTokenizer(
  loaded: LoadedModel,
  opts: { vocab?: string; tokenizer?: TokenizerKind },
): Promise<TextTokenizer> {
  const saved = loaded.checkpoint?.model.tokenizer;
  return await tokenizerFor({
    tokenizer: opts.tokenizer ?? saved?.kind,
    vocab: opts.vocab,
    // used only by the words tokenizer, and only when no --vocab names another list
    words: saved?.words
      ? { list: saved.words, source: `the word list saved in ${loaded.source?.file ?? "the checkpoint"}` }
      : undefined,
    config: loaded.config,
  });
}

/** Token rows for `labels`, with the prompt variant's placeholders when the model has learned text prompts. */
export async function promptsFor(
  loaded: LoadedModel,
  labels: string[],
  /** `textTokenizer`: the tokenizer itself, instead of one found from the options (a page builds CLIP's
   * from fetched bytes, having no file system) */
  opts: { template?: string; vocab?: string; tokenizer?: TokenizerKind; textTokenizer?: TextTokenizer },
): Promise<ClassPrompts> {
  const ctx = loaded.model.clip.prompts?.textCtx ?? 0;
  const template = opts.template ?? (ctx > 0 ? "{name}." : "a photo of a {name}.");
  const tok = opts.textTokenizer ?? await promptTokenizer(loaded, opts);
  return { tokens: classTokens(tok, labels, template, loaded.config.text.context, ctx), template };
}

export interface PredictOptions extends ModelChoice {
  labels: string[];
  frames: number;
  clips?: number;
  crops?: number;
  seed?: number;
  top?: number;
}

export interface PredictResult {
  predictions: { label: string; prob: number }[];
  /** [C] per-view softmax averaged over the views, in label order */
  probs: Float32Array;
  views: number;
  frames: number;
  template: string;
}

export async function predict(video: string, opts: PredictOptions): Promise<PredictResult> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(video);
  } catch (e) {
    throw new Error(`vifi: cannot read video ${video}: ${(e as Error).message}`);
  }
  const loaded = await frozenModel(opts);
  const { model, config } = loaded;
  try {
    const C = opts.labels.length;
    const { tokens, template } = await promptsFor(loaded, opts.labels, opts);
    const S = config.vision.resolution;
    const T = opts.frames;
    const prep = await prepareVideo({
      path: video,
      mode: "test",
      frames: T,
      clips: opts.clips ?? 1,
      crops: opts.crops ?? 1,
      size: S,
      seed: opts.seed ?? 0,
    }, bytes);
    const V = prep.shape[0] / T;
    const sums = (await scoreViews(model, prep.data, 1, V, T, S, tokens, C)).scores;
    const probs = sums.map((s) => s / V);
    const predictions = topK(probs, opts.top ?? 5).map(({ index, value }) => ({
      label: opts.labels[index],
      prob: value,
    }));
    return { predictions, probs, views: V, frames: T, template };
  } finally {
    model.dispose();
  }
}
