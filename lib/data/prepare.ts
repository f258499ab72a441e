// What the model receives for one video, exactly as the upstream pipeline makes it (docs/upstream.md §7.2–7.3):
// read → open → sample frame indices → decode only those → spatial transforms → normalised float32.
// Runs in a loader worker or in-process; deterministic from the job's seed.

import { Rng } from "../random/rng.ts";
import {
  countDecodableFrames,
  decodeFrames,
  MissingFramesError,
  openVideo,
  VideoError,
  type VideoInfo,
} from "../video/decode.ts";
import { sampleForMode } from "../video/sampling.ts";
import { checkInputSize } from "../video/limits.ts";
import { type Frame, testTransform, trainTransform, type TransformResult } from "../video/transforms.ts";
import type { TrainCrop } from "../video/train-transform.ts";

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
  /** the training crop (default "multi-scale", upstream's MultiScaleCrop) */
  crop?: TrainCrop;
  seed: number;
}

export interface Prepared {
  /** [views·T, 3, size, size] normalised frames, views = crops·clips (crop-major, then clip-major) */
  data: Float32Array;
  shape: [number, number, number, number];
  indices: number[];
  /** frames sampled from: the container's count, or what decodes when the container lists more */
  frameCount: number;
  /** where the time went: reading + probing + decoding, and the spatial transforms */
  ms: { decode: number; transform: number };
}

/** Refuses, before anything is read or allocated, a job whose output exceeds the input cap (limits.ts). */
export function checkJobSize(job: PrepareJob): void {
  const clips = job.mode === "test" ? job.clips ?? 1 : 1;
  const crops = job.mode === "test" ? job.crops ?? 1 : 1;
  checkInputSize(
    `${clips} clip${clips > 1 ? "s" : ""} × ${crops} crop${crops > 1 ? "s" : ""}`,
    clips * crops,
    job.frames,
    job.size ?? 224,
  );
}

export async function prepareVideo(job: PrepareJob, bytes?: Uint8Array): Promise<Prepared> {
  checkJobSize(job);
  const t0 = performance.now();
  const file = bytes ?? await Deno.readFile(job.path);
  let info = await openVideo(file, job.path);
  const clips = job.mode === "test" ? job.clips ?? 1 : 1;
  const attempt = async (v: VideoInfo) => {
    const rng = new Rng(job.seed);
    const idx = sampleForMode(job.mode, v.frameCount, job.frames, clips, rng);
    return { idx, rng, frames: await decodeFrames(file, job.path, idx, v) };
  };
  let got;
  try {
    got = await attempt(info);
  } catch (e) {
    if (!(e instanceof MissingFramesError)) throw e;
    // The container lists frames that do not decode: count what does and sample again from that.
    const count = await countDecodableFrames(file, job.path);
    if (count === 0) throw new VideoError(job.path, `none of the ${info.frameCount} listed frames decode`);
    info = {
      ...info,
      frameCount: count,
      keyFrames: info.keyFrames.filter((k) => k < count),
      times: info.times.slice(0, count),
    };
    got = await attempt(info);
  }
  const t1 = performance.now();
  const out = transformFor(job, got.frames, got.rng);
  return {
    data: out.data,
    shape: out.shape,
    indices: Array.from(got.idx),
    frameCount: info.frameCount,
    ms: { decode: t1 - t0, transform: performance.now() - t1 },
  };
}

/** The spatial part: the training augmentations or the test crops, continuing the job's random stream. */
export function transformFor(job: PrepareJob, frames: Frame[], rng: Rng): TransformResult {
  return job.mode === "train"
    ? trainTransform(frames, rng, {
      size: job.size,
      colorJitterP: job.colorJitter,
      grayP: job.grayScale,
      flipP: job.flip,
      crop: job.crop,
    })
    : testTransform(frames, { crops: job.crops, size: job.size });
}
