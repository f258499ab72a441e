// The CPU input rows of `deno task bench`: CLIP BPE tokenisation of the K400 prompts (tokenizer.ts) and
// the video decode + sample + transform pipeline (video.ts), as bench rows.

import { defaultCacheDir } from "../../io/download.ts";
import { benchTokenizer } from "./tokenizer.ts";
import { benchVideoPipeline } from "./video.ts";
import type { Emit } from "./row.ts";

/** CLIP BPE throughput on the K400 class prompts (CPU; no reference engine in this process). */
export async function tokenizerRow(emit: Emit): Promise<void> {
  const candidates = [
    new URL("../../../../shared/reference/vificlip-data/clip/bpe_simple_vocab_16e6.txt.gz", import.meta.url),
    new URL(`file://${defaultCacheDir()}/bpe_simple_vocab_16e6.txt.gz`),
  ];
  const vocab = candidates.find((u) => {
    try {
      return Deno.statSync(u).isFile;
    } catch {
      return false;
    }
  });
  if (!vocab) {
    console.error(
      "bench: tokenizer row skipped (no BPE vocabulary; run `deno task weights download ViT-B/16`)",
    );
    return;
  }
  const r = await benchTokenizer(vocab.pathname);
  emit({
    op: "tokenizer",
    shape: `K400 prompts (${r.classes})`,
    dtype: "-",
    ms: 1000 / r.prompts_per_s,
    prompts_per_s: r.prompts_per_s,
    prompts_per_s_cached: r.prompts_per_s_cached,
    ref: null,
    ref_ms: null,
    ratio: null,
  });
}

/** Decode + sample + transform on one core (video.ts), beside decoding from the start of the file. */
export async function videoPipelineRows(emit: Emit): Promise<void> {
  for (const r of await benchVideoPipeline()) {
    emit({
      op: "video-pipeline",
      shape: `${r.clip} → train 224², T=${r.frames}`,
      dtype: "-",
      ms: 1000 / r.frames_per_s,
      frames_per_s: r.frames_per_s,
      decode_ms: r.decode_ms,
      transform_ms: r.transform_ms,
      samples_per_frame: r.samples_per_frame,
      ref: "decoding from the start of the file",
      ref_ms: 1000 / r.ref_frames_per_s,
      ratio: r.frames_per_s / r.ref_frames_per_s,
    });
  }
}
