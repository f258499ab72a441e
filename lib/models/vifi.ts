// ViFi-CLIP: CLIP's image tower frame by frame, mean over time of the projected embeddings, cosine
// logits against the text tower's class embeddings, times exp(logit_scale) (docs/upstream.md §2.1, §5.1).

import {
  castFn,
  crossEntropyFn,
  l2NormalizeFn,
  logitScaleFn,
  matmulNT,
  meanFn,
  reshapeFn,
} from "../autograd/functions.ts";
import { type Param, Tape, Var } from "../autograd/tape.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { shapeStr, Tensor } from "../tensor/tensor.ts";
import { ClipModel, type Precision } from "./clip.ts";
import type { ClipConfig, Weights } from "./config.ts";

/**
 * What trains (docs/upstream.md §5.1): "both" = everything but the token embedding table (ViFi-CLIP), "image" =
 * the image tower (CLIP image-FT), "text" = the text tower without the token table (CLIP text-FT),
 * "frozen" = nothing (evaluation).
 */
export const VARIANTS = ["both", "image", "text", "prompt", "frozen"] as const;
export type Variant = typeof VARIANTS[number];

export function trainsParam(variant: Variant, name: string): boolean {
  if (name === "token_embedding.weight") return false;
  const isPrompt = name.includes("prompt_learner") || name.includes("VPT");
  // Prompt vectors train only in the prompt variant (the upstream's rule is by name).
  if (variant === "prompt") return isPrompt;
  if (isPrompt) return false;
  switch (variant) {
    case "both":
      return true;
    case "image":
      return name.startsWith("visual.");
    case "text":
      return !name.startsWith("visual.") && name !== "logit_scale";
    case "frozen":
      return false;
  }
}

export interface VifiOutput {
  /** [B, C] = exp(logit_scale)·v̂·t̂ᵀ */
  logits: Var;
  /** [B, E] pooled, L2-normalised video embeddings */
  video: Var;
  /** [C, E] L2-normalised class text embeddings */
  text: Var;
}

export class ViFiClip {
  private textCache?: { key: string; text: Tensor };

  constructor(readonly clip: ClipModel, public variant: Variant) {
    this.setVariant(variant);
  }

  static fromWeights(
    rt: Runtime,
    config: ClipConfig,
    weights: Weights,
    variant: Variant = "both",
    opts: { precision?: Precision } = {},
  ): ViFiClip {
    return new ViFiClip(ClipModel.fromWeights(rt, config, weights, opts), variant);
  }

  get config(): ClipConfig {
    return this.clip.config;
  }

  setVariant(variant: Variant): void {
    this.variant = variant;
    for (const [name, p] of this.clip.params) p.trainable = trainsParam(variant, name);
    this.dropTextCache();
  }

  /** Parameters that receive gradients, in a fixed order. */
  trainable(): Param[] {
    return [...this.clip.params.values()].filter((p) => p.trainable);
  }

  private evaluating = false;

  private textTrains(): boolean {
    return !this.evaluating &&
      this.trainable().some((p) =>
        !p.name.startsWith("visual.") && !p.name.startsWith("image_encoder.") && p.name !== "logit_scale"
      );
  }

  dropTextCache(): void {
    this.textCache?.text.dispose();
    this.textCache = undefined;
  }

  /** Normalised class embeddings: recomputed every step when the text tower trains, cached otherwise. */
  private async classEmbeddings(tape: Tape, tokens: Int32Array, classes: number): Promise<Var> {
    if (this.textTrains()) {
      return await l2NormalizeFn(tape, await this.clip.encodeText(tape, tokens, classes));
    }
    const key = `${classes}:${tokens.join(",")}`;
    if (this.textCache?.key !== key) {
      this.dropTextCache();
      const scratch = new Tape();
      const t = await l2NormalizeFn(scratch, await this.clip.encodeText(scratch, tokens, classes));
      const text = Tensor.empty(this.clip.rt, t.value.shape, t.value.dtype, "class embeddings");
      this.clip.rt.copyBuffer(t.value.buffer, 0, text.buffer, 0, Math.ceil(text.byteLength / 4) * 4);
      scratch.dispose();
      this.textCache = { key, text };
    }
    return new Var(this.textCache.text, false, "class embeddings");
  }

  /** frames [B, T, 3, R, R], tokens [C, context] → logits and the normalised embeddings. */
  async forward(tape: Tape, frames: Tensor, tokens: Int32Array, classes: number): Promise<VifiOutput> {
    const [B, T, ...image] = frames.shape;
    if (frames.shape.length !== 5) {
      throw new Error(
        `vifi: ViFi-CLIP takes frames [B, T, 3, R, R], got ${frames.name} ${shapeStr(frames.shape)}`,
      );
    }
    const perFrame = await this.clip.encodeImage(tape, frames.reshape([B * T, ...image]));
    const pooled = await meanFn(tape, reshapeFn(tape, perFrame, [B, T, this.config.embedDim]), 1);
    const video = await l2NormalizeFn(tape, pooled);
    const text = await this.classEmbeddings(tape, tokens, classes);
    const sims = await castFn(tape, await matmulNT(tape, video, text), "f32");
    const logits = await logitScaleFn(tape, sims, this.clip.p("logit_scale"));
    return { logits, video, text };
  }

  /** Forward + soft-target cross-entropy; targets [B, C] rows of probabilities. */
  async loss(tape: Tape, frames: Tensor, tokens: Int32Array, classes: number, targets: Tensor): Promise<Var> {
    const { logits } = await this.forward(tape, frames, tokens, classes);
    return await crossEntropyFn(tape, logits, targets);
  }

  /**
   * Runs `fn` with gradients paused (nothing recorded for backward, gradient buffers kept for compiled
   * steps) and the class embeddings computed once and cached for its duration. Nests.
   */
  async withoutGrad<T>(fn: () => Promise<T>): Promise<T> {
    if (this.evaluating) return await fn();
    // Text weights that train may have changed since any cached embeddings were made.
    const textTrains = this.textTrains();
    if (textTrains) this.dropTextCache();
    this.evaluating = true;
    for (const p of this.clip.params.values()) p.paused = true;
    try {
      return await fn();
    } finally {
      for (const p of this.clip.params.values()) p.paused = false;
      this.evaluating = false;
      if (textTrains) this.dropTextCache();
    }
  }

  /** Pooled normalised video embeddings [B, E] and class embeddings [C, E], read back (no gradients). */
  embed(
    frames: Tensor,
    tokens: Int32Array,
    classes: number,
  ): Promise<{ video: Float32Array; text: Float32Array; logits: Float32Array }> {
    return this.withoutGrad(async () => {
      const tape = new Tape();
      try {
        const out = await this.forward(tape, frames, tokens, classes);
        return {
          video: Float32Array.from(await out.video.value.read()),
          text: Float32Array.from(await out.text.value.read()),
          logits: Float32Array.from(await out.logits.value.read()),
        };
      } finally {
        tape.dispose();
      }
    });
  }

  dispose(): void {
    this.dropTextCache();
    this.clip.dispose();
  }
}
