// Predict in a page: the server's lib/predict/predict.ts on the visitor's GPU. Weights come as bytes or from
// a URL (streamed with progress, kept in the Cache API: ./weights.ts), the video as bytes (decoded in the
// page: ./video.ts), the class prompts tokenised as the checkpoint was trained, the views scored with the
// same code the server scores them with (lib/train/views.ts), and the answer carries what a page shows:
// top-k with probabilities, the frames the model saw, the time each stage took and the adapter used.

import { getRuntime, type Runtime } from "../gpu/runtime.ts";
import { NoGpuError } from "../gpu/device.ts";
import type { LoadedModel } from "../models/load.ts";
import { promptsFor } from "../predict/predict.ts";
import { scoreViews, topK } from "../train/views.ts";
import { MEAN, STD } from "../video/normalize.ts";
import { fetchWeights, modelFromBytes, type Progress } from "./weights.ts";
import { clipTokenizerFrom } from "./tokens.ts";
import { CLIP_VOCAB_SIZE, type TextTokenizer } from "../text/tokenizer.ts";
import { type PageDecoder, prepareVideoInPage, useFfmpegWasm } from "./video.ts";

export interface PagePredictInput {
  /** the weight file's bytes, or its URL (fetched once, then read from the browser's cache) */
  weights: Uint8Array | string | URL;
  /** how errors name byte weights (default "weights") */
  weightsName?: string;
  /** class names, in the order `probs` follows */
  classes: string[];
  /** prompt template with {name} (default: as the server's predict chooses) */
  template?: string;
  /** CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) by URL: needed by models with CLIP's token table */
  vocab?: string | URL;
  /** the video file's bytes (MP4 decodes with WebCodecs where exact; anything ffmpeg reads otherwise) */
  video: Uint8Array;
  /** the video's file name, for errors (default "video.mp4") */
  videoName?: string;
  /** frames per view (default 8), test clips and crops (default 1 each), sampling seed (default 0) */
  frames?: number;
  clips?: number;
  crops?: number;
  seed?: number;
  /** how many predictions (default 5) */
  top?: number;
  /** the decoder (default "auto": WebCodecs where exact, else ffmpeg.wasm) */
  decoder?: "auto" | PageDecoder;
  /** where this site serves ffmpeg-core.wasm (see useFfmpegWasm), for videos WebCodecs cannot decode exactly */
  ffmpegWasm?: string | URL;
}

/** One frame as the model saw it (the first view), RGBA: `new ImageData(data, width, height)` shows it. */
export interface PageFrame {
  width: number;
  height: number;
  data: Uint8ClampedArray;
  /** the frame's index in the video */
  index: number;
}

export interface PagePrediction {
  predictions: { label: string; prob: number }[];
  /** per-view softmax averaged over the views, in class order */
  probs: Float32Array;
  frames: PageFrame[];
  /** the model's input [views·T, 3, S, S], exactly what lib/data/prepare.ts makes on the server */
  input: { data: Float32Array; shape: [number, number, number, number] };
  views: number;
  template: string;
  /** where the weights came from this time; "memory" when the model was already loaded */
  weightsFrom: "bytes" | "cache" | "network" | "memory";
  decoder: PageDecoder;
  /** why the video did not decode with WebCodecs, when it did not */
  decoderFallback?: string;
  /** wall milliseconds per stage and in all */
  ms: { weights: number; model: number; video: number; predict: number; total: number };
  adapter: { vendor: string; architecture: string; description: string; f16: boolean };
}

/** Which stage is running; weights and video report bytes or nothing. */
export type PageProgress = (
  stage: "weights" | "model" | "vocab" | "video" | "predict",
  loaded?: number,
  total?: number,
) => void;

export type PageWebGpu =
  | { available: true; adapter: PagePrediction["adapter"] }
  | { available: false; why: string };

/** The page's WebGPU device, or a one-line error a page can show (and then predict on the server). */
async function pageRuntime(): Promise<Runtime> {
  try {
    return await getRuntime();
  } catch (e) {
    if (!(e instanceof NoGpuError)) throw e;
    // NoGpuError's advice is for a server (drivers, DENO_WEBGPU_BACKEND); a visitor needs another
    const detail = /\(([^)]*)\)/.exec(e.message)?.[1] ?? "no adapter";
    throw new Error(
      `vifi: this page has no WebGPU (${detail}); it needs a browser with WebGPU on, over https or from ` +
        "localhost",
    );
  }
}

function adapterOf(rt: Runtime): PagePrediction["adapter"] {
  const g = rt.gpu;
  return {
    vendor: g.info.vendor,
    architecture: g.info.architecture,
    description: g.info.description,
    f16: g.features.f16,
  };
}

/**
 * Whether this page can predict on its own GPU (then the adapter it would use), or why not: what a page
 * asks before it offers "run in my browser" rather than the server.
 */
export async function pageWebGpu(): Promise<PageWebGpu> {
  try {
    return { available: true, adapter: adapterOf(await pageRuntime()) };
  } catch (e) {
    return { available: false, why: e instanceof Error ? e.message : String(e) };
  }
}

/** The last model loaded, kept for the next prediction with the same weights (URL, or the same bytes). */
let kept: { key: string | Uint8Array; loaded: LoadedModel } | undefined;

/** Frees the kept model's GPU memory. */
export function releasePageModel(): void {
  kept?.loaded.model.dispose();
  kept = undefined;
}

async function modelFor(
  rt: Runtime,
  input: PagePredictInput,
  progress: PageProgress | undefined,
  ms: PagePrediction["ms"],
): Promise<{ loaded: LoadedModel; from: PagePrediction["weightsFrom"] }> {
  const w = input.weights;
  const key = w instanceof Uint8Array ? w : new URL(w, globalThis.location?.href).href;
  if (kept && kept.key === key) return { loaded: kept.loaded, from: "memory" };
  releasePageModel();
  let t = performance.now();
  let bytes: Uint8Array, from: PagePrediction["weightsFrom"] = "bytes", name = input.weightsName ?? "weights";
  if (w instanceof Uint8Array) bytes = w;
  else {
    const onBytes: Progress = (loaded, total) => progress?.("weights", loaded, total);
    const got = await fetchWeights(key as string, onBytes);
    [bytes, from, name] = [got.bytes, got.from, got.url];
  }
  ms.weights = performance.now() - t;
  progress?.("model");
  t = performance.now();
  const loaded = await modelFromBytes(rt, bytes, name);
  ms.model = performance.now() - t;
  kept = { key, loaded };
  return { loaded, from };
}

/**
 * The tokenizer the page must build itself: CLIP's BPE (from `vocab`) for a model with CLIP's token table
 * that was not trained with another tokenizer; undefined where the checkpoint or the table decides (a
 * saved word list, the byte-level tokenizer), which needs no file.
 */
async function pageTokenizer(
  loaded: LoadedModel,
  input: PagePredictInput,
  progress: PageProgress | undefined,
): Promise<TextTokenizer | undefined> {
  const kind = loaded.checkpoint?.model.tokenizer?.kind ??
    (loaded.config.text.vocab === CLIP_VOCAB_SIZE ? "clip" : "bytes");
  if (kind !== "clip") return undefined;
  if (input.vocab === undefined) {
    throw new Error(
      "vifi: this model reads CLIP's BPE tokens: pass vocab, the URL of bpe_simple_vocab_16e6.txt.gz on this site",
    );
  }
  progress?.("vocab");
  return await clipTokenizerFrom(input.vocab, (loaded, total) => progress?.("vocab", loaded, total));
}

/** The first view's T frames back to RGBA bytes (the normalisation undone, rounded). */
function viewFrames(data: Float32Array, T: number, S: number, indices: number[]): PageFrame[] {
  const out: PageFrame[] = [];
  for (let k = 0; k < T; k++) {
    const rgba = new Uint8ClampedArray(S * S * 4);
    for (let c = 0; c < 3; c++) {
      const base = (k * 3 + c) * S * S;
      for (let i = 0; i < S * S; i++) rgba[i * 4 + c] = Math.round(data[base + i] * STD[c] + MEAN[c]);
    }
    for (let i = 0; i < S * S; i++) rgba[i * 4 + 3] = 255;
    out.push({ width: S, height: S, data: rgba, index: indices[k] });
  }
  return out;
}

/** The prediction in flight: calls run one after another, so one never frees the model another is using. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * One video classified on this page's GPU, as `deno task predict` classifies it on the server: the same
 * weights, prompts, frames and views give the same probabilities (to float rounding between GPUs).
 * Calls made while one runs wait their turn.
 */
export function predictInPage(input: PagePredictInput, progress?: PageProgress): Promise<PagePrediction> {
  const run = queue.then(() => predictNow(input, progress));
  queue = run.catch(() => {});
  return run;
}

async function predictNow(input: PagePredictInput, progress?: PageProgress): Promise<PagePrediction> {
  const t0 = performance.now();
  if (input.classes.length === 0) throw new Error("vifi: predictInPage needs at least one class name");
  const rt = await pageRuntime();
  const ms = { weights: 0, model: 0, video: 0, predict: 0, total: 0 };
  const { loaded, from } = await modelFor(rt, input, progress, ms);
  const { model, config } = loaded;
  const C = input.classes.length;
  const textTokenizer = await pageTokenizer(loaded, input, progress);
  const { tokens, template } = await promptsFor(loaded, input.classes, {
    template: input.template,
    textTokenizer,
  });
  const S = config.vision.resolution;
  const T = input.frames ?? 8;
  if (input.ffmpegWasm !== undefined) useFfmpegWasm(input.ffmpegWasm);
  progress?.("video");
  let t = performance.now();
  const prep = await prepareVideoInPage(
    {
      path: input.videoName ?? "video.mp4",
      mode: "test",
      frames: T,
      clips: input.clips ?? 1,
      crops: input.crops ?? 1,
      size: S,
      seed: input.seed ?? 0,
    },
    input.video,
    { decoder: input.decoder },
  );
  ms.video = performance.now() - t;
  progress?.("predict");
  t = performance.now();
  const V = prep.shape[0] / T;
  const sums = (await scoreViews(model, prep.data, 1, V, T, S, tokens, C)).scores;
  const probs = sums.map((s) => s / V);
  ms.predict = performance.now() - t;
  const predictions = topK(probs, input.top ?? 5).map(({ index, value }) => ({
    label: input.classes[index],
    prob: value,
  }));
  ms.total = performance.now() - t0;
  return {
    predictions,
    probs,
    frames: viewFrames(prep.data, T, S, prep.indices),
    input: { data: prep.data, shape: prep.shape },
    views: V,
    template,
    weightsFrom: from,
    decoder: prep.decoder,
    decoderFallback: prep.fallback,
    ms,
    adapter: adapterOf(rt),
  };
}
