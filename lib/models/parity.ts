// Parity of the WGSL model with an independent engine: the same random weights exported to ONNX
// (lib/models/weights/onnx-export.ts) and run by onnxruntime-web (wasm), compared output by output.

import { Tape } from "../autograd/tape.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { exportImageTower, exportVifiLogits } from "./weights/onnx-export.ts";
import { relErr, worst } from "../selftest/check.ts";
import { Rng } from "../random/rng.ts";
import { Tensor } from "../tensor/tensor.ts";
import { ClipModel } from "./clip.ts";
import { type ClipConfig, initClipWeights, type Weights } from "./config.ts";
import { ViFiClip } from "./vifi.ts";

// deno-lint-ignore no-explicit-any
type Ort = any;

export async function loadOrt(): Promise<Ort> {
  const ort = await import("npm:onnxruntime-web@1.30.0");
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = "error";
  return ort;
}

/** Random token rows of different lengths: ids < vocab − 1, then EOT (the largest id), then zeros. */
export function randomTokens(config: ClipConfig, classes: number, rng: Rng): Int32Array {
  const ctx = config.text.context;
  const eot = config.text.vocab - 1;
  const t = new Int32Array(classes * ctx);
  for (let c = 0; c < classes; c++) {
    const n = 1 + rng.int(ctx - 2);
    for (let i = 1; i <= n; i++) t[c * ctx + i] = 1 + rng.int(eot - 1);
    t[c * ctx] = eot - 1; // a start token below EOT, like CLIP's SOT 49406 < EOT 49407
    t[c * ctx + n + 1] = eot;
  }
  return t;
}

async function runOrt(
  ort: Ort,
  model: Uint8Array,
  feeds: Record<string, unknown>,
): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(model);
  try {
    const out = await session.run(feeds);
    const res: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(out)) res[k] = (v as { data: Float32Array }).data;
    return res;
  } finally {
    await session.release();
  }
}

export interface ParityResult {
  /** worst error over the compared outputs (relative for embeddings; see `cosineErr` for logits) */
  relErr: number;
  outputs: Record<string, number>;
}

/**
 * ViFi-CLIP logits, video and text embeddings: WGSL (f32 or f16 storage) vs onnxruntime-web (f32)
 * on random weights (LayerNorms randomised too) and random videos/prompts.
 */
export async function vifiParity(
  rt: Runtime,
  config: ClipConfig,
  opts: { batch: number; frames: number; classes: number; dtype?: "f32" | "f16"; seed: number; ort?: Ort },
): Promise<ParityResult> {
  const ort = opts.ort ?? await loadOrt();
  const rng = new Rng(opts.seed);
  const weights = initClipWeights(config, opts.seed, { randomNorms: true });
  const { batch: B, frames: T, classes: C } = opts;
  const R = config.vision.resolution;
  const frames = rng.normals(B * T * 3 * R * R);
  const tokens = randomTokens(config, C, rng);
  const model = ViFiClip.fromWeights(rt, config, weights, "frozen", {
    precision: opts.dtype === "f16" ? "f16" : "f32",
  });
  const tf = Tensor.from(rt, frames, [B, T, 3, R, R], "f32", "frames");
  let ours: { video: Float32Array; text: Float32Array; logits: Float32Array };
  try {
    ours = await model.embed(tf, tokens, C);
  } finally {
    tf.dispose();
    model.dispose();
  }
  const ref = await runOrt(ort, exportVifiLogits(config, weights, { batch: B, frames: T, classes: C }), {
    frames: new ort.Tensor("float32", Float32Array.from(frames), [B, T, 3, R, R]),
    tokens: new ort.Tensor("int64", BigInt64Array.from(tokens, (x) => BigInt(x)), [C, config.text.context]),
  });
  const outputs = {
    logits: cosineErr(ours.logits, ref.logits, Math.exp(weights.get("logit_scale")!.data[0])),
    video: relErr(ours.video, ref.video_embeds),
    text: relErr(ours.text, ref.text_embeds_normalized),
  };
  return { relErr: worst(...Object.values(outputs)), outputs };
}

/**
 * The logits' largest error in units of the logit scale, i.e. the error of the cosines themselves.
 * A relative error of the logits is ill-conditioned on random weights: the cosines sit near zero,
 * so a small absolute error reads as a large relative one (f16, 30 seeds: 0.7e-3 to 4.1e-3 while
 * the embeddings it came from stayed below 2.1e-3). A cosine of unit vectors moves by at most the
 * sum of the two vectors' errors, so this measure stays of the embeddings' size and shares their
 * tolerance, while a wrong kernel still moves it by order one.
 */
export function cosineErr(logits: ArrayLike<number>, ref: ArrayLike<number>, scale: number): number {
  if (logits.length !== ref.length) return NaN;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(logits[i] - ref[i]);
    if (!Number.isFinite(d)) return NaN;
    worst = Math.max(worst, d);
  }
  return worst / scale;
}

/** The image tower alone on `frames` frames (for full-size configs where the whole graph is too big). */
export async function imageTowerParity(
  rt: Runtime,
  config: ClipConfig,
  opts: { frames: number; seed: number; weights?: Weights; ort?: Ort; dtype?: "f32" | "f16" },
): Promise<ParityResult> {
  const ort = opts.ort ?? await loadOrt();
  const rng = new Rng(opts.seed);
  const weights = opts.weights ?? initClipWeights(config, opts.seed, { randomNorms: true });
  const R = config.vision.resolution;
  const frames = rng.normals(opts.frames * 3 * R * R);
  const clip = ClipModel.fromWeights(rt, config, weights, { precision: opts.dtype ?? "f32" });
  for (const p of clip.params.values()) p.trainable = false;
  const tf = Tensor.from(rt, frames, [opts.frames, 3, R, R], "f32", "frames");
  const tape = new Tape();
  let ours: Float32Array;
  try {
    ours = Float32Array.from(await (await clip.encodeImage(tape, tf)).value.read());
  } finally {
    tape.dispose();
    tf.dispose();
    clip.dispose();
  }
  const ref = await runOrt(ort, exportImageTower(config, weights, { frames: opts.frames }), {
    frames: new ort.Tensor("float32", Float32Array.from(frames), [opts.frames, 3, R, R]),
  });
  const e = relErr(ours, ref.image_embeds);
  return { relErr: e, outputs: { image_embeds: e } };
}
