// What the model receives for one video, exactly as the upstream pipeline makes it (spec §5.2–5.3):
// read → open → sample frame indices → decode only those → spatial transforms → normalised float32.
// Runs in a loader worker or in-process; deterministic from the job's seed.

import { Rng } from "../selftest/rng.ts";
import { decodeFrames, openVideo } from "../video/decode.ts";
import { sampleForMode } from "../video/sampling.ts";
import { type Frame, testTransform, trainTransform, type TransformResult } from "../video/transforms.ts";

export interface PrepareJob {
  path: string;
  mode: "train" | "test";
  /** frames per clip (T) */
  frames: number;
  /** test views: clips × crops (training always draws one clip, one crop) */
  clips?: number;
  crops?: number;
  /** output side (224 for CLIP ViT-B/16) */
  size?: number;
  /** probabilities of the per-video colour jitter and grayscale coins (AUG.COLOR_JITTER / GRAY_SCALE) */
  colorJitter?: number;
  grayScale?: number;
  flip?: number;
  seed: number;
}

export interface Prepared {
  /** [views·T, 3, size, size] normalised frames, views = crops·clips (crop-major, then clip-major) */
  data: Float32Array;
  shape: [number, number, number, number];
  indices: number[];
}

export async function prepareVideo(job: PrepareJob, bytes?: Uint8Array): Promise<Prepared> {
  const file = bytes ?? await Deno.readFile(job.path);
  const info = await openVideo(file, job.path);
  const rng = new Rng(job.seed);
  const clips = job.mode === "test" ? job.clips ?? 1 : 1;
  const idx = sampleForMode(job.mode, info.frameCount, job.frames, clips, rng);
  const frames = await decodeFrames(file, job.path, idx, info);
  const out = transformFor(job, frames, rng);
  return { data: out.data, shape: out.shape, indices: Array.from(idx) };
}

/** The spatial part: the training augmentations or the test crops, continuing the job's random stream. */
export function transformFor(job: PrepareJob, frames: Frame[], rng: Rng): TransformResult {
  return job.mode === "train"
    ? trainTransform(frames, rng, {
      size: job.size,
      colorJitterP: job.colorJitter,
      grayP: job.grayScale,
      flipP: job.flip,
    })
    : testTransform(frames, { crops: job.crops, size: job.size });
}
