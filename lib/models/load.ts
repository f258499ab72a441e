// A ready model from whatever the user holds: OpenAI's CLIP release, a ViFi-CLIP training checkpoint
// (which needs CLIP's token table from a second file, docs/upstream.md §4.2), a Hugging Face safetensors export,
// vifi's own checkpoint — or nothing at all (random weights of a named architecture, for tests and
// demos). Also the class prompts the text tower reads, tokenised the way the model was trained.

import type { Runtime } from "../gpu/runtime.ts";
import { loadWeights, type WeightBytes, type WeightFormat, weightName } from "./weights/load.ts";
import type { Naming } from "./weights/keymap.ts";
import { isCheckpointMeta, type ModelCheckpointMeta } from "./weights/checkpoint-meta.ts";
import {
  ByteTokenizer,
  CLIP_VOCAB_SIZE,
  loadTokenizer,
  PromptTooLongError,
  type TextTokenizer,
  type TokenizerKind,
} from "../text/tokenizer.ts";
import { readWordList, WordTokenizer } from "../text/words.ts";
import type { Precision } from "./clip.ts";
import { type ClipConfig, clipConfig, initClipWeights, type Weights } from "./config.ts";
import { type Variant, ViFiClip } from "./vifi.ts";

export interface LoadModelOptions {
  /** any weight file loadWeights reads (a path, or its bytes: no file system); absent: random weights of `arch` */
  weights?: string | WeightBytes;
  /** an OpenAI CLIP file for the token embedding that ViFi-CLIP checkpoints lack */
  clipWeights?: string | WeightBytes;
  /** architecture for random init (a CLIP_CONFIGS name, or a config); ignored when `weights` is given */
  arch?: string | ClipConfig;
  variant: Variant;
  /** load the file's prompt tensors into the model (default true) */
  prompt?: boolean;
  /** "auto": f16 where the device's shader-f16 works, else f32 (default "f32") */
  precision?: Precision | "auto";
  strict?: boolean;
  /** head width for inferring head counts from shapes (64 in every released CLIP; tiny uses 16) */
  headWidth?: number;
  /** random init seed (default 0) */
  seed?: number;
  /**
   * Called with the weights once they are loaded (or initialised), before the model is built from
   * them: data-parallel training overwrites them there with rank 0's (lib/train/data-parallel.ts).
   */
  beforeBuild?: (weights: Weights) => Promise<void>;
}

export interface LoadedModel {
  model: ViFiClip;
  config: ClipConfig;
  /** where the weights came from; null for random init */
  source: { format: WeightFormat; naming: Naming; file: string } | null;
  /** the run metadata of a vifi checkpoint */
  checkpoint?: ModelCheckpointMeta;
}

export function resolvePrecision(rt: Runtime, p: Precision | "auto" | undefined): Precision {
  if (p === "auto") return rt.gpu.features.f16 ? "f16" : "f32";
  return p ?? "f32";
}

export async function loadModel(rt: Runtime, opts: LoadModelOptions): Promise<LoadedModel> {
  const precision = resolvePrecision(rt, opts.precision);
  if (!opts.weights) {
    if (opts.clipWeights) {
      throw new Error("vifi: clipWeights only completes a weights file; no weights file was given");
    }
    const config = typeof opts.arch === "string" ? clipConfig(opts.arch) : opts.arch;
    if (!config) throw new Error("vifi: loadModel needs a weights file or an architecture (arch)");
    const weights = initClipWeights(config, opts.seed ?? 0);
    await opts.beforeBuild?.(weights);
    const model = ViFiClip.fromWeights(rt, config, weights, opts.variant, { precision });
    return { model, config, source: null };
  }
  let loaded;
  try {
    loaded = await loadWeights(opts.weights, {
      clipWeights: opts.clipWeights,
      strict: opts.strict,
      headWidth: opts.headWidth,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // The mapping report says it in the middle of a long list; the fix is what the user needs.
    if (!opts.clipWeights && /ViFi-CLIP checkpoints have no token embedding/.test(msg)) {
      throw new Error(
        `vifi: ${
          weightName(opts.weights)
        } is a ViFi-CLIP checkpoint, which has no token embedding (the text tower's ` +
          "input table): pass the OpenAI CLIP file it was fine-tuned from as clipWeights (--clip-weights " +
          "ViT-B-16.pt)",
      );
    }
    throw e;
  }
  await opts.beforeBuild?.(loaded.weights);
  const model = ViFiClip.fromWeights(rt, loaded.config, loaded.weights, opts.variant, { precision });
  try {
    if (loaded.prompts && opts.prompt !== false) {
      model.clip.addPrompts(loaded.prompts.config, loaded.prompts.weights);
      // addPrompts makes the new parameters trainable whatever the variant says
      model.setVariant(opts.variant);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return {
    model,
    config: loaded.config,
    source: { format: loaded.format, naming: loaded.naming, file: weightName(opts.weights) },
    checkpoint: isCheckpointMeta(loaded.meta) ? loaded.meta : undefined,
  };
}

export interface TokenizerForOptions {
  /** default: "clip" for CLIP's 49,408-id vocabulary, "bytes" for any other */
  tokenizer?: TokenizerKind;
  /** the BPE vocabulary file (default: the vifi cache), or the word list of the "words" tokenizer */
  vocab?: string;
  /** the "words" tokenizer's list when no `vocab` file is named: a checkpoint's saved words, and where from */
  words?: { list: string[]; source: string };
  config: ClipConfig;
}

/** The tokenizer whose ids the model's token table was trained on. */
export async function tokenizerFor(opts: TokenizerForOptions): Promise<TextTokenizer> {
  const vocab = opts.config.text.vocab;
  const kind = opts.tokenizer ?? (vocab === CLIP_VOCAB_SIZE ? "clip" : "bytes");
  if (kind === "clip") {
    if (vocab !== CLIP_VOCAB_SIZE) {
      throw new Error(
        `vifi: the CLIP tokenizer makes ids up to ${CLIP_VOCAB_SIZE - 1} but this model's token table has ` +
          `${vocab} rows; use the byte-level tokenizer`,
      );
    }
    return await loadTokenizer({ vocab: opts.vocab });
  }
  if (kind === "words") {
    if (opts.vocab === undefined && opts.words) {
      return new WordTokenizer(opts.words.list, vocab, opts.words.source);
    }
    if (opts.vocab === undefined) {
      throw new Error(
        "vifi: the words tokenizer needs its word list: name the file as model.vocab (--vocab)",
      );
    }
    const list = await readWordList(opts.vocab);
    return new WordTokenizer(list.words, vocab, `the word list ${list.path}`);
  }
  return new ByteTokenizer(vocab);
}

/**
 * Token rows [C, context] of the class prompts: `template` with "{name}" replaced by each class name
 * (verbatim, docs/upstream.md §4.1). With `placeholders` > 0 (the prompt variant, docs/upstream.md §4.1) each row starts with
 * that many "X" tokens after SOT, the slots the learned context vectors overwrite, and underscores
 * in names become spaces as upstream does there. The rows are built from encode() rather than by
 * tokenising "X X … X" because a byte-level tokenizer would count the spaces as tokens too.
 */
export function classTokens(
  tokenizer: TextTokenizer,
  names: string[],
  template: string,
  context: number,
  placeholders = 0,
): Int32Array {
  if (!template.includes("{name}")) {
    throw new Error(`vifi: the prompt template ${JSON.stringify(template)} has no {name} to substitute`);
  }
  const x = placeholders > 0 ? tokenizer.encode("X") : [];
  if (placeholders > 0 && x.length !== 1) {
    throw new Error("vifi: the tokenizer does not encode X as one token");
  }
  const out = new Int32Array(names.length * context);
  names.forEach((name, c) => {
    const text = template.replaceAll("{name}", placeholders > 0 ? name.replaceAll("_", " ") : name);
    const ids = [tokenizer.sot, ...Array(placeholders).fill(x[0]), ...tokenizer.encode(text), tokenizer.eot];
    if (ids.length > context) {
      const err = new PromptTooLongError(text, ids.length, context);
      err.message =
        `class ${c} ${JSON.stringify(name)}: the prompt ${JSON.stringify(text)} is ${ids.length} ` +
        `tokens with SOT/EOT${placeholders ? ` and ${placeholders} prompt placeholders` : ""}, over the ` +
        `model's text context of ${context}; shorten the name or the template`;
      throw err;
    }
    out.set(ids, c * context);
  });
  return out;
}
