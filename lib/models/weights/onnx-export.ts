// CLIP / ViFi-CLIP as ONNX graphs of standard opset-17 ops, with the weights as f32 initializers
// under their OpenAI names, so onnxruntime (or any ONNX engine) can serve as an independent
// reference for the WebGPU model. Weights are used in their stored layout (Gemm transB for the
// [out, in] linear weights, plain MatMul for `proj`/`text_projection`, which CLIP stores [in, out]),
// so a transposition bug on our side cannot hide in the export too.

import { type ClipConfig, clipShapes, visionTokens, type Weights } from "../config.ts";
import {
  encodeOnnx,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxInitializer,
  type OnnxNode,
} from "../../io/onnx.ts";

const i64 = (xs: number[]) => new BigInt64Array(xs.map(BigInt));

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private readonly have = new Set<string>();
  private readonly expected: Map<string, number[]>;

  constructor(readonly config: ClipConfig, private readonly weights: Weights) {
    this.expected = new Map(clipShapes(config));
  }

  /** A model weight as an initializer, checked against the shape the config implies. */
  weight(name: string): string {
    if (this.have.has(name)) return name;
    const shape = this.expected.get(name);
    if (!shape) throw new Error(`vifi onnx export: ${name} is not a parameter of ${this.config.name}`);
    const t = this.weights.get(name);
    if (!t) {
      throw new Error(`vifi onnx export: missing weight ${name} (expected shape [${shape.join(", ")}])`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `vifi onnx export: weight ${name} has shape [${t.shape.join(", ")}], ` +
          `expected [${shape.join(", ")}] for ${this.config.name}`,
      );
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) {
      throw new Error(
        `vifi onnx export: weight ${name} has ${t.data.length} values for shape [${shape.join(", ")}]`,
      );
    }
    this.initializers.push({ name, dims: shape, type: "float", data: t.data });
    this.have.add(name);
    return name;
  }

  /** A named constant, added once (shape vectors, indices, scalars). */
  constant(name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    if (this.have.has(name)) return name;
    this.initializers.push({ name, dims, type: data instanceof Float32Array ? "float" : "int64", data });
    this.have.add(name);
    return name;
  }

  shape(dims: number[]): string {
    return this.constant(`shape_${dims.join("x")}`, [dims.length], i64(dims));
  }

  scalar(name: string, v: number): string {
    return this.constant(name, [], new Float32Array([v]));
  }

  /** Adds a node whose name is also its (first) output; returns the output names. */
  op(op: string, name: string, inputs: string[], attributes?: OnnxAttribute[], outputs = [name]): string {
    this.nodes.push({ op, name, inputs, outputs, attributes });
    return outputs[0];
  }

  layerNorm(name: string, x: string, prefix: string): string {
    return this.op(
      "LayerNormalization",
      name,
      [x, this.weight(`${prefix}.weight`), this.weight(`${prefix}.bias`)],
      [{ name: "axis", value: -1 }, { name: "epsilon", value: 1e-5, float: true }],
    );
  }

  /** x [M, in] · Wᵀ + b with W stored [out, in]. */
  linear(name: string, x: string, prefix: string): string {
    return this.op("Gemm", name, [x, this.weight(`${prefix}.weight`), this.weight(`${prefix}.bias`)], [
      { name: "transB", value: 1 },
    ]);
  }

  /**
   * One pre-LN residual block on x [S·L, D]. The mask, when given, is an additive [L, L] initializer
   * broadcast over sequences and heads.
   */
  block(x: string, prefix: string, S: number, L: number, D: number, H: number, mask: string | null): string {
    const dh = D / H;
    const n = (s: string) => `${prefix}/${s}`;
    const ln1 = this.layerNorm(n("ln_1"), x, `${prefix}.ln_1`);
    const qkv = this.op("Gemm", n("in_proj"), [
      ln1,
      this.weight(`${prefix}.attn.in_proj_weight`),
      this.weight(`${prefix}.attn.in_proj_bias`),
    ], [{ name: "transB", value: 1 }]);
    // [S·L, 3D] → [3, S, H, L, dh]: the packed rows are q, k, v, each split into heads.
    const qkv5 = this.op("Reshape", n("qkv_split"), [qkv, this.shape([S, L, 3, H, dh])]);
    const qkvT = this.op("Transpose", n("qkv_heads"), [qkv5], [{ name: "perm", value: [2, 0, 3, 1, 4] }]);
    const pick = (i: number, s: string) =>
      this.op("Gather", n(s), [qkvT, this.constant(`index_${i}`, [], i64([i]))], [{
        name: "axis",
        value: 0,
      }]);
    const q = this.op("Mul", n("q_scaled"), [
      pick(0, "q"),
      this.scalar(`attn_scale_${dh}`, 1 / Math.sqrt(dh)),
    ]);
    const k = pick(1, "k");
    const v = pick(2, "v");
    const kT = this.op("Transpose", n("k_t"), [k], [{ name: "perm", value: [0, 1, 3, 2] }]);
    let scores = this.op("MatMul", n("scores"), [q, kT]);
    if (mask) scores = this.op("Add", n("scores_masked"), [scores, mask]);
    const probs = this.op("Softmax", n("probs"), [scores], [{ name: "axis", value: -1 }]);
    const ctx = this.op("MatMul", n("context"), [probs, v]);
    const ctxT = this.op("Transpose", n("context_t"), [ctx], [{ name: "perm", value: [0, 2, 1, 3] }]);
    const merged = this.op("Reshape", n("context_merged"), [ctxT, this.shape([S * L, D])]);
    const attn = this.linear(n("out_proj"), merged, `${prefix}.attn.out_proj`);
    const x1 = this.op("Add", n("residual_attn"), [x, attn]);

    const ln2 = this.layerNorm(n("ln_2"), x1, `${prefix}.ln_2`);
    const fc = this.linear(n("c_fc"), ln2, `${prefix}.mlp.c_fc`);
    const z = this.op("Mul", n("gelu_scaled"), [fc, this.scalar("quick_gelu_alpha", 1.702)]);
    const sig = this.op("Sigmoid", n("gelu_sigmoid"), [z]);
    const act = this.op("Mul", n("quick_gelu"), [fc, sig]);
    const proj = this.linear(n("c_proj"), act, `${prefix}.mlp.c_proj`);
    return this.op("Add", n("residual_mlp"), [x1, proj]);
  }

  /** frames [N, 3, R, R] → image embeddings [N, E]. */
  imageTower(frames: string, N: number, out: string): string {
    const { width: D, heads: H, layers, patch: P, resolution: R } = this.config.vision;
    const L = visionTokens(this.config.vision);
    const G = R / P;
    const conv = this.op("Conv", "visual/conv1", [frames, this.weight("visual.conv1.weight")], [
      { name: "kernel_shape", value: [P, P] },
      { name: "strides", value: [P, P] },
    ]);
    const flat = this.op("Reshape", "visual/patches_flat", [conv, this.shape([N, D, G * G])]);
    const patches = this.op("Transpose", "visual/patches", [flat], [{ name: "perm", value: [0, 2, 1] }]);
    const cls1 = this.op("Reshape", "visual/class_token", [
      this.weight("visual.class_embedding"),
      this.shape([1, 1, D]),
    ]);
    const cls = this.op("Expand", "visual/class_tokens", [cls1, this.shape([N, 1, D])]);
    const tokens = this.op("Concat", "visual/tokens", [cls, patches], [{ name: "axis", value: 1 }]);
    const posed = this.op("Add", "visual/positional", [tokens, this.weight("visual.positional_embedding")]);
    const rows = this.op("Reshape", "visual/rows", [posed, this.shape([N * L, D])]);
    let x = this.layerNorm("visual/ln_pre", rows, "visual.ln_pre");
    for (let i = 0; i < layers; i++) x = this.block(x, `visual.transformer.resblocks.${i}`, N, L, D, H, null);
    const seq = this.op("Reshape", "visual/sequences", [x, this.shape([N, L, D])]);
    const clsOut = this.op("Gather", "visual/class_out", [seq, this.constant("index_0", [], i64([0]))], [
      { name: "axis", value: 1 },
    ]);
    const post = this.layerNorm("visual/ln_post", clsOut, "visual.ln_post");
    return this.op("MatMul", out, [post, this.weight("visual.proj")]);
  }

  /** tokens int64 [C, context] → text embeddings [C, E], pooled at the largest token id (EOT). */
  textTower(tokens: string, C: number, out: string): string {
    const { width: D, heads: H, layers, context: L } = this.config.text;
    const emb = this.op("Gather", "text/token_embedding", [this.weight("token_embedding.weight"), tokens], [
      { name: "axis", value: 0 },
    ]);
    const posed = this.op("Add", "text/positional", [emb, this.weight("positional_embedding")]);
    let x = this.op("Reshape", "text/rows", [posed, this.shape([C * L, D])]);
    const causal = new Float32Array(L * L);
    for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) causal[i * L + j] = -Infinity;
    const mask = this.constant("causal_mask", [L, L], causal);
    for (let i = 0; i < layers; i++) x = this.block(x, `transformer.resblocks.${i}`, C, L, D, H, mask);
    const normed = this.layerNorm("text/ln_final", x, "ln_final");
    // ArgMax keeps the first of tied maxima by default (select_last_index = 0), like torch.argmax.
    const eot = this.op("ArgMax", "text/eot_position", [tokens], [
      { name: "axis", value: 1 },
      { name: "keepdims", value: 0 },
    ]);
    const rowStart = this.constant(
      `text_row_starts_${C}`,
      [C],
      i64(Array.from({ length: C }, (_, c) => c * L)),
    );
    const flatIndex = this.op("Add", "text/eot_row", [eot, rowStart]);
    const pooled = this.op("Gather", "text/eot_hidden", [normed, flatIndex], [{ name: "axis", value: 0 }]);
    return this.op("MatMul", out, [pooled, this.weight("text_projection")]);
  }

  l2Normalize(name: string, x: string): string {
    const norm = this.op("ReduceL2", `${name}_norm`, [x], [{ name: "axes", value: [1] }, {
      name: "keepdims",
      value: 1,
    }]);
    return this.op("Div", name, [x, norm]);
  }

  graph(name: string, inputs: OnnxGraph["inputs"], outputs: OnnxGraph["outputs"]): Uint8Array {
    return encodeOnnx({
      name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs,
      outputs,
      opset: 17,
    });
  }
}

function positive(what: string, n: number): number {
  if (!(Number.isInteger(n) && n > 0)) {
    throw new Error(`vifi onnx export: ${what} must be a positive integer, got ${n}`);
  }
  return n;
}

/** Input "frames" float [N, 3, R, R] (normalised) → output "image_embeds" [N, embedDim]. */
export function exportImageTower(config: ClipConfig, weights: Weights, opts: { frames: number }): Uint8Array {
  const N = positive("frames", opts.frames);
  const R = config.vision.resolution;
  const b = new GraphBuilder(config, weights);
  b.imageTower("frames", N, "image_embeds");
  return b.graph(`${config.name} image tower`, [{ name: "frames", type: "float", dims: [N, 3, R, R] }], [
    { name: "image_embeds", type: "float", dims: [N, config.embedDim] },
  ]);
}

/** Input "tokens" int64 [C, context] → output "text_embeds" [C, embedDim]. */
export function exportTextTower(config: ClipConfig, weights: Weights, opts: { classes: number }): Uint8Array {
  const C = positive("classes", opts.classes);
  const b = new GraphBuilder(config, weights);
  b.textTower("tokens", C, "text_embeds");
  return b.graph(`${config.name} text tower`, [{
    name: "tokens",
    type: "int64",
    dims: [C, config.text.context],
  }], [
    { name: "text_embeds", type: "float", dims: [C, config.embedDim] },
  ]);
}

/**
 * Inputs "frames" float [B, T, 3, R, R] and "tokens" int64 [C, context] → outputs "logits" [B, C],
 * "video_embeds" [B, E] and "text_embeds_normalized" [C, E] (both L2-normalised).
 */
export function exportVifiLogits(
  config: ClipConfig,
  weights: Weights,
  opts: { batch: number; frames: number; classes: number },
): Uint8Array {
  const B = positive("batch", opts.batch);
  const T = positive("frames", opts.frames);
  const C = positive("classes", opts.classes);
  const R = config.vision.resolution;
  const E = config.embedDim;
  const b = new GraphBuilder(config, weights);
  const frames = b.op("Reshape", "video/merge_time", ["frames", b.shape([B * T, 3, R, R])]);
  const perFrame = b.imageTower(frames, B * T, "video/frame_embeds");
  const byVideo = b.op("Reshape", "video/split_time", [perFrame, b.shape([B, T, E])]);
  // Mean of the projected, un-normalised frame embeddings, normalised afterwards (docs/upstream.md §2.1 step 3).
  const mean = b.op("ReduceMean", "video/mean_over_time", [byVideo], [{ name: "axes", value: [1] }, {
    name: "keepdims",
    value: 0,
  }]);
  const video = b.l2Normalize("video_embeds", mean);
  const text = b.l2Normalize("text_embeds_normalized", b.textTower("tokens", C, "text/embeds"));
  const textT = b.op("Transpose", "text/embeds_t", [text], [{ name: "perm", value: [1, 0] }]);
  const cos = b.op("MatMul", "cosine", [video, textT]);
  const scale = b.op("Exp", "logit_scale_exp", [b.weight("logit_scale")]);
  b.op("Mul", "logits", [cos, scale]);
  return b.graph(
    `${config.name} ViFi-CLIP logits`,
    [
      { name: "frames", type: "float", dims: [B, T, 3, R, R] },
      { name: "tokens", type: "int64", dims: [C, config.text.context] },
    ],
    [
      { name: "logits", type: "float", dims: [B, C] },
      { name: "video_embeds", type: "float", dims: [B, E] },
      { name: "text_embeds_normalized", type: "float", dims: [C, E] },
    ],
  );
}
