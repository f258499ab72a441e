// The model half of a vifi checkpoint's metadata: what loading a checkpoint as a model needs. The
// trainer's checkpoint (lib/train/checkpoint.ts) extends it with the run, optimizer and loader
// position; the model never needs those, so it does not know their types.

import type { ClipConfig, PromptConfig } from "../config.ts";
import type { Precision } from "../clip.ts";
import type { Variant } from "../vifi.ts";
import type { TokenizerKind } from "../../text/tokenizer.ts";

/**
 * The tokenizer the model was trained with; a closed word list travels inside the checkpoint, so the file
 * alone can tokenize prompts wherever it is moved.
 */
export interface CheckpointTokenizer {
  kind: TokenizerKind;
  words?: string[];
}

export interface ModelCheckpointMeta {
  format: "vifi-checkpoint";
  library: string;
  model: {
    config: ClipConfig;
    variant: Variant;
    precision: Precision;
    prompts?: PromptConfig;
    tokenizer?: CheckpointTokenizer;
  };
  savedAt: string;
}

/** Whether a weight file's metadata is a vifi checkpoint's (anything else is a foreign file's own). */
export function isCheckpointMeta(m: unknown): m is ModelCheckpointMeta {
  return !!m && typeof m === "object" && (m as { format?: unknown }).format === "vifi-checkpoint" &&
    !!(m as { model?: unknown }).model;
}
