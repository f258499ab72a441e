// The model section of an experiment: which variant, which architecture (given, or left to the weight
// file), the prompt config and template, the tokenizer, precision and input size, and the files it loads.

import { checkPromptConfig, CLIP_CONFIGS, type ClipConfig } from "../models/config.ts";
import { VARIANTS } from "../models/vifi.ts";
import { DEFAULTS } from "./defaults.ts";
import { pathKind, type ResolveContext } from "./resolve-context.ts";
import { checkTemplate } from "./resolve-prompts.ts";
import type { ModelSpec, ResolvedExperiment } from "./types.ts";
import { TOKENIZER_KINDS } from "../text/tokenizer.ts";

export interface ResolvedModelSection {
  model: ResolvedExperiment["model"];
  /** the architecture's config when `arch` is given; without it nothing that needs the shapes is checked */
  config?: ClipConfig;
}

export async function resolveModel(ctx: ResolveContext, m: ModelSpec): Promise<ResolvedModelSection> {
  const { variant, arch, config } = architecture(ctx, m);
  // With learned text context the prompt is "X … X {name}." (docs/upstream.md §4.1): the X slots precede the name.
  const template = m.template ?? (m.prompt && m.prompt.textCtx > 0 ? "{name}." : DEFAULTS.template);
  checkTemplate(ctx, template, "model.template");
  const tokenizer = ctx.oneOf(
    m.tokenizer ?? DEFAULTS.tokenizer,
    "model.tokenizer",
    TOKENIZER_KINDS,
  );
  const precision = ctx.oneOf(
    m.precision ?? DEFAULTS.precision,
    "model.precision",
    ["f32", "f16", "auto"] as const,
  );
  const inputSize = ctx.posInt(m.inputSize ?? config?.vision.resolution ?? 224, "model.inputSize");
  if (config && inputSize % config.vision.patch !== 0) {
    ctx.fail(
      "model.inputSize",
      `${inputSize} is not a multiple of ${arch}'s patch size ${config.vision.patch}`,
    );
  }
  const { weights, clipWeights, vocab } = await modelFiles(ctx, m);
  return {
    config,
    model: {
      variant,
      template,
      tokenizer,
      precision,
      inputSize,
      ...(arch !== undefined ? { arch } : {}),
      ...(weights !== undefined ? { weights } : {}),
      ...(clipWeights !== undefined ? { clipWeights } : {}),
      ...(m.prompt !== undefined ? { prompt: { ...m.prompt } } : {}),
      ...(vocab !== undefined ? { vocab } : {}),
    },
  };
}

/** The variant, the architecture (or a weight file to infer it from) and a prompt config that fits both. */
function architecture(
  ctx: ResolveContext,
  m: ModelSpec,
): { variant: ResolvedExperiment["model"]["variant"]; arch?: string; config?: ClipConfig } {
  const variant = ctx.oneOf(m.variant ?? DEFAULTS.variant, "model.variant", VARIANTS);
  let arch: string | undefined;
  if (m.arch !== undefined) {
    if (!CLIP_CONFIGS[m.arch]) {
      ctx.fail(
        "model.arch",
        `unknown architecture ${JSON.stringify(m.arch)}; known: ${Object.keys(CLIP_CONFIGS).join(", ")}`,
      );
    }
    arch = m.arch;
  } else if (m.weights === undefined) {
    ctx.fail("model.arch", 'give an architecture (e.g. "ViT-B/16") or a weight file to infer it from');
  }
  const config = arch ? CLIP_CONFIGS[arch] : undefined;
  if (m.prompt !== undefined && variant !== "prompt") {
    ctx.fail("model.prompt", `a prompt config needs model.variant "prompt" (got ${JSON.stringify(variant)})`);
  }
  if (variant === "prompt" && m.prompt === undefined) {
    ctx.fail(
      "model.prompt",
      'model.variant "prompt" needs a prompt config {textCtx, visionCtx, textDepth, visionDepth}',
    );
  }
  if (m.prompt && config) {
    try {
      checkPromptConfig(config, m.prompt);
    } catch (err) {
      ctx.fail("model.prompt", (err as Error).message.replace(/^vifi: /, ""));
    }
  }
  return { variant, arch, config };
}

/**
 * The weight files (missing ones are warnings on a dry run) and the vocabulary (a file or a folder, which
 * must exist even on a dry run), made absolute.
 */
async function modelFiles(
  ctx: ResolveContext,
  m: ModelSpec,
): Promise<{ weights?: string; clipWeights?: string; vocab?: string }> {
  const weights = await ctx.optionalFile(m.weights, "model.weights", "weight file");
  const clipWeights = await ctx.optionalFile(m.clipWeights, "model.clipWeights", "CLIP weight file");
  const vocab = m.vocab === undefined ? undefined : ctx.abs(m.vocab, "model.vocab");
  if (vocab !== undefined && (await pathKind(vocab)) === null) {
    ctx.fail("model.vocab", `vocabulary ${vocab} does not exist`);
  }
  return { weights, clipWeights, vocab };
}
