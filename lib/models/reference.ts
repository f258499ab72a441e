// CLIP and ViFi-CLIP forward passes in plain float64 on the CPU, written straight from the spec
// (§1.1–1.4) with no shared code with the GPU model or the ONNX exporter, so that a disagreement
// between any two of the three points at one of them. Slow by design: clarity over speed, except for
// the linear layers, which dominate and are blocked so that ViT-B/16 on one frame stays under a minute.

import { type ClipConfig, type PromptConfig, promptShapes, visionTokens, type Weights } from "./config.ts";

type Vec = Float32Array | Float64Array;

function weight(weights: Weights, name: string, shape: number[]): Float32Array {
  const t = weights.get(name);
  if (!t) throw new Error(`vifi reference: missing weight ${name} (expected shape [${shape.join(", ")}])`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(
      `vifi reference: weight ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`,
    );
  }
  return t.data;
}

/**
 * y[m, n] = Σ_k x[m, k]·W[n, k] + b[n] for x [M, K] and W [N, K] (PyTorch's stored layout). Both
 * operands are walked along contiguous rows; a 2×2 register block halves the loads per multiply.
 */
function linear(x: Float64Array, M: number, K: number, W: Vec, N: number, b: Vec | null): Float64Array {
  const y = new Float64Array(M * N);
  const NB = 32; // rows of W kept hot in cache while every row of x passes over them
  for (let n0 = 0; n0 < N; n0 += NB) {
    const n1 = Math.min(N, n0 + NB);
    let m = 0;
    for (; m + 1 < M; m += 2) {
      const xa = m * K, xb = xa + K;
      let n = n0;
      for (; n + 1 < n1; n += 2) {
        const wa = n * K, wb = wa + K;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (let k = 0; k < K; k++) {
          const a = x[xa + k], c = x[xb + k], p = W[wa + k], q = W[wb + k];
          s00 += a * p;
          s01 += a * q;
          s10 += c * p;
          s11 += c * q;
        }
        y[m * N + n] = s00;
        y[m * N + n + 1] = s01;
        y[(m + 1) * N + n] = s10;
        y[(m + 1) * N + n + 1] = s11;
      }
      for (; n < n1; n++) {
        const wa = n * K;
        let s0 = 0, s1 = 0;
        for (let k = 0; k < K; k++) {
          s0 += x[xa + k] * W[wa + k];
          s1 += x[xb + k] * W[wa + k];
        }
        y[m * N + n] = s0;
        y[(m + 1) * N + n] = s1;
      }
    }
    for (; m < M; m++) {
      for (let n = n0; n < n1; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += x[m * K + k] * W[n * K + k];
        y[m * N + n] = s;
      }
    }
  }
  if (b) { for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) y[m * N + n] += b[n]; }
  return y;
}

/** x [M, K] @ P [K, N], for `proj`/`text_projection`, which CLIP stores [in, out] unlike nn.Linear. */
function project(x: Float64Array, M: number, K: number, P: Vec, N: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      const a = x[m * K + k];
      for (let n = 0; n < N; n++) y[m * N + n] += a * P[k * N + n];
    }
  }
  return y;
}

/** PyTorch LayerNorm over the last axis: biased variance, eps 1e-5, affine. */
function layerNorm(x: Float64Array, M: number, D: number, g: Vec, b: Vec): Float64Array {
  const y = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    const o = m * D;
    let mean = 0;
    for (let d = 0; d < D; d++) mean += x[o + d];
    mean /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[o + d] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / D + 1e-5);
    for (let d = 0; d < D; d++) y[o + d] = (x[o + d] - mean) * inv * g[d] + b[d];
  }
  return y;
}

/**
 * nn.MultiheadAttention on S sequences of L tokens, x [S·L, D] → [S·L, D]: packed in_proj rows
 * [W_q; W_k; W_v], q scaled by 1/√head_dim before the dot products, optional causal mask.
 */
function attention(
  x: Float64Array,
  S: number,
  L: number,
  D: number,
  H: number,
  weights: Weights,
  prefix: string,
  causal: boolean,
): Float64Array {
  const dh = D / H;
  const qkv = linear(
    x,
    S * L,
    D,
    weight(weights, `${prefix}.in_proj_weight`, [3 * D, D]),
    3 * D,
    weight(weights, `${prefix}.in_proj_bias`, [3 * D]),
  );
  const scale = 1 / Math.sqrt(dh);
  const heads = new Float64Array(S * L * D);
  const p = new Float64Array(L);
  for (let s = 0; s < S; s++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L; i++) {
        const qo = (s * L + i) * 3 * D + h * dh;
        const last = causal ? i : L - 1;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          const ko = (s * L + j) * 3 * D + D + h * dh;
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += qkv[qo + d] * scale * qkv[ko + d];
          p[j] = dot;
          if (dot > max) max = dot;
        }
        let sum = 0;
        for (let j = 0; j <= last; j++) sum += p[j] = Math.exp(p[j] - max);
        const oo = (s * L + i) * D + h * dh;
        for (let j = 0; j <= last; j++) {
          const vo = (s * L + j) * 3 * D + 2 * D + h * dh;
          const w = p[j] / sum;
          for (let d = 0; d < dh; d++) heads[oo + d] += w * qkv[vo + d];
        }
      }
    }
  }
  return linear(
    heads,
    S * L,
    D,
    weight(weights, `${prefix}.out_proj.weight`, [D, D]),
    D,
    weight(weights, `${prefix}.out_proj.bias`, [D]),
  );
}

/**
 * The pre-LN residual stack shared by both towers, updating x [S·L, D] in place. `inject`, when
 * given, runs before block i and may overwrite rows of x (deep prompts).
 */
function transformer(
  x: Float64Array,
  S: number,
  L: number,
  D: number,
  H: number,
  layers: number,
  weights: Weights,
  prefix: string,
  causal: boolean,
  inject?: (layer: number, x: Float64Array) => void,
): void {
  const M = S * L;
  for (let i = 0; i < layers; i++) {
    inject?.(i, x);
    const p = `${prefix}.resblocks.${i}`;
    const w = (n: string, shape: number[]) => weight(weights, `${p}.${n}`, shape);
    const a = attention(
      layerNorm(x, M, D, w("ln_1.weight", [D]), w("ln_1.bias", [D])),
      S,
      L,
      D,
      H,
      weights,
      `${p}.attn`,
      causal,
    );
    for (let k = 0; k < x.length; k++) x[k] += a[k];
    const h = linear(
      layerNorm(x, M, D, w("ln_2.weight", [D]), w("ln_2.bias", [D])),
      M,
      D,
      w("mlp.c_fc.weight", [4 * D, D]),
      4 * D,
      w("mlp.c_fc.bias", [4 * D]),
    );
    for (let k = 0; k < h.length; k++) h[k] = h[k] / (1 + Math.exp(-1.702 * h[k])); // QuickGELU
    const m = linear(h, M, 4 * D, w("mlp.c_proj.weight", [D, 4 * D]), D, w("mlp.c_proj.bias", [D]));
    for (let k = 0; k < x.length; k++) x[k] += m[k];
  }
}

/**
 * CLIP image encoder: normalised frames [N, 3, R, R] → projected embeddings [N, embedDim]. With
 * `prompts` (and visionDepth ≥ 1), the VL-prompting variant of docs/upstream.md §5.2: visionCtx learned tokens are
 * appended after the grid² + 1 image tokens and replaced before blocks 1 … visionDepth − 1.
 */
export function imageTowerReference(
  config: ClipConfig,
  weights: Weights,
  frames: Float64Array | Float32Array,
  N: number,
  prompts?: PromptSet,
): Float64Array {
  const { width: D, heads: H, layers, patch: P, resolution: R } = config.vision;
  const E = config.embedDim;
  const L = visionTokens(config.vision);
  const G = R / P;
  const vp = prompts ? visionPrompts(config, prompts) : null;
  const nV = vp ? vp.ctx : 0;
  const LX = L + nV; // tokens per frame inside the transformer
  if (frames.length !== N * 3 * R * R) {
    throw new Error(`vifi reference: frames has ${frames.length} values, expected ${N}·3·${R}·${R}`);
  }
  const conv = weight(weights, "visual.conv1.weight", [D, 3, P, P]);
  const cls = weight(weights, "visual.class_embedding", [D]);
  const pos = weight(weights, "visual.positional_embedding", [L, D]);

  // Stride = kernel, so the convolution is a linear layer over flattened (c, ky, kx) patches.
  const K = 3 * P * P;
  const patches = new Float64Array(N * (L - 1) * K);
  for (let n = 0; n < N; n++) {
    for (let gy = 0; gy < G; gy++) {
      for (let gx = 0; gx < G; gx++) {
        const row = (n * (L - 1) + gy * G + gx) * K;
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < P; ky++) {
            for (let kx = 0; kx < P; kx++) {
              patches[row + (c * P + ky) * P + kx] =
                frames[((n * 3 + c) * R + gy * P + ky) * R + gx * P + kx];
            }
          }
        }
      }
    }
  }
  const emb = linear(patches, N * (L - 1), K, conv, D, null);

  let x: Float64Array = new Float64Array(N * LX * D);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) x[n * LX * D + d] = cls[d] + pos[d];
    for (let t = 1; t < L; t++) {
      for (let d = 0; d < D; d++) {
        x[(n * LX + t) * D + d] = emb[(n * (L - 1) + t - 1) * D + d] + pos[t * D + d];
      }
    }
  }
  // Layer-0 prompts go after the image tokens with no positional embedding, before ln_pre.
  if (vp) setRows(x, N, LX, D, L, vp.layers[0]);
  x = layerNorm(
    x,
    N * LX,
    D,
    weight(weights, "visual.ln_pre.weight", [D]),
    weight(weights, "visual.ln_pre.bias", [D]),
  );
  const inject = vp
    ? (i: number, h: Float64Array) => {
      if (i > 0 && i < vp.layers.length) setRows(h, N, LX, D, L, vp.layers[i]);
    }
    : undefined;
  transformer(x, N, LX, D, H, layers, weights, "visual.transformer", false, inject);

  const clsOut = new Float64Array(N * D);
  for (let n = 0; n < N; n++) clsOut.set(x.subarray(n * LX * D, n * LX * D + D), n * D);
  const post = layerNorm(
    clsOut,
    N,
    D,
    weight(weights, "visual.ln_post.weight", [D]),
    weight(weights, "visual.ln_post.bias", [D]),
  );
  return project(post, N, D, weight(weights, "visual.proj", [D, E]), E);
}

/**
 * CLIP text encoder: token ids [C, context] → projected embeddings [C, embedDim], pooled at EOT.
 * With `prompts`, the VL-prompting variant of docs/upstream.md §5.2: the rows must hold "SOT X×textCtx name . EOT"
 * (tokenised by the caller); positions 1 … textCtx get prompt_learner.ctx instead of the placeholder
 * embeddings, and are replaced again before blocks 1 … textDepth − 1.
 */
export function textTowerReference(
  config: ClipConfig,
  weights: Weights,
  tokens: Int32Array,
  C: number,
  prompts?: PromptSet,
): Float64Array {
  const { width: D, heads: H, layers, context: L, vocab: V } = config.text;
  const E = config.embedDim;
  if (tokens.length !== C * L) {
    throw new Error(`vifi reference: tokens has ${tokens.length} ids, expected ${C}·${L}`);
  }
  const tp = prompts ? textPrompts(config, prompts) : null;
  const nT = tp ? tp.ctx : 0;
  const eots = new Int32Array(C);
  for (let c = 0; c < C; c++) {
    let eot = 0; // strict > keeps the first of tied maxima, as torch.argmax does
    for (let t = 1; t < L; t++) if (tokens[c * L + t] > tokens[c * L + eot]) eot = t;
    if (tp && eot <= nT) {
      throw new Error(
        `vifi reference: prompt row ${c} has its EOT (largest id) at position ${eot}, inside the ` +
          `${nT} context slots 1…${nT}; tokenise "X "×${nT} + name first`,
      );
    }
    eots[c] = eot;
  }
  const tok = weight(weights, "token_embedding.weight", [V, D]);
  const pos = weight(weights, "positional_embedding", [L, D]);
  let x: Float64Array = new Float64Array(C * L * D);
  for (let i = 0; i < C * L; i++) {
    const id = tokens[i];
    if (!(id >= 0 && id < V)) {
      throw new Error(`vifi reference: token id ${id} outside the vocabulary of ${V}`);
    }
    const t = i % L;
    // The placeholder embedding is overwritten by the shared context vector (then pos is added).
    if (tp && t >= 1 && t <= nT) {
      const ctx = tp.layers[0];
      for (let d = 0; d < D; d++) x[i * D + d] = ctx[(t - 1) * D + d] + pos[t * D + d];
    } else {
      for (let d = 0; d < D; d++) x[i * D + d] = tok[id * D + d] + pos[t * D + d];
    }
  }
  const inject = tp
    ? (i: number, h: Float64Array) => {
      if (i > 0 && i < tp.layers.length) setRows(h, C, L, D, 1, tp.layers[i]);
    }
    : undefined;
  transformer(x, C, L, D, H, layers, weights, "transformer", true, inject);
  x = layerNorm(x, C * L, D, weight(weights, "ln_final.weight", [D]), weight(weights, "ln_final.bias", [D]));

  const pooled = new Float64Array(C * D);
  for (let c = 0; c < C; c++) {
    const eot = eots[c];
    pooled.set(x.subarray((c * L + eot) * D, (c * L + eot + 1) * D), c * D);
  }
  return project(pooled, C, D, weight(weights, "text_projection", [D, E]), E);
}

function l2NormalizeRows(x: Float64Array, M: number, D: number): Float64Array {
  const y = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[m * D + d] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let d = 0; d < D; d++) y[m * D + d] = x[m * D + d] * inv;
  }
  return y;
}

export interface VifiReferenceOutput {
  /** [B, C] */
  logits: Float64Array;
  /** [B, embedDim], L2-normalised mean of the frame embeddings */
  video: Float64Array;
  /** [C, embedDim], L2-normalised */
  text: Float64Array;
}

/**
 * ViFi-CLIP logits for B videos of T frames [B, T, 3, R, R] against C tokenised prompts [C, context];
 * `prompts` selects the VL-prompting variant (docs/upstream.md §5.2) for both towers.
 */
export function vifiLogitsReference(
  config: ClipConfig,
  weights: Weights,
  frames: Float64Array | Float32Array,
  B: number,
  T: number,
  tokens: Int32Array,
  C: number,
  prompts?: PromptSet,
): VifiReferenceOutput {
  const E = config.embedDim;
  const perFrame = imageTowerReference(config, weights, frames, B * T, prompts);
  // Mean over time of the projected, un-normalised frame embeddings; normalisation comes after.
  const mean = new Float64Array(B * E);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) mean[b * E + e] += perFrame[(b * T + t) * E + e];
    for (let e = 0; e < E; e++) mean[b * E + e] /= T;
  }
  const video = l2NormalizeRows(mean, B, E);
  const text = l2NormalizeRows(textTowerReference(config, weights, tokens, C, prompts), C, E);
  const scale = Math.exp(weight(weights, "logit_scale", [])[0]);
  const logits = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let e = 0; e < E; e++) s += video[b * E + e] * text[c * E + e];
      logits[b * C + c] = scale * s;
    }
  }
  return { logits, video, text };
}

// ---------------------------------------------------------------------------------------------
// VL prompting ("bridge and prompt", docs/upstream.md §5.2): the frozen ViFi-CLIP towers plus a few learned
// token vectors per layer. It lives here, beside the plain towers and sharing their blocks, because
// its only new behaviour is *which rows* get overwritten *when*, and that is exactly what a GPU
// port gets subtly wrong without failing loudly (an off-by-one slot, a positional embedding added to
// the vision prompts, a prompt injected one layer too many). A reference that differs from the plain
// one only in those row writes lets tests pin them down: equal prompts must reproduce the plain
// tower bit for bit, and a layer's prompts must matter exactly when that layer is within the depth.
// Prompt tensors travel in their own map (ViFi names, `module.` stripped) because they are the only
// trainable part and are loaded non-strictly on top of a frozen CLIP.

/** Prompt configuration plus its tensors (names and shapes as in promptShapes). */
export interface PromptSet {
  config: PromptConfig;
  weights: Weights;
}

/**
 * Throws unless every tensor promptShapes lists is present with its shape and a matching data
 * length. Prompt tensors of blocks at or beyond the depth (up to the model's layer count) are
 * accepted and ignored, as the reference code's non-strict load would; any other name is an error.
 */
export function validatePromptWeights(config: ClipConfig, p: PromptConfig, weights: Weights): void {
  const want = promptShapes(config, p);
  for (const [name, shape] of want) {
    const t = weights.get(name);
    if (!t) {
      throw new Error(`vifi reference: missing prompt weight ${name} (expected shape [${shape.join(", ")}])`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `vifi reference: prompt weight ${name} has shape [${t.shape.join(", ")}], expected [${
          shape.join(", ")
        }]`,
      );
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) {
      throw new Error(
        `vifi reference: prompt weight ${name} [${
          shape.join(", ")
        }] has ${t.data.length} values, expected ${n}`,
      );
    }
  }
  const possible = new Set(
    promptShapes(config, {
      ...p,
      textDepth: config.text.layers,
      visionDepth: config.vision.layers,
    }).map(([n]) => n),
  );
  for (const name of weights.keys()) {
    if (!possible.has(name)) {
      throw new Error(
        `vifi reference: unexpected prompt weight ${name}; known names: ${[...possible].join(", ")}`,
      );
    }
  }
}

/** Per-layer prompt rows [ctx·width] for the layers 0 … depth − 1 that inject them. */
interface PromptRows {
  ctx: number;
  layers: Float32Array[];
}

function textPrompts(config: ClipConfig, prompts: PromptSet): PromptRows {
  const { config: p, weights } = prompts;
  validatePromptWeights(config, p, weights);
  const layers = [weights.get("prompt_learner.ctx")!.data];
  for (let i = 1; i < p.textDepth; i++) {
    layers.push(weights.get(`text_encoder.transformer.resblocks.${i}.VPT_shallow`)!.data);
  }
  return { ctx: p.textCtx, layers };
}

function visionPrompts(config: ClipConfig, prompts: PromptSet): PromptRows | null {
  const { config: p, weights } = prompts;
  validatePromptWeights(config, p, weights);
  if (p.visionDepth < 1) return null;
  const layers = [weights.get("image_encoder.VPT")!.data];
  for (let i = 1; i < p.visionDepth; i++) {
    layers.push(weights.get(`image_encoder.transformer.resblocks.${i}.VPT_shallow`)!.data);
  }
  return { ctx: p.visionCtx, layers };
}

/** Overwrites rows start … start + n − 1 of each of the S sequences of L rows with rows [n, D]. */
function setRows(x: Float64Array, S: number, L: number, D: number, start: number, rows: Float32Array): void {
  for (let s = 0; s < S; s++) {
    for (let k = 0; k < rows.length; k++) x[(s * L + start) * D + k] = rows[k];
  }
}
