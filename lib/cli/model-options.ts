// The command-line options every model-loading command shares (predict, embed, export), parsed into
// lib/predict's ModelChoice with one-line usage errors.

import { LabelListError, parseLabelList, readLabelCsv } from "../data/labels.ts";
import type { Precision } from "../models/clip.ts";
import type { ModelChoice } from "../predict/predict.ts";
import { intArg, UsageError } from "./args.ts";
import { TOKENIZER_KINDS, type TokenizerKind } from "../text/tokenizer.ts";

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

export function tokenizerArg(v: string | undefined): TokenizerKind | undefined {
  if (v === undefined || (TOKENIZER_KINDS as readonly string[]).includes(v)) return v as TokenizerKind;
  throw new UsageError(`--tokenizer must be ${TOKENIZER_KINDS.join(", ")}, got "${v}"`);
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
