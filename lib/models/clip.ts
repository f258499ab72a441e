// CLIP's two towers on the kernels, exactly as ../shared/reference/vificlip-spec.md §1.3–1.4: a ViT
// image tower (patch conv without bias, class token, positional embedding, ln_pre, pre-LN blocks with
// packed in_proj attention and QuickGELU MLPs, ln_post on the class token, proj) and a causal text
// tower (token + positional embedding, ln_final, EOT pooling by argmax token id, text_projection).

import {
  addFn,
  appendRows,
  attentionFn,
  embeddingFn,
  layerNormFn,
  layerNormResidualFn,
  linear,
  prependToken,
  project,
  quickGeluFn,
  replaceRows,
  reshapeFn,
  selectRows,
} from "../autograd/functions.ts";
import { Param, type Tape, type Var } from "../autograd/tape.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { im2col } from "../tensor/ops/patch_embed.ts";
import { cast } from "../tensor/ops/elementwise.ts";
import { expectDtype, shapeStr, Tensor } from "../tensor/tensor.ts";
import {
  type ClipConfig,
  clipShapes,
  type PromptConfig,
  promptShapes,
  visionTokens,
  type Weights,
} from "./config.ts";

/** conv1.weight [W, 3, P, P] is kept as the [W, 3·P·P] matrix its im2col GEMM multiplies. */
function storedShape(name: string, shape: number[]): number[] {
  return name === "visual.conv1.weight" ? [shape[0], shape[1] * shape[2] * shape[3]] : shape;
}

/**
 * "f32": everything in f32. "f16" (mixed precision, needs a working shader-f16): the forward and
 * backward run on f16 copies of the weights with f16 activations and f32 accumulation inside every
 * kernel, LayerNorm statistics and the logit head in f32, and gradients land in f32 master weights.
 */
export type Precision = "f32" | "f16";

export class ClipModel {
  readonly params: Map<string, Param> = new Map();

  /** set by addPrompts(): the bridge-and-prompt variant's learned prompts */
  prompts?: PromptConfig;

  private constructor(readonly rt: Runtime, readonly config: ClipConfig, readonly precision: Precision) {}

  /** Add (learned) prompt parameters; they join `params` under their ViFi-CLIP names. */
  addPrompts(p: PromptConfig, weights: Weights): void {
    const t = this.config.text;
    if (p.textCtx > 0 && (p.textDepth < 1 || p.textDepth > t.layers || 1 + p.textCtx >= t.context)) {
      throw new Error(
        `vifi: text prompts: ${p.textCtx} vectors at depth ${p.textDepth} do not fit ${this.config.name}`,
      );
    }
    if (p.visionCtx > 0 && (p.visionDepth < 1 || p.visionDepth > this.config.vision.layers)) {
      throw new Error(`vifi: vision prompts: depth ${p.visionDepth} does not fit ${this.config.name}`);
    }
    for (const [name, shape] of promptShapes(this.config, p)) {
      const w = weights.get(name);
      if (!w) throw new Error(`vifi: prompt weight ${name} ${shapeStr(shape)} is missing`);
      if (w.shape.length !== 2 || w.shape[0] !== shape[0] || w.shape[1] !== shape[1]) {
        throw new Error(
          `vifi: prompt weight ${name} has shape ${shapeStr(w.shape)} but needs ${shapeStr(shape)}`,
        );
      }
      const param = new Param(Tensor.from(this.rt, w.data, shape, "f32", name), true, name);
      if (this.precision === "f16") param.half = Tensor.from(this.rt, w.data, shape, "f16", `${name} (f16)`);
      this.params.get(name)?.dispose();
      this.params.set(name, param);
    }
    this.prompts = p;
  }

  /**
   * Upload weights in OpenAI naming. Every parameter of `config` must be present with its exact shape;
   * the error names the tensor and both shapes.
   */
  static fromWeights(
    rt: Runtime,
    config: ClipConfig,
    weights: Weights,
    opts: { precision?: Precision } = {},
  ): ClipModel {
    const precision = opts.precision ?? "f32";
    if (precision === "f16" && !rt.gpu.features.f16) {
      throw new Error(
        "vifi: mixed precision needs shader-f16, which this adapter lacks (or fails its self-test)",
      );
    }
    const m = new ClipModel(rt, config, precision);
    const missing: string[] = [];
    for (const [name, shape] of clipShapes(config)) {
      const w = weights.get(name);
      if (!w) {
        missing.push(name);
        continue;
      }
      if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
        m.dispose();
        throw new Error(
          `vifi: weight ${name} has shape ${shapeStr(w.shape)} but ${config.name} needs ${shapeStr(shape)}`,
        );
      }
      const t = Tensor.from(rt, w.data, storedShape(name, shape), "f32", name);
      const p = new Param(t, true, name);
      // logit_scale feeds the f32 logit head, so it has no f16 copy.
      if (precision === "f16" && name !== "logit_scale") {
        p.half = Tensor.from(rt, w.data, storedShape(name, shape), "f16", `${name} (f16)`);
      }
      m.params.set(name, p);
    }
    if (missing.length) {
      m.dispose();
      throw new Error(
        `vifi: ${missing.length} weights missing for ${config.name}: ${missing.slice(0, 5).join(", ")}` +
          (missing.length > 5 ? ", …" : ""),
      );
    }
    return m;
  }

  p(name: string): Param {
    const p = this.params.get(name);
    if (!p) throw new Error(`vifi: no parameter ${name}`);
    return p;
  }

  /** Current values in OpenAI naming and shapes (one GPU round trip per tensor). */
  async weights(): Promise<Weights> {
    const out: Weights = new Map();
    for (const [name, shape] of clipShapes(this.config)) {
      out.set(name, { shape, data: (await this.p(name).value.read()) as Float32Array });
    }
    return out;
  }

  private async block(tape: Tape, x: Var, prefix: string, heads: number, causal: boolean): Promise<Var> {
    const p = (n: string) => this.p(`${prefix}.${n}`);
    const h = await layerNormFn(tape, x, p("ln_1.weight"), p("ln_1.bias"));
    const qkv = await linear(tape, h, p("attn.in_proj_weight"), p("attn.in_proj_bias"));
    const a = await attentionFn(tape, qkv, heads, causal);
    const o = await linear(tape, a, p("attn.out_proj.weight"), p("attn.out_proj.bias"));
    // x1 = x + o and h2 = ln_2(x1) in one pass over the stream.
    const { sum: x1, y: h2 } = await layerNormResidualFn(tape, x, o, p("ln_2.weight"), p("ln_2.bias"));
    const f = await linear(tape, h2, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"));
    const g = await quickGeluFn(tape, f);
    const m = await linear(tape, g, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"));
    return await addFn(tape, x1, m);
  }

  /** frames [N, 3, R, R] (normalised) → projected frame embeddings [N, E] (not normalised). */
  async encodeImage(tape: Tape, frames: Tensor): Promise<Var> {
    const v = this.config.vision;
    const [N, C, H, W] = frames.shape;
    if (frames.shape.length !== 4 || C !== 3 || H !== v.resolution || W !== v.resolution) {
      throw new Error(
        `vifi: ${this.config.name} image tower takes frames [N, 3, ${v.resolution}, ${v.resolution}], got ` +
          `${frames.name} ${shapeStr(frames.shape)}`,
      );
    }
    expectDtype(frames, ["f32", "f16"], `${this.config.name} image tower frames`);
    const grid = v.resolution / v.patch;
    const L = visionTokens(v);
    const input = frames.dtype === this.dtype ? frames : await cast(frames, this.dtype);
    const patches = tape.track(await im2col(input, v.patch), false, "patches");
    if (input !== frames) input.dispose();
    const emb = await linear(tape, patches, this.p("visual.conv1.weight"));
    const tokens = prependToken(
      tape,
      reshapeFn(tape, emb, [N, grid * grid, v.width]),
      this.p("visual.class_embedding"),
    );
    let x = await addFn(tape, tokens, this.p("visual.positional_embedding"));
    const vp = this.prompts?.visionCtx && this.prompts.visionDepth >= 1 ? this.prompts : undefined;
    // Vision prompts go after the patch tokens with no positional embedding; deeper layers swap them.
    if (vp) x = appendRows(tape, x, this.p("image_encoder.VPT"));
    const Lp = L + (vp?.visionCtx ?? 0);
    x = await layerNormFn(tape, x, this.p("visual.ln_pre.weight"), this.p("visual.ln_pre.bias"));
    for (let i = 0; i < v.layers; i++) {
      if (vp && i >= 1 && i < vp.visionDepth) {
        x = await replaceRows(tape, x, L, this.p(`image_encoder.transformer.resblocks.${i}.VPT_shallow`));
      }
      x = await this.block(tape, x, `visual.transformer.resblocks.${i}`, v.heads, false);
    }
    const cls = selectRows(tape, x, Array.from({ length: N }, (_, n) => n * Lp));
    const pooled = await layerNormFn(
      tape,
      cls,
      this.p("visual.ln_post.weight"),
      this.p("visual.ln_post.bias"),
    );
    return await project(tape, pooled, this.p("visual.proj"));
  }

  /** tokens [C, context] (row-major ids, EOT = the largest id in a row) → text embeddings [C, E]. */
  async encodeText(tape: Tape, tokens: Int32Array, classes: number): Promise<Var> {
    const t = this.config.text;
    if (tokens.length !== classes * t.context) {
      throw new Error(
        `vifi: ${this.config.name} text tower takes tokens [${classes}, ${t.context}], got ${tokens.length} ids`,
      );
    }
    const emb = await embeddingFn(tape, this.p("token_embedding.weight"), tokens);
    let x = reshapeFn(tape, emb, [classes, t.context, t.width]);
    const tp = this.prompts?.textCtx ? this.prompts : undefined;
    // Learned context vectors take the place of the "X" placeholders after SOT (positions 1..n).
    if (tp) x = await replaceRows(tape, x, 1, this.p("prompt_learner.ctx"));
    x = await addFn(tape, x, this.p("positional_embedding"));
    for (let i = 0; i < t.layers; i++) {
      if (tp && i >= 1 && i < tp.textDepth) {
        x = await replaceRows(tape, x, 1, this.p(`text_encoder.transformer.resblocks.${i}.VPT_shallow`));
      }
      x = await this.block(tape, x, `transformer.resblocks.${i}`, t.heads, true);
    }
    x = await layerNormFn(tape, x, this.p("ln_final.weight"), this.p("ln_final.bias"));
    const eot = Array.from(
      { length: classes },
      (_, c) => c * t.context + argmax(tokens, c * t.context, t.context),
    );
    const pooled = selectRows(tape, x, eot);
    return await project(tape, pooled, this.p("text_projection"));
  }

  /** Storage type of activations. */
  get dtype(): "f32" | "f16" {
    return this.precision;
  }

  dispose(): void {
    for (const p of this.params.values()) {
      p.dispose();
    }
    this.params.clear();
  }
}

/** Index of the first largest id in tokens[start, start+n): CLIP's EOT position. */
export function argmax(tokens: ArrayLike<number>, start: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (tokens[start + i] > tokens[start + best]) best = i;
  return best;
}
