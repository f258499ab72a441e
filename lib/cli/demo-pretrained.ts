// The demo's pretrained CLIP: made once by experiments/synthetic-pretrain.exp.ts and kept in the cache
// folder under a name derived from everything that decides its bytes (the architecture, the tokenizer and
// its word list, the pretrain section, the seed), so a later demo loads it instead of pretraining again,
// and any change to the recipe makes a new file rather than reusing a stale one.

import { copyFileAtomic } from "../io/atomic-write.ts";
import { defaultCacheDir } from "../io/download.ts";
import { pathKind } from "../dsl/resolve-context.ts";
import type { ResolvedExperiment } from "../dsl/types.ts";

/** A short hex digest of `text` (SHA-256, first 12 hex digits). */
async function digest(text: string): Promise<string> {
  const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(bytes)].slice(0, 6).map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Where the weights the resolved pretrain experiment `exp` makes are cached. */
export async function pretrainedCachePath(
  exp: ResolvedExperiment,
  cacheDir = defaultCacheDir(),
): Promise<string> {
  if (!exp.pretrain) throw new Error(`vifi: experiment ${JSON.stringify(exp.name)} has no pretrain section`);
  const words = exp.model.tokenizer === "words" && exp.model.vocab
    ? await Deno.readTextFile(exp.model.vocab)
    : "";
  const key = await digest(JSON.stringify({
    arch: exp.model.arch,
    tokenizer: exp.model.tokenizer,
    words,
    precision: exp.model.precision,
    pretrain: exp.pretrain,
    seed: exp.seed,
  }));
  return `${cacheDir}/demo/${exp.name}-${key}.safetensors`;
}

/** Whether a cached file is there to load (an unreadable cache folder is an error, not a miss). */
export async function isCached(path: string): Promise<boolean> {
  return (await pathKind(path)) === "file";
}

/** Copies a finished pretrain run's weights into the cache, atomically (lib/io/atomic-write.ts). */
export async function keepInCache(weights: string, cachePath: string): Promise<void> {
  await Deno.mkdir(cachePath.slice(0, cachePath.lastIndexOf("/")), { recursive: true });
  await copyFileAtomic(weights, cachePath);
}
