// The last step of every pipeline: mmcv imnormalize into the (T, 3, H, W) float32 tensor the model takes.
// imnormalize is cv2.subtract then cv2.multiply with float64 scalars: the subtraction runs in float32
// against the mean rounded to float32, the product in float64 with 1/std, rounded once to float32 (checked
// against cv2 4.6.0 for all 256 values per channel). Flip and greyscale commute with the pointwise ops before
// them, so the pipelines fold them into this one final pass too.

import { IDENTITY } from "./color-jitter.ts";
import type { Frame } from "./frame.ts";

export const MEAN = [123.675, 116.28, 103.53] as const;
export const STD = [58.395, 57.12, 57.375] as const;

// mmcv imnormalize of every byte value per channel: float32 subtraction, float64 product, one rounding.
const NORM = [0, 1, 2].map((c) => {
  const m = Math.fround(MEAN[c]), k = 1 / STD[c];
  return Float32Array.from({ length: 256 }, (_, v) => Math.fround(v - m) * k);
});

/**
 * The tail of every pipeline in one pass: window (x0, y0, w, h) of the packed RGB image s (row length
 * `width` pixels) read through `lut`, optionally greyed and mirrored (both commute with the pointwise
 * ops before them), normalised into frame slot t of a (T, 3, h, w) tensor.
 */
export function finishInto(
  s: Uint8Array,
  width: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
  lut: Uint8Array,
  gray: boolean,
  flip: boolean,
  dst: Float32Array,
  t: number,
): void {
  const hw = w * h, o0 = t * 3 * hw, o1 = o0 + hw, o2 = o1 + hw;
  let [n0, n1, n2] = NORM;
  if (!gray && lut !== IDENTITY) {
    n0 = new Float32Array(256), n1 = new Float32Array(256), n2 = new Float32Array(256);
    for (let v = 0; v < 256; v++) n0[v] = NORM[0][lut[v]], n1[v] = NORM[1][lut[v]], n2[v] = NORM[2][lut[v]];
  }
  const step = flip ? -3 : 3;
  for (let y = 0, o = 0; y < h; y++) {
    let i = ((y0 + y) * width + x0 + (flip ? w - 1 : 0)) * 3;
    if (gray) {
      for (let x = 0; x < w; x++, o++, i += step) {
        const l = (lut[s[i]] * 19595 + lut[s[i + 1]] * 38470 + lut[s[i + 2]] * 7471 + 0x8000) >> 16;
        dst[o0 + o] = n0[l], dst[o1 + o] = n1[l], dst[o2 + o] = n2[l];
      }
    } else {
      for (let x = 0; x < w; x++, o++, i += step) {
        dst[o0 + o] = n0[s[i]], dst[o1 + o] = n1[s[i + 1]], dst[o2 + o] = n2[s[i + 2]];
      }
    }
  }
}

/** Normalise frame `f` into `dst` at frame slot `t` of a (T, 3, H, W) float32 layout. */
export function normalizeInto(f: Frame, dst: Float32Array, t: number): void {
  finishInto(f.data, f.width, 0, 0, f.width, f.height, IDENTITY, false, false, dst, t);
}

export interface TransformResult {
  data: Float32Array;
  shape: [number, number, number, number];
}
