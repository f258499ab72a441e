// One prediction of the dashboard's predict form, as the worker (predict-worker.ts) runs it: open the
// uploaded video, run lib/cli/predict.ts's `predict`, and make PNG thumbnails of the frames it saw. Kept
// free of the web framework so the worker loads only what the model needs.

import { Buffer } from "node:buffer";
import { predict, type PredictResult } from "../lib/predict/predict.ts";
import { NoGpuError } from "../lib/gpu/device.ts";
import { decodeFrames, openVideo, VideoError } from "../lib/video/decode.ts";
import { encodePng } from "../lib/video/png.ts";
import { resizeBilinear } from "../lib/video/transforms.ts";
import { sampleForMode } from "../lib/video/sampling.ts";
import { Rng } from "../lib/random/rng.ts";
import { PromptFileError, promptOverlay, readPromptFile } from "../lib/browser/prompt-file.ts";

const MAX_THUMBNAILS = 32;
const THUMB_SIDE = 112;

export interface Thumbnail {
  /** the frame's index in the video */
  index: number;
  /** data:image/png;base64,… */
  src: string;
  width: number;
  height: number;
}

export interface PredictJob {
  /** the upload, written to a temporary file (the decoder reads from a path) */
  video: string;
  /** the upload's own name, for messages and the container's extension */
  fileName: string;
  /** a weights file the routes have already checked is allowed */
  weights: string;
  /** class names; empty when `prompts` is given: its own */
  labels: string[];
  /** an uploaded prompts file (its name and bytes) for the weights */
  prompts?: { name: string; bytes: Uint8Array };
  frames: number;
  clips: number;
  crops: number;
  template?: string;
}

/**
 * What the worker answers: the result, or an error with whose fault it is: "input" (the upload: 400),
 * "gpu" (no adapter here: 503) or "server" (500).
 */
export type JobReply =
  | { ok: true; result: PredictResult; thumbnails: Thumbnail[] }
  | { ok: false; kind: "input" | "gpu" | "server"; message: string };

/** The sampled frames of `video` (the indices prepareVideo takes with the same seed) as small PNGs. */
export async function thumbnailsOf(
  bytes: Uint8Array,
  fileName: string,
  frames: number,
  clips: number,
  seed = 0,
): Promise<Thumbnail[]> {
  const info = await openVideo(bytes, fileName);
  const idx = sampleForMode("test", info.frameCount, frames, clips, new Rng(seed));
  const unique = [...new Set(idx)].sort((a, b) => a - b).slice(0, MAX_THUMBNAILS);
  const decoded = await decodeFrames(bytes, fileName, unique, info);
  const out: Thumbnail[] = [];
  for (let k = 0; k < unique.length; k++) {
    const f = decoded[k];
    const scale = Math.min(1, THUMB_SIDE / Math.max(f.width, f.height));
    const w = Math.max(1, Math.round(f.width * scale)), h = Math.max(1, Math.round(f.height * scale));
    const small = scale < 1 ? resizeBilinear(f, w, h) : f;
    const png = await encodePng(small.width, small.height, small.data);
    out.push({
      index: unique[k],
      src: `data:image/png;base64,${Buffer.from(png).toString("base64")}`,
      width: small.width,
      height: small.height,
    });
  }
  return out;
}

export async function runPredictJob(job: PredictJob): Promise<JobReply> {
  try {
    const bytes = await Deno.readFile(job.video);
    // a file that is not a video is the upload's fault, found before a model is loaded for it
    await openVideo(bytes, job.fileName);
    const learned = job.prompts && readPromptFile(job.prompts.bytes, job.prompts.name);
    const result = await predict(job.video, {
      weights: job.weights,
      prompts: learned && promptOverlay(learned, job.prompts!.name),
      labels: job.labels.length ? job.labels : learned?.classes ?? [],
      frames: job.frames,
      clips: job.clips,
      crops: job.crops,
      template: job.template ?? learned?.template,
      top: 5,
    });
    const thumbnails = await thumbnailsOf(bytes, job.fileName, job.frames, job.clips);
    return { ok: true, result, thumbnails };
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).replace(/^vifi: /, "");
    const input = e instanceof VideoError || e instanceof PromptFileError;
    const kind = input ? "input" : e instanceof NoGpuError ? "gpu" : "server";
    return { ok: false, kind, message };
  }
}
