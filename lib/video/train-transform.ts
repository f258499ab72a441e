// The training pipeline for one video: short-side resize, MultiScaleCrop, resize to the input size,
// ColorJitter, RandomGrayscale, horizontal flip, normalisation. MultiScaleCrop's size and offset candidates
// (snap when |size − 224| < 3) and the flip follow mmaction's algorithms (no mmaction here to diff against).
// Not reproducible: the random streams (torch / python `random` / numpy) are replaced by Rng, so the same
// decisions are drawn with the same distributions but not the same values.
//
// trainTransform rearranges the op-by-op chain without changing a bit: only the crop window of the first
// resize is computed, brightness/contrast LUTs stay pending into the next pass, and flip/greyscale/
// normalisation share one final pass. tests/video/transforms_test.ts compares it with the chain.

import type { Rng } from "../random/rng.ts";
import { drawJitter, IDENTITY, jitterInPlace } from "./color-jitter.ts";
import { checkCrop, type Frame } from "./frame.ts";
import { finishInto, type TransformResult } from "./normalize.ts";
import { RESIZE_COPY, resizePlan, resizeWindowInto, shortSideSize } from "./resize.ts";

export const MSC_SCALES = [1, 0.875, 0.75, 0.66] as const;

/** MultiScaleCrop's candidate (w, h) crop sizes, snapped to `input` when less than 3 px away. */
export function multiScaleCandidates(w: number, h: number, input = 224): [number, number][] {
  const base = Math.min(w, h);
  const sizes = MSC_SCALES.map((s) => Math.floor(base * s));
  const snap = (v: number) => (Math.abs(v - input) < 3 ? input : v);
  const out: [number, number][] = [];
  for (let i = 0; i < sizes.length; i++) {
    for (let j = 0; j < sizes.length; j++) {
      if (Math.abs(i - j) <= 1) out.push([snap(sizes[j]), snap(sizes[i])]);
    }
  }
  return out;
}

/** The 5 fixed offsets: upper left, upper right, lower left, lower right, centre. */
export function multiScaleOffsets(w: number, h: number, cw: number, ch: number): [number, number][] {
  const ws = Math.floor((w - cw) / 4), hs = Math.floor((h - ch) / 4);
  return [[0, 0], [4 * ws, 0], [0, 4 * hs], [4 * ws, 4 * hs], [2 * ws, 2 * hs]];
}

/**
 * The crop of a training video: "multi-scale" MultiScaleCrop as upstream (sizes from 1 to 0.66 of the
 * short side, width and height drawn apart, so a crop may be non-square and is then stretched to a square);
 * "square" MultiScaleCrop's square sizes only (scale jitter without stretching shapes); "centre" no crop
 * augmentation, the test transform's centre crop.
 */
export const TRAIN_CROPS = ["multi-scale", "square", "centre"] as const;
export type TrainCrop = typeof TRAIN_CROPS[number];

export interface TrainOptions {
  size?: number;
  /** default "multi-scale" (upstream) */
  crop?: TrainCrop;
  scaleResize?: number;
  flipP?: number;
  colorJitterP?: number;
  grayP?: number;
}

export interface TrainDecisions {
  crop: { x: number; y: number; w: number; h: number };
  flip: boolean;
  jitter: boolean;
  gray: boolean;
}

/**
 * The per-video draws of the training pipeline for w×h frames, in the order the random stream is consumed:
 * MultiScaleCrop size and offset on the short-side resize, then the flip, jitter and grayscale coins.
 */
export function drawTrainDecisions(
  w: number,
  h: number,
  rng: Rng,
  opts: TrainOptions = {},
): TrainDecisions & { size: number; resized: [number, number] } {
  const size = opts.size ?? 224;
  const resized = shortSideSize(w, h, opts.scaleResize ?? Math.trunc(256 / 224 * size));
  const [rw, rh] = resized;
  const [cx, cy, cw, ch] = drawCrop(rw, rh, size, opts.crop ?? "multi-scale", rng);
  const flip = rng.next() < (opts.flipP ?? 0.5);
  const jitter = rng.next() < (opts.colorJitterP ?? 0.8);
  const gray = rng.next() < (opts.grayP ?? 0.2);
  return { size, resized, crop: { x: cx, y: cy, w: cw, h: ch }, flip, jitter, gray };
}

/**
 * The crop window [x, y, w, h] on the rw×rh resize: a size and an offset drawn from the stream, or, for
 * "centre", nothing drawn.
 */
function drawCrop(rw: number, rh: number, size: number, kind: TrainCrop, rng: Rng): number[] {
  if (kind === "centre") return [Math.floor((rw - size) / 2), Math.floor((rh - size) / 2), size, size];
  const all = multiScaleCandidates(rw, rh, size);
  const cands = kind === "square" ? all.filter(([w, h]) => w === h) : all;
  const [cw, ch] = cands[rng.int(cands.length)];
  const offs = multiScaleOffsets(rw, rh, cw, ch);
  const [cx, cy] = offs[rng.int(offs.length)];
  return [cx, cy, cw, ch];
}

/** Training pipeline for one video's frames (all the same size): (T, 3, size, size) float32. */
export function trainTransform(
  frames: Frame[],
  rng: Rng,
  opts: TrainOptions = {},
): TransformResult & { decisions: TrainDecisions } {
  if (frames.length === 0) throw new Error("trainTransform: no frames");
  const { width: w0, height: h0 } = frames[0];
  const d = drawTrainDecisions(w0, h0, rng, opts);
  const { size, resized: [rw, rh], flip, jitter, gray } = d;
  const { x: cx, y: cy, w: cw, h: ch } = d.crop;
  const out = new Float32Array(frames.length * 3 * size * size);
  // Only the crop window of the short-side resize is computed; see ResizePlan.
  const first = resizePlan(w0, h0, rw, rh);
  checkCrop(rw, rh, cx, cy, cw, ch);
  const second = resizePlan(cw, ch, size, size);
  const cropped = new Uint8Array(cw * ch * 3);
  const resized = second.mode === RESIZE_COPY ? cropped : new Uint8Array(size * size * 3);
  const n3 = size * size * 3;
  frames.forEach((f0, t) => {
    if (f0.width !== w0 || f0.height !== h0) {
      throw new Error(`trainTransform: frame ${t} is ${f0.width}x${f0.height}, frame 0 is ${w0}x${h0}`);
    }
    resizeWindowInto(f0.data, first, cx, cy, cw, ch, cropped);
    if (resized !== cropped) resizeWindowInto(cropped, second, 0, 0, size, size, resized);
    const lut = jitter ? jitterInPlace(resized, n3, drawJitter(rng), IDENTITY) : IDENTITY;
    finishInto(resized, size, 0, 0, size, size, lut, gray, flip, out, t);
  });
  return {
    data: out,
    shape: [frames.length, 3, size, size],
    decisions: { crop: d.crop, flip, jitter, gray },
  };
}
