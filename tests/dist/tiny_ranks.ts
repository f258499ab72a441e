// What the data-parallel rank scripts (dp_rank.ts, overlap_rank.ts) share: the tiny ViFi-CLIP's sizes and
// prompts, a fixed global batch of GLOBAL videos of which each rank takes its own rows, and the trainable
// tensors read back as one array in name order.

import type { World } from "../../lib/dist/mpi.ts";
import type { Runtime } from "../../lib/gpu/runtime.ts";
import { clipConfig } from "../../lib/models/config.ts";
import { randomTokens } from "../../lib/models/parity.ts";
import type { ViFiClip } from "../../lib/models/vifi.ts";
import { Rng } from "../../lib/random/rng.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import type { StepBatch } from "../../lib/train/step.ts";

export const tiny = clipConfig("tiny");
export const GLOBAL = 8, T = 2, C = 3, R = tiny.vision.resolution;
/** floats of one video's frames */
export const PER = T * 3 * R * R;
export const tokens = randomTokens(tiny, C, new Rng(3));

/** Global batch `k`, the same on every rank: this rank's rows of its frames and labels. */
export function rankBatch(world: World, k: number): { frames: Float32Array; labels: Int32Array } {
  const rng = new Rng(1000 + k);
  const frames = Float32Array.from(rng.normals(GLOBAL * PER));
  const labels = Int32Array.from({ length: GLOBAL }, () => rng.int(C));
  const B = GLOBAL / world.size;
  const rows = [world.rank * B, (world.rank + 1) * B];
  return { frames: frames.slice(rows[0] * PER, rows[1] * PER), labels: labels.slice(rows[0], rows[1]) };
}

/** Rows of a batch as the compiled step takes them: frames on the device and one-hot targets. */
export function stepBatch(rt: Runtime, b: { frames: Float32Array; labels: Int32Array }): StepBatch {
  const B = b.labels.length;
  const targets = new Float32Array(B * C);
  b.labels.forEach((l, i) => targets[i * C + l] = 1);
  return {
    frames: Tensor.from(rt, b.frames, [B, T, 3, R, R], "f32", "frames"),
    tokens,
    classes: C,
    targets: Tensor.from(rt, targets, [B, C], "f32", "targets"),
  };
}

/** The model's trainable tensors (values or gradients) in name order as one array, and [name, length] of each. */
export async function flatTrainable(
  model: ViFiClip,
  of: "value" | "grad",
): Promise<[Float32Array, [string, number][]]> {
  const entries = [...model.clip.params].filter(([, p]) => p.trainable).sort(([a], [b]) => (a < b ? -1 : 1));
  const parts = await Promise.all(
    entries.map(async ([, p]) => (await (of === "grad" ? p.gradBuffer() : p.value).read()) as Float32Array),
  );
  const flat = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    flat.set(p, o);
    o += p.length;
  }
  return [flat, entries.map(([n], i) => [n, parts[i].length])];
}
