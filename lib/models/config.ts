// CLIP architectures by name, and random initialisation in OpenAI's parameter naming (the names the
// released checkpoints use, so loaders, exporters and the GPU model share one vocabulary).

import { Rng } from "../random/rng.ts";

export interface VisionConfig {
  width: number;
  layers: number;
  heads: number;
  patch: number;
  /** input side in pixels; grid = resolution / patch, tokens = grid² + 1 */
  resolution: number;
}

export interface TextConfig {
  width: number;
  layers: number;
  heads: number;
  /** context length (77 for CLIP) */
  context: number;
  vocab: number;
}

export interface ClipConfig {
  name: string;
  embedDim: number;
  vision: VisionConfig;
  text: TextConfig;
}

export const CLIP_CONFIGS: Record<string, ClipConfig> = {
  "ViT-B/16": {
    name: "ViT-B/16",
    embedDim: 512,
    vision: { width: 768, layers: 12, heads: 12, patch: 16, resolution: 224 },
    text: { width: 512, layers: 12, heads: 8, context: 77, vocab: 49408 },
  },
  "ViT-B/32": {
    name: "ViT-B/32",
    embedDim: 512,
    vision: { width: 768, layers: 12, heads: 12, patch: 32, resolution: 224 },
    text: { width: 512, layers: 12, heads: 8, context: 77, vocab: 49408 },
  },
  "ViT-L/14": {
    name: "ViT-L/14",
    embedDim: 768,
    vision: { width: 1024, layers: 24, heads: 16, patch: 14, resolution: 224 },
    text: { width: 768, layers: 12, heads: 12, context: 77, vocab: 49408 },
  },
  /** for tests and the synthetic demo: 17 image tokens, 16 text positions, a byte-level vocabulary */
  "tiny": {
    name: "tiny",
    embedDim: 16,
    vision: { width: 32, layers: 2, heads: 2, patch: 8, resolution: 32 },
    text: { width: 32, layers: 2, heads: 2, context: 16, vocab: 512 },
  },
  /**
   * the demo's model, trained from scratch on the synthetic dataset in minutes on a CPU: 17 image
   * tokens of 32² frames, a byte-level vocabulary, room for "a photo of a yellow triangle moving down."
   */
  "synthetic": {
    name: "synthetic",
    embedDim: 64,
    vision: { width: 64, layers: 2, heads: 2, patch: 8, resolution: 32 },
    text: { width: 64, layers: 2, heads: 2, context: 48, vocab: 258 },
  },
  /**
   * the demo's model (issue 14): words, not bytes (lib/text/words.ts) — 16 text positions hold "a photo of
   * something green moving right." and the table has room for 62 words (the synthetic world uses 29) —
   * and the synthetic clips at their own 64² in 16² patches: the same 17 image tokens as "synthetic", each
   * seeing its part of the scene at full resolution.
   */
  "synthetic-words": {
    name: "synthetic-words",
    embedDim: 64,
    vision: { width: 64, layers: 2, heads: 2, patch: 16, resolution: 64 },
    text: { width: 64, layers: 2, heads: 2, context: 16, vocab: 64 },
  },
};

export function clipConfig(name: string): ClipConfig {
  const c = CLIP_CONFIGS[name];
  if (!c) {
    throw new Error(
      `vifi: unknown CLIP architecture ${JSON.stringify(name)}; known: ${
        Object.keys(CLIP_CONFIGS).join(", ")
      }`,
    );
  }
  return c;
}

export function visionTokens(v: VisionConfig): number {
  const grid = v.resolution / v.patch;
  if (!Number.isInteger(grid)) {
    throw new Error(`vifi: resolution ${v.resolution} is not a multiple of patch ${v.patch}`);
  }
  return grid * grid + 1;
}

export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

/** Parameters by OpenAI CLIP name (`visual.conv1.weight`, `transformer.resblocks.0.attn.in_proj_weight`, …). */
export type Weights = Map<string, WeightTensor>;

/** Every parameter name and shape of a CLIP model, in OpenAI's naming. */
export function clipShapes(c: ClipConfig): [string, number[]][] {
  const out: [string, number[]][] = [];
  const v = c.vision;
  const t = c.text;
  const block = (prefix: string, w: number) => {
    out.push(
      [`${prefix}.attn.in_proj_weight`, [3 * w, w]],
      [`${prefix}.attn.in_proj_bias`, [3 * w]],
      [`${prefix}.attn.out_proj.weight`, [w, w]],
      [`${prefix}.attn.out_proj.bias`, [w]],
      [`${prefix}.ln_1.weight`, [w]],
      [`${prefix}.ln_1.bias`, [w]],
      [`${prefix}.mlp.c_fc.weight`, [4 * w, w]],
      [`${prefix}.mlp.c_fc.bias`, [4 * w]],
      [`${prefix}.mlp.c_proj.weight`, [w, 4 * w]],
      [`${prefix}.mlp.c_proj.bias`, [w]],
      [`${prefix}.ln_2.weight`, [w]],
      [`${prefix}.ln_2.bias`, [w]],
    );
  };
  out.push(
    ["visual.class_embedding", [v.width]],
    ["visual.positional_embedding", [visionTokens(v), v.width]],
    ["visual.proj", [v.width, c.embedDim]],
    ["visual.conv1.weight", [v.width, 3, v.patch, v.patch]],
    ["visual.ln_pre.weight", [v.width]],
    ["visual.ln_pre.bias", [v.width]],
  );
  for (let i = 0; i < v.layers; i++) block(`visual.transformer.resblocks.${i}`, v.width);
  out.push(["visual.ln_post.weight", [v.width]], ["visual.ln_post.bias", [v.width]]);
  out.push(["token_embedding.weight", [t.vocab, t.width]], ["positional_embedding", [t.context, t.width]]);
  for (let i = 0; i < t.layers; i++) block(`transformer.resblocks.${i}`, t.width);
  out.push(
    ["ln_final.weight", [t.width]],
    ["ln_final.bias", [t.width]],
    ["text_projection", [t.width, c.embedDim]],
    ["logit_scale", []],
  );
  return out;
}

/**
 * Random weights with CLIP's initialisation scales. `randomNorms` also randomises LayerNorm
 * weights and biases (CLIP starts them at 1 and 0, which would hide a swapped weight/bias in a
 * parity test).
 */
export function initClipWeights(c: ClipConfig, seed = 0, opts: { randomNorms?: boolean } = {}): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const [name, shape] of clipShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const width = name.startsWith("visual.") ? c.vision.width : c.text.width;
    const layers = name.startsWith("visual.") ? c.vision.layers : c.text.layers;
    let std = 0.02;
    if (name.endsWith("in_proj_weight")) std = width ** -0.5;
    else if (name.endsWith("out_proj.weight")) std = width ** -0.5;
    else if (name.endsWith("c_fc.weight")) std = (2 * width) ** -0.5;
    else if (name.endsWith("c_proj.weight")) std = width ** -0.5 * (2 * layers) ** -0.5;
    else if (name === "positional_embedding") std = 0.01;
    else if (name === "visual.positional_embedding" || name === "visual.class_embedding") std = width ** -0.5;
    else if (name === "visual.proj" || name === "text_projection") std = width ** -0.5;
    else if (name === "visual.conv1.weight") std = (3 * c.vision.patch ** 2) ** -0.5;
    let data: Float32Array;
    if (name === "logit_scale") {
      data = new Float32Array([Math.log(1 / 0.07)]);
    } else if (/ln_\w+\.weight$|ln_final\.weight$/.test(name)) {
      data = Float32Array.from({ length: n }, () => (opts.randomNorms ? 1 + 0.2 * rng.normal() : 1));
    } else if (/ln_\w+\.bias$|ln_final\.bias$/.test(name)) {
      data = Float32Array.from({ length: n }, () => (opts.randomNorms ? 0.1 * rng.normal() : 0));
    } else if (name.endsWith("bias")) {
      data = Float32Array.from({ length: n }, () => (opts.randomNorms ? 0.02 * rng.normal() : 0));
    } else {
      data = Float32Array.from({ length: n }, () => std * rng.normal());
    }
    w.set(name, { shape, data });
  }
  return w;
}

/**
 * "Bridge and prompt" (docs/upstream.md §5.2): learned text context vectors and vision prompt tokens, injected at
 * the input of layers 0..depth−1 of each tower; the CLIP weights stay frozen. Names follow
 * ViFi-CLIP's checkpoints without the `module.` prefix.
 */
export interface PromptConfig {
  /** N_CTX_TEXT: learned text tokens, at positions 1 … textCtx */
  textCtx: number;
  /** N_CTX_VISION: learned vision tokens, appended after the grid² + 1 image tokens */
  visionCtx: number;
  /** PROMPT_DEPTH_TEXT ≥ 1: prompts enter at the input of text blocks 0 … textDepth − 1 */
  textDepth: number;
  /** PROMPT_DEPTH_VISION: as textDepth; 0 = no vision prompts at all (no image_encoder.VPT) */
  visionDepth: number;
}

export function checkPromptConfig(config: ClipConfig, p: PromptConfig): void {
  const bad = (what: string) => {
    throw new Error(`vifi: prompt config ${JSON.stringify(p)}: ${what}`);
  };
  for (const k of ["textCtx", "visionCtx", "textDepth", "visionDepth"] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 0) bad(`${k} must be a non-negative integer`);
  }
  if (p.textDepth < 1) bad("textDepth must be ≥ 1 (the prompt model always has layer-0 text context)");
  if (p.textDepth > config.text.layers) bad(`textDepth exceeds the ${config.text.layers} text layers`);
  if (p.visionDepth > config.vision.layers) {
    bad(`visionDepth exceeds the ${config.vision.layers} vision layers`);
  }
  if (!(1 + p.textCtx < config.text.context)) {
    bad(`1 + textCtx must be below the text context ${config.text.context} (room for SOT and EOT)`);
  }
}

/**
 * Every prompt tensor of the VL-prompting variant, in this order: prompt_learner.ctx, the text
 * VPT_shallow of blocks 1 … textDepth − 1, image_encoder.VPT, the vision VPT_shallow of blocks
 * 1 … visionDepth − 1 (the vision entries only when visionDepth ≥ 1).
 */
export function promptShapes(config: ClipConfig, p: PromptConfig): [string, number[]][] {
  checkPromptConfig(config, p);
  const Wt = config.text.width, Wv = config.vision.width;
  const out: [string, number[]][] = [["prompt_learner.ctx", [p.textCtx, Wt]]];
  for (let i = 1; i < p.textDepth; i++) {
    out.push([`text_encoder.transformer.resblocks.${i}.VPT_shallow`, [p.textCtx, Wt]]);
  }
  if (p.visionDepth >= 1) {
    out.push(["image_encoder.VPT", [p.visionCtx, Wv]]);
    for (let i = 1; i < p.visionDepth; i++) {
      out.push([`image_encoder.transformer.resblocks.${i}.VPT_shallow`, [p.visionCtx, Wv]]);
    }
  }
  return out;
}

/** Prompt tensors drawn N(0, 0.02²) as ViFi-CLIP initialises them, in promptShapes order. */
export function initPromptWeights(config: ClipConfig, p: PromptConfig, seed = 0): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const [name, shape] of promptShapes(config, p)) {
    const n = shape.reduce((a, b) => a * b, 1);
    w.set(name, { shape, data: Float32Array.from({ length: n }, () => 0.02 * rng.normal()) });
  }
  return w;
}

/**
 * The architecture of a set of CLIP weights, read off their shapes (docs/upstream.md §3): vision width =
 * conv1 output channels, patch = conv1 kernel, grid = √(positions − 1), layers = number of
 * in_proj weights, embed dim = text_projection columns, context / vocab / text width from the
 * text embeddings. Heads are width / headWidth (64 in every released CLIP).
 */
export function inferClipConfig(w: Weights, opts: { headWidth?: number; name?: string } = {}): ClipConfig {
  const shape = (name: string) => {
    const t = w.get(name);
    if (!t) throw new Error(`vifi: cannot infer the architecture: ${name} is missing`);
    return t.shape;
  };
  const headWidth = opts.headWidth ?? 64;
  const count = (re: RegExp) => [...w.keys()].filter((k) => re.test(k)).length;
  const [vWidth, , patch] = shape("visual.conv1.weight");
  const grid = Math.sqrt(shape("visual.positional_embedding")[0] - 1);
  if (!Number.isInteger(grid)) throw new Error("vifi: visual.positional_embedding rows are not grid² + 1");
  const [context, tWidth] = shape("positional_embedding");
  const heads = (width: number) => {
    if (width % headWidth) {
      throw new Error(`vifi: width ${width} is not a multiple of the head width ${headWidth}`);
    }
    return width / headWidth;
  };
  return {
    name: opts.name ?? "inferred",
    embedDim: shape("text_projection")[1],
    vision: {
      width: vWidth,
      layers: count(/^visual\.transformer\.resblocks\.\d+\.attn\.in_proj_weight$/),
      heads: heads(vWidth),
      patch,
      resolution: grid * patch,
    },
    text: {
      width: tWidth,
      layers: count(/^transformer\.resblocks\.\d+\.attn\.in_proj_weight$/),
      heads: heads(tWidth),
      context,
      vocab: shape("token_embedding.weight")[0],
    },
  };
}
