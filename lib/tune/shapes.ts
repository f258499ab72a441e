// The shapes of one ViFi-CLIP training step, derived from the model's configuration the way the model
// runs it (lib/models/clip.ts, lib/autograd/functions.ts): every linear layer as y = x·Wᵀ + b forward,
// dX = dY·W and dW += dYᵀ·X backward, CLIP's projections as x·P, and the packed self-attention of both
// towers (the text tower causal). Both towers train (ViFi-CLIP fine-tunes the whole of CLIP).

import { type ClipConfig, visionTokens } from "../models/config.ts";
import type { AttentionDims } from "../tensor/ops/attention.ts";
import type { GemmShape } from "../tensor/ops/matmul.ts";
import type { LayerNormShape } from "./families/layernorm.ts";

export interface StepOptions {
  /** videos per step */
  batch: number;
  frames: number;
  /** class prompts through the text tower per step */
  classes: number;
  dtype: "f32" | "f16";
}

export interface StepShapes {
  matmul: { shape: GemmShape; what: string }[];
  attention: { shape: AttentionDims; what: string }[];
  layernorm: { shape: LayerNormShape; what: string }[];
}

const gemm = (
  M: number,
  N: number,
  K: number,
  dtype: "f32" | "f16",
  o: Partial<GemmShape> = {},
): GemmShape => ({
  M,
  N,
  K,
  batch: 1,
  transA: false,
  transB: false,
  dtype,
  bias: false,
  activation: "none",
  accumulate: false,
  ...o,
});

/**
 * A linear layer's three GEMMs over `rows` inputs: forward, input gradient (unless the input is data)
 * and weight gradient. Under f32 the weight gradient adds straight into the parameter's gradient
 * buffer (accumulate); under f16 it is its own product, summed afterwards (functions.ts matmulGrad).
 */
function linear(
  out: StepShapes["matmul"],
  name: string,
  rows: number,
  inDim: number,
  outDim: number,
  o: { bias: boolean; dtype: "f32" | "f16"; inputGrad: boolean },
) {
  out.push({
    shape: gemm(rows, outDim, inDim, o.dtype, { transB: true, bias: o.bias }),
    what: `${name} fwd`,
  });
  if (o.inputGrad) out.push({ shape: gemm(rows, inDim, outDim, o.dtype), what: `${name} dX` });
  const accumulate = o.dtype === "f32";
  out.push({ shape: gemm(outDim, inDim, rows, o.dtype, { transA: true, accumulate }), what: `${name} dW` });
}

/** CLIP's x·P projection ([rows, in]·[in, out]) forward and backward. */
function project(
  out: StepShapes["matmul"],
  name: string,
  rows: number,
  inDim: number,
  outDim: number,
  dtype: "f32" | "f16",
) {
  out.push({ shape: gemm(rows, outDim, inDim, dtype), what: `${name} fwd` });
  out.push({ shape: gemm(rows, inDim, outDim, dtype, { transB: true }), what: `${name} dX` });
  out.push({
    shape: gemm(inDim, outDim, rows, dtype, { transA: true, accumulate: dtype === "f32" }),
    what: `${name} dW`,
  });
}

/** One residual block of a tower: in_proj, attention, out_proj, c_fc, c_proj (every layer alike). */
function block(s: StepShapes, tower: string, rows: number, width: number, dtype: "f32" | "f16") {
  const o = { bias: true, dtype, inputGrad: true };
  linear(s.matmul, `${tower} in_proj`, rows, width, 3 * width, o);
  linear(s.matmul, `${tower} out_proj`, rows, width, width, o);
  linear(s.matmul, `${tower} c_fc`, rows, width, 4 * width, o);
  linear(s.matmul, `${tower} c_proj`, rows, 4 * width, width, o);
}

export function trainingStepShapes(c: ClipConfig, o: StepOptions): StepShapes {
  const s: StepShapes = { matmul: [], attention: [], layernorm: [] };
  const v = c.vision;
  const images = o.batch * o.frames;
  const tokens = visionTokens(v);
  const grid = v.resolution / v.patch;
  // the patch embedding is a linear layer over flattened patches; its input is pixels (no gradient)
  linear(s.matmul, "vision patch_embed", images * grid * grid, 3 * v.patch * v.patch, v.width, {
    bias: false,
    dtype: o.dtype,
    inputGrad: false,
  });
  block(s, "vision", images * tokens, v.width, o.dtype);
  const vh = { B: images, Lq: tokens, Lk: tokens, D: v.width, H: v.heads, dtype: o.dtype, packed: true };
  s.attention.push({ shape: vh, what: "vision self-attention" });
  // ln_pre, ln_1, ln_2 (fused with the residual add: the same layouts) and ln_post share one class
  s.layernorm.push({
    shape: { rows: images * tokens, width: v.width, dtype: o.dtype },
    what: "vision LayerNorm",
  });
  project(s.matmul, "vision proj", images, v.width, c.embedDim, o.dtype);
  const t = c.text;
  block(s, "text", o.classes * t.context, t.width, o.dtype);
  const th = { B: o.classes, Lq: t.context, Lk: t.context, D: t.width, H: t.heads, dtype: o.dtype };
  s.attention.push({ shape: { ...th, causal: true, packed: true }, what: "text self-attention" });
  s.layernorm.push({
    shape: { rows: o.classes * t.context, width: t.width, dtype: o.dtype },
    what: "text LayerNorm",
  });
  project(s.matmul, "text projection", o.classes, t.width, c.embedDim, o.dtype);
  return s;
}
