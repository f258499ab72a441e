// `deno task predict VIDEO`: the upstream's custom-video notebook as a command — class names in, the
// most likely classes out. The video goes through the test pipeline (segment-centre frames, short side
// 256/224 · R, centre or three crops, ImageNet normalisation; spec §5.3), every view is scored and the
// per-view softmax probabilities are averaged (spec §7). Exit codes: 0 fine, 1 a file could not be
// read or does not fit, 2 usage.

import { parseArgs } from "node:util";
import { getRuntime } from "../gpu/runtime.ts";
import { prepareVideo } from "../data/prepare.ts";
import { LabelListError, parseLabelList, readLabelCsv } from "../data/labels.ts";
import { classTokens, type LoadedModel, loadModel, tokenizerFor } from "../models/load.ts";
import type { Precision } from "../models/clip.ts";
import { scoreViews, topK } from "../train/views.ts";
import { intArg, UsageError } from "./args.ts";
import { LIMITS_USAGE } from "../video/limits.ts";

const USAGE = `usage:
  deno task predict VIDEO --weights FILE (--labels "a,b,c" | --labels-file CSV) [--frames T]
                    [--clips N] [--crops 1|3] [--seed S] [--top K] [--template S] [--clip-weights FILE]
                    [--vocab FILE] [--tokenizer clip|bytes] [--head-width N] [--precision f32|f16|auto]
                    [--json]
      the K (default 5) most likely labels with their probabilities: the softmax of the cosine logits
      (× exp(logit_scale)) per view, averaged over the clips·crops views
  --weights       OpenAI CLIP (.pt), ViFi-CLIP checkpoint (.pth, needs --clip-weights for the token
                  table), Hugging Face safetensors or a vifi checkpoint
  --labels        class names separated by commas, CSV quoting for names with commas: '"a, b",c'
  --labels-file   a label CSV (id,name) as the upstream's labels/*.csv
  --template      prompt per class, "{name}" is replaced (default "a photo of a {name}."; a model with
                  learned text prompts uses "{name}." after its placeholders)
  --json          prints {"predictions": [{"label", "prob"}, …]}
  ${LIMITS_USAGE}`;

export { intArg, UsageError };

/**
 * Class names from --labels (one CSV line: `"a, b",c`) or --labels-file (a label CSV); undefined when
 * neither. Empty and repeated names are refused by both.
 */
export async function labelsFrom(list?: string, file?: string): Promise<string[] | undefined> {
  if (list !== undefined && file !== undefined) {
    throw new UsageError("give --labels or --labels-file, not both");
  }
  if (file !== undefined) return await readLabelCsv(file);
  if (list === undefined) return undefined;
  try {
    return parseLabelList(list);
  } catch (e) {
    if (e instanceof LabelListError) throw new UsageError(e.message);
    throw e;
  }
}

export function precisionArg(v: string | undefined): Precision | "auto" {
  if (v === undefined) return "f32";
  if (v !== "f32" && v !== "f16" && v !== "auto") {
    throw new UsageError(`--precision must be f32, f16 or auto, got "${v}"`);
  }
  return v;
}

export function tokenizerArg(v: string | undefined): "clip" | "bytes" | undefined {
  if (v === undefined || v === "clip" || v === "bytes") return v;
  throw new UsageError(`--tokenizer must be clip or bytes, got "${v}"`);
}

/** The options every model-loading command shares. */
export const MODEL_OPTIONS = {
  weights: { type: "string" },
  "clip-weights": { type: "string" },
  vocab: { type: "string" },
  tokenizer: { type: "string" },
  "head-width": { type: "string" },
  precision: { type: "string" },
  labels: { type: "string" },
  "labels-file": { type: "string" },
  template: { type: "string" },
  frames: { type: "string", short: "T" },
  help: { type: "boolean", short: "h" },
} as const;

export interface ClassPrompts {
  tokens: Int32Array;
  template: string;
}

/** Token rows for `labels`, with the prompt variant's placeholders when the model has learned text prompts. */
export async function promptsFor(
  loaded: LoadedModel,
  labels: string[],
  opts: { template?: string; vocab?: string; tokenizer?: "clip" | "bytes" },
): Promise<ClassPrompts> {
  const ctx = loaded.model.clip.prompts?.textCtx ?? 0;
  const template = opts.template ?? (ctx > 0 ? "{name}." : "a photo of a {name}.");
  const tok = await tokenizerFor({ tokenizer: opts.tokenizer, vocab: opts.vocab, config: loaded.config });
  return { tokens: classTokens(tok, labels, template, loaded.config.text.context, ctx), template };
}

/** The model and prompt options every model-loading command shares (MODEL_OPTIONS on the command line). */
export interface ModelChoice {
  weights: string;
  clipWeights?: string;
  template?: string;
  vocab?: string;
  tokenizer?: "clip" | "bytes";
  headWidth?: number;
  precision?: Precision | "auto";
}

/** MODEL_OPTIONS' parsed values as a ModelChoice. */
export function modelChoice(values: {
  weights?: string;
  "clip-weights"?: string;
  template?: string;
  vocab?: string;
  tokenizer?: string;
  "head-width"?: string;
  precision?: string;
}): ModelChoice {
  if (!values.weights) throw new UsageError("--weights FILE is required");
  return {
    weights: values.weights,
    clipWeights: values["clip-weights"],
    template: values.template,
    vocab: values.vocab,
    tokenizer: tokenizerArg(values.tokenizer),
    headWidth: values["head-width"] === undefined
      ? undefined
      : intArg(values["head-width"], "head-width", 64, 1),
    precision: precisionArg(values.precision),
  };
}

/** An inference-only model (nothing trains) from the weights the user named. */
export async function frozenModel(m: ModelChoice): Promise<LoadedModel> {
  return await loadModel(await getRuntime(), {
    weights: m.weights,
    clipWeights: m.clipWeights,
    variant: "frozen",
    precision: m.precision,
    headWidth: m.headWidth,
  });
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

export async function main(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...MODEL_OPTIONS,
        clips: { type: "string" },
        crops: { type: "string" },
        seed: { type: "string" },
        top: { type: "string" },
        json: { type: "boolean" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("expected exactly one VIDEO");
    const model = modelChoice(values);
    const labels = await labelsFrom(values.labels, values["labels-file"]);
    if (!labels) throw new UsageError("give the class names with --labels or --labels-file");
    const crops = intArg(values.crops, "crops", 1, 1);
    if (crops !== 1 && crops !== 3) throw new UsageError(`--crops must be 1 or 3 (spec §5.3), got ${crops}`);
    const r = await predict(positionals[0], {
      ...model,
      labels,
      frames: intArg(values.frames, "frames", 8, 1),
      clips: intArg(values.clips, "clips", 1, 1),
      crops,
      seed: intArg(values.seed, "seed", 0, 0),
      top: intArg(values.top, "top", 5, 1),
    });
    if (values.json) {
      console.log(JSON.stringify({ predictions: r.predictions }));
    } else {
      console.log(
        `${positionals[0]}: ${r.frames} frames × ${r.views} view${r.views > 1 ? "s" : ""}, ` +
          `${labels.length} classes, prompt ${JSON.stringify(r.template)}`,
      );
      const width = Math.max(...r.predictions.map((p) => p.label.length));
      r.predictions.forEach((p, i) => {
        console.log(`${String(i + 1).padStart(3)}. ${p.label.padEnd(width)}  ${(100 * p.prob).toFixed(2)} %`);
      });
    }
    return 0;
  } catch (e) {
    return reportError(e);
  }
}

/** Usage errors exit 2 with the usage text; anything else (a file, a GPU error) exits 1 with one line. */
export function reportError(e: unknown, usage = USAGE): number {
  if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(`error: ${(e as Error).message}\n${usage}`);
    return 2;
  }
  // one line whatever the source (a GpuError, a decoder's log, a parser's message): no stack trace
  const msg = (e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "").replace(/\s*\n\s*/g, " ");
  console.error(`error: ${msg}`);
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
