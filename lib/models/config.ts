// CLIP architectures by name, and random initialisation in OpenAI's parameter naming (the names the
// released checkpoints use, so loaders, exporters and the GPU model share one vocabulary).

import { Rng } from "../selftest/rng.ts";

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
 * "Bridge and prompt" (spec §2): learned text context vectors and vision prompt tokens, injected at
 * the input of layers 0..depth−1 of each tower; the CLIP weights stay frozen.
 */
export interface PromptConfig {
  textCtx: number;
  visionCtx: number;
  textDepth: number;
  visionDepth: number;
}

/** Prompt parameters in ViFi-CLIP's checkpoint naming (without the `module.` prefix). */
export function promptShapes(c: ClipConfig, p: PromptConfig): [string, number[]][] {
  const out: [string, number[]][] = [];
  if (p.textCtx > 0) {
    out.push(["prompt_learner.ctx", [p.textCtx, c.text.width]]);
    for (let i = 1; i < p.textDepth; i++) {
      out.push([`text_encoder.transformer.resblocks.${i}.VPT_shallow`, [p.textCtx, c.text.width]]);
    }
  }
  if (p.visionCtx > 0) {
    out.push(["image_encoder.VPT", [p.visionCtx, c.vision.width]]);
    for (let i = 1; i < p.visionDepth; i++) {
      out.push([`image_encoder.transformer.resblocks.${i}.VPT_shallow`, [p.visionCtx, c.vision.width]]);
    }
  }
  return out;
}

/** Prompt vectors drawn from N(0, 0.02²), as the upstream initialises them. */
export function initPromptWeights(c: ClipConfig, p: PromptConfig, seed = 0): Weights {
  const rng = new Rng(seed);
  const w: Weights = new Map();
  for (const [name, shape] of promptShapes(c, p)) {
    w.set(name, {
      shape,
      data: Float32Array.from({ length: shape[0] * shape[1] }, () => 0.02 * rng.normal()),
    });
  }
  return w;
}

/**
 * The architecture of a set of CLIP weights, read off their shapes (spec §1.7): vision width =
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
