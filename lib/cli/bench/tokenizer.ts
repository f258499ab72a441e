// Tokenizer throughput for `deno task bench`: every Kinetics-400 class in ViFi-CLIP's training template
// ("a photo of a {name}."), tokenised to [400, 77] over and over for about a second. The per-word
// cache is cleared before every pass, so the figure is first-time tokenisation of a class list (what
// model construction pays), not cache look-ups; the cached rate is reported next to it.

import { readLabelCsv } from "../../data/labels.ts";
import { ClipTokenizer } from "../../text/tokenizer.ts";

/** The copy of the reference repository's label files shipped next to this checkout. */
const K400_LABELS = new URL(
  "../../../../shared/reference/vificlip-data/labels/kinetics_400_labels.csv",
  import.meta.url,
);

export interface TokenizerBenchOptions {
  /** class names, or a label CSV path (default: the reference K400 list) */
  labels?: string[] | string;
  /** how long each measurement runs (default 1) */
  seconds?: number;
}

export interface TokenizerBenchResult {
  /** prompts per second with a cold word cache every pass */
  prompts_per_s: number;
  /** prompts per second once every word is cached */
  prompts_per_s_cached: number;
  /** loading the vocabulary file (gunzip + merge table) */
  load_ms: number;
  classes: number;
}

function rate(tok: ClipTokenizer, prompts: string[], seconds: number, cold: boolean): number {
  let done = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    if (cold) tok.clearCache();
    tok.tokenize(prompts);
    done += prompts.length;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < seconds);
  return done / elapsed;
}

export async function benchTokenizer(
  vocabPath: string,
  opts: TokenizerBenchOptions = {},
): Promise<TokenizerBenchResult> {
  const seconds = opts.seconds ?? 1;
  const names = Array.isArray(opts.labels)
    ? opts.labels
    : await readLabelCsv(opts.labels ?? decodeURIComponent(K400_LABELS.pathname));
  const prompts = names.map((n) => `a photo of a ${n}.`);
  const t0 = performance.now();
  const tok = await ClipTokenizer.fromFile(vocabPath);
  const load_ms = performance.now() - t0;
  rate(tok, prompts, Math.min(0.2, seconds / 5), true); // let the JIT settle before measuring
  const cold = rate(tok, prompts, seconds, true);
  const warm = rate(tok, prompts, seconds, false);
  return { prompts_per_s: cold, prompts_per_s_cached: warm, load_ms, classes: names.length };
}
