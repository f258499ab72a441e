// The text side of an experiment: the prompt templates, and the class prompts of every label file checked
// against the model's text context before anything loads.

import type { ClipConfig } from "../models/config.ts";
import { classTokens, tokenizerFor } from "../models/load.ts";
import { PromptTooLongError, type TextTokenizer } from "../text/tokenizer.ts";
import type { ResolveContext } from "./resolve-context.ts";
import type { TokenizerKind } from "../text/tokenizer.ts";
import { UnknownWordError } from "../text/words.ts";

/** The class names of one label file and the template they will be tokenized with. */
export interface ClassPrompts {
  /** the label file's field, named when a prompt is too long */
  field: string;
  names: string[];
  template: string;
}

export function checkTemplate(ctx: ResolveContext, t: unknown, field: string): void {
  if (typeof t !== "string" || !t.includes("{name}")) {
    ctx.fail(field, `must be a string containing "{name}", got ${JSON.stringify(t)}`);
  }
}

/** Fails on the first class prompt longer than the model's text context (see {@link longPrompt}). */
export async function checkPromptLengths(
  ctx: ResolveContext,
  config: ClipConfig,
  t: { tokenizer: TokenizerKind; vocab?: string },
  prompts: ClassPrompts[],
  placeholders: number,
): Promise<void> {
  const tooLong = await longPrompt(config, t, prompts, placeholders);
  if (tooLong) ctx.fail(...tooLong);
}

const tokenizers = new Map<string, Promise<TextTokenizer | undefined>>();

/** The experiment's tokenizer, once per load; undefined where it cannot be had (see {@link longPrompt}). */
function tokenizerOf(
  config: ClipConfig,
  t: { tokenizer: TokenizerKind; vocab?: string },
): Promise<TextTokenizer | undefined> {
  const key = `${t.tokenizer}|${t.vocab ?? ""}|${config.text.vocab}`;
  let p = tokenizers.get(key);
  if (!p) tokenizers.set(key, p = tokenizerFor({ ...t, config }).catch(() => undefined));
  return p;
}

/**
 * Fails (naming `field`) on the first pretraining caption longer than the model's text context: a pretrain
 * run tokenizes every caption it draws, so the longest wording of each template must fit.
 */
export async function checkCaptionLengths(
  ctx: ResolveContext,
  config: ClipConfig,
  t: { tokenizer: TokenizerKind; vocab?: string },
  captions: string[],
  field: string,
): Promise<void> {
  const tok = await tokenizerOf(config, t);
  if (!tok) return;
  for (const caption of captions) {
    try {
      classTokens(tok, [caption], "{name}", config.text.context);
    } catch (err) {
      if (err instanceof UnknownWordError) ctx.fail("model.vocab", err.message.replace(/^vifi: /, ""));
      if (!(err instanceof PromptTooLongError)) throw err;
      ctx.fail(
        field,
        `${
          JSON.stringify(config.name)
        } holds ${err.context} text tokens, too few for the pretraining caption ` +
          `${JSON.stringify(caption)} (${err.tokens} tokens with SOT/EOT)`,
      );
    }
  }
}

/**
 * The first class prompt longer than the model's text context, as [field, message naming the class and the
 * prompt], so that a dry run finds what training would otherwise stop on after loading the model. Where the
 * tokenizer cannot be had (no CLIP vocabulary downloaded yet, or a CLIP tokenizer for a model with another
 * token table) nothing is checked here: training reports that itself when it starts.
 */
async function longPrompt(
  config: ClipConfig,
  t: { tokenizer: TokenizerKind; vocab?: string },
  prompts: ClassPrompts[],
  placeholders: number,
): Promise<[string, string] | undefined> {
  const tok = await tokenizerOf(config, t);
  if (!tok) return undefined;
  for (const { field, names, template } of prompts) {
    try {
      classTokens(tok, names, template, config.text.context, placeholders);
    } catch (err) {
      if (err instanceof PromptTooLongError) return [field, err.message.replace(/^vifi: /, "")];
      if (err instanceof UnknownWordError) return ["model.vocab", err.message.replace(/^vifi: /, "")];
      throw err;
    }
  }
  return undefined;
}
