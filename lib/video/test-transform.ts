// The test pipeline: either short side → 256·size/224 and a centre crop, or short side → size and mmaction's
// ThreeCrop (three crops along the long side, in ThreeCrop's order). Both normalise in the pass that crops.

import { IDENTITY } from "./color-jitter.ts";
import { checkCrop, type Frame } from "./frame.ts";
import { finishInto, type TransformResult } from "./normalize.ts";
import { resizePlan, resizeWindowInto, shortSideSize } from "./resize.ts";

/** ThreeCrop offsets along the long side of a (w, h) frame whose short side equals `size`. */
export function threeCropOffsets(w: number, h: number, size: number): [number, number][] {
  if (h === size) {
    const step = Math.floor((w - size) / 2);
    return [[0, 0], [2 * step, 0], [step, 0]];
  }
  if (w === size) {
    const step = Math.floor((h - size) / 2);
    return [[0, 0], [0, 2 * step], [0, step]];
  }
  throw new Error(`threeCrop: ${w}x${h} has no side equal to ${size}`);
}

/**
 * Test pipeline. crops 3: short side → size, left/right/middle (or top/bottom/middle), crop-major;
 * any other value: short side → 256·size/224, centre crop.
 */
export function testTransform(
  frames: Frame[],
  opts: { crops?: number; size?: number } = {},
): TransformResult {
  if (frames.length === 0) throw new Error("testTransform: no frames");
  const size = opts.size ?? 224;
  const n = frames.length;
  if (opts.crops === 3) {
    const out = new Float32Array(3 * n * 3 * size * size);
    const sizes = frames.map((f) => shortSideSize(f.width, f.height, size));
    const plans = frames.map((f, t) => resizePlan(f.width, f.height, sizes[t][0], sizes[t][1]));
    const offs = threeCropOffsets(sizes[0][0], sizes[0][1], size);
    for (const [x, y] of offs) for (const [w, h] of sizes) checkCrop(w, h, x, y, size, size);
    // the three crops cover (nearly) all of the resized frame: resize it whole, crop while normalising
    let resized = new Uint8Array(0);
    frames.forEach((f, t) => {
      const [w, h] = sizes[t];
      if (resized.length !== w * h * 3) resized = new Uint8Array(w * h * 3);
      resizeWindowInto(f.data, plans[t], 0, 0, w, h, resized);
      offs.forEach(([x, y], c) =>
        finishInto(resized, w, x, y, size, size, IDENTITY, false, false, out, c * n + t)
      );
    });
    return { data: out, shape: [3 * n, 3, size, size] };
  }
  const scaleResize = Math.trunc(256 / 224 * size);
  const out = new Float32Array(n * 3 * size * size);
  const cropped = new Uint8Array(size * size * 3);
  frames.forEach((f, t) => {
    const [w, h] = shortSideSize(f.width, f.height, scaleResize);
    const plan = resizePlan(f.width, f.height, w, h);
    const x = Math.floor((w - size) / 2), y = Math.floor((h - size) / 2);
    checkCrop(w, h, x, y, size, size);
    resizeWindowInto(f.data, plan, x, y, size, size, cropped);
    finishInto(cropped, size, 0, 0, size, size, IDENTITY, false, false, out, t);
  });
  return { data: out, shape: [n, 3, size, size] };
}
