// Synthetic clips for the prompt-tuning tests, made in memory as the model takes them: the synthetic
// dataset's renderer (lib/data/synthetic.ts: one shape of a colour moving across a noisy background, each
// clip its own look and path) and the test transform a prediction applies, without the H.264 round trip.

import { drawClipPlan, NOISE, renderFrame } from "../../lib/data/synthetic.ts";
import { Rng } from "../../lib/random/rng.ts";
import { testTransform } from "../../lib/video/test-transform.ts";
import type { Frame } from "../../lib/video/frame.ts";

export interface ClipClass {
  /** the class name the text tower reads */
  name: string;
  colour: string;
  shape: string;
  motion: string;
}

/** Three colours of one shape, each moving its own way: names short enough for the tiny model's 16 tokens. */
export const CLASSES: ClipClass[] = [
  { name: "red", colour: "red", shape: "circle", motion: "left" },
  { name: "green", colour: "green", shape: "square", motion: "up" },
  { name: "blue", colour: "blue", shape: "triangle", motion: "down" },
];

/** `perClass` clips of every class, class after class: [N, T, 3, size, size] frames and their labels. */
export function syntheticClips(
  classes: ClipClass[],
  perClass: number,
  T: number,
  size: number,
  seed: number,
): { frames: Float32Array; labels: number[] } {
  const render = 64, per = T * 3 * size * size;
  const frames = new Float32Array(classes.length * perClass * per);
  const labels: number[] = [];
  const master = new Rng(seed);
  classes.forEach((c, label) => {
    for (let k = 0; k < perClass; k++) {
      const r = new Rng((master.next() * 2 ** 32) >>> 0);
      const plan = drawClipPlan(c, render, r);
      const rgba = new Uint8Array(render * render * 4);
      const strip: Frame[] = [];
      for (let t = 0; t < T; t++) {
        const f = T > 1 ? t / (T - 1) : 0;
        const cx = plan.x0 + plan.dx * plan.travel * f, cy = plan.y0 + plan.dy * plan.travel * f;
        renderFrame(rgba, render, plan.bg, c.shape, plan.rgb, cx, cy, plan.radius, r, NOISE, [
          plan.dx,
          plan.dy,
        ]);
        const rgb = new Uint8Array(render * render * 3);
        for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
          rgb[i] = rgba[j], rgb[i + 1] = rgba[j + 1], rgb[i + 2] = rgba[j + 2];
        }
        strip.push({ width: render, height: render, data: rgb });
      }
      frames.set(testTransform(strip, { size }).data, labels.length * per);
      labels.push(label);
    }
  });
  return { frames, labels };
}
