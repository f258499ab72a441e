// Scaled dot-product attention with heads, an optional causal mask and key padding, in two
// implementations with the same semantics. Composed: the batched GEMM and the masked softmax,
// S = Q·Kᵀ per head, P = softmax(S/√d), O = P·V, keeping P for the backward — GEMMs are >95 % of the
// work at CLIP sizes (197 or 77 tokens, head dim 64) and the register-blocked GEMM is the fast path
// there. Fused (attention-fused.ts): one kernel streaming keys with an online softmax, keeping only O
// and the row log-sum-exps — it wins for short sequences, where the composed path's per-head blocks and
// padded score rows are mostly overhead. `chooseImpl` holds the measured rule, which is the heuristic:
// `attentionCandidates` lists what can run ("fused-small", "fused-general", "composed"), and a choice
// the tuner measured on this adapter (rt.tuning, family "attention") wins over it. Q, K and V are read in
// place from [B, L, D] tensors or from the packed [B, L, 3D] output of an in_proj (PyTorch's layout),
// by head offsets and leading dimensions; no transposes are materialised.

import type { Runtime } from "../../gpu/runtime.ts";
import { expectDtype, shapeStr, Tensor } from "../tensor.ts";
import {
  FUSED_SMALL_MAX_LEN,
  fusedBackward,
  type FusedDims,
  fusedForward,
  fusedUnsupported,
  fusedVariant,
  type View,
} from "./attention-fused.ts";
import { gemm } from "./matmul.ts";
import { softmax, softmaxBackward, type SoftmaxOptions, softmaxReference } from "./softmax.ts";

export interface AttentionOptions {
  heads: number;
  causal?: boolean;
  /** i32/u32 [B] valid key lengths or [B, Lk] keep-flags (nonzero = attend) */
  keyPadding?: Tensor;
  /** default 1/√(head dim) */
  scale?: number;
  /** force one implementation (tests, bench); default: the tuned choice, else the rule in `chooseImpl` */
  impl?: AttentionImpl;
  /** force one candidate of `attentionCandidates` (tests, tuner, bench); one that cannot run throws */
  variant?: AttentionVariant;
}

export type AttentionImpl = "fused" | "composed";
/** The kernels that can compute attention: the fused kernel's two variants and the composed path. */
export type AttentionVariant = "fused-small" | "fused-general" | "composed";
export const ATTENTION_VARIANTS: readonly AttentionVariant[] = ["fused-small", "fused-general", "composed"];

/** What decides which attention kernel is fastest (the tuner's shapes; `dims` of a call). */
export interface AttentionDims {
  B: number;
  Lq: number;
  Lk: number;
  /** model width (all heads) */
  D: number;
  H: number;
  dtype: "f32" | "f16";
  causal?: boolean;
  /** a key-padding mask is passed */
  padded?: boolean;
  /** q, k and v come packed in one [B, L, 3D] tensor (the in_proj output) */
  packed?: boolean;
}

interface Dims {
  B: number;
  Lq: number;
  Lk: number;
  /** score row stride: Lk padded so P and dS rows stay vec4/texture-aligned for the GEMMs */
  Lkp: number;
  D: number;
  H: number;
  dh: number;
}

/** What the forward keeps for the backward pass; pass the whole result back to the backward. */
export interface AttentionResult {
  out: Tensor;
  /** which implementation ran, and so what `saved` holds */
  impl: AttentionImpl;
  /** which kernel ran (the backward runs the same one) */
  variant: AttentionVariant;
  /**
   * composed: the attention probabilities [B, H, Lq, Lkp] (rows padded past Lk); fused: the
   * log-sum-exp of each score row [B, H, Lq] (f32), with `out` itself also read by the backward.
   */
  saved: Tensor;
}

function softmaxOpts(o: AttentionOptions, d: Dims): SoftmaxOptions {
  return {
    scale: o.scale ?? 1 / Math.sqrt(d.dh),
    causal: o.causal,
    keyPadding: o.keyPadding ? { mask: o.keyPadding, heads: d.H } : undefined,
    columns: d.Lk,
  };
}

function dims(q: Tensor, k: Tensor, v: Tensor, heads: number, packed: boolean): Dims {
  for (const t of [q, k, v]) {
    t.check();
    if (t.shape.length !== 3) {
      throw new Error(`vifi: attention: ${t.name} ${shapeStr(t.shape)} must be [B, L, D]`);
    }
  }
  expectDtype(q, ["f32", "f16"], "attention");
  const [B, Lq, Dq] = q.shape;
  const D = packed ? Dq / 3 : Dq;
  const [Bk, Lk, Dk] = k.shape;
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) {
    throw new Error("vifi: attention: q, k and v differ in dtype");
  }
  if (!packed) {
    if (Bk !== B || Dk !== D || v.shape[0] !== B || v.shape[1] !== Lk || v.shape[2] !== D) {
      throw new Error(
        `vifi: attention: q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)} and v ${
          shapeStr(v.shape)
        } do not fit` +
          " [B, Lq, D], [B, Lk, D], [B, Lk, D]",
      );
    }
  } else if (Dq % 3 !== 0) {
    throw new Error(`vifi: attention: packed qkv ${q.name} ${shapeStr(q.shape)} must be [B, L, 3·D]`);
  }
  if (!Number.isInteger(heads) || heads < 1 || D % heads !== 0) {
    throw new Error(`vifi: attention: width ${D} is not divisible into ${heads} heads`);
  }
  // Rows of 64 floats (128 halves) are what copyBufferToTexture needs for the texture-staged GEMM on
  // software adapters; elsewhere a multiple of 4 enables vec4 loads.
  const align = q.rt.gpu.info.software ? (q.dtype === "f16" ? 128 : 64) : 4;
  return { B, Lq, Lk, Lkp: Math.ceil(Lk / align) * align, D, H: heads, dh: D / heads };
}

/** C[b,h] = op(X[b,h]) · op(Y[b,h]) over per-head views; `scores` views are [B, H, Lq, Lk] blocks. */
async function headGemm(
  rt: Runtime,
  d: Dims,
  x: View | "scores",
  xs: Tensor | undefined,
  y: View,
  c: View | "scores",
  cs: Tensor | undefined,
  shape: {
    M: number;
    N: number;
    K: number;
    transA?: boolean;
    transB?: boolean;
    rowsA: number;
    rowsB: number;
  },
  label: string,
) {
  const blk = d.Lq * d.Lkp;
  const sView = (t: Tensor) => ({
    buf: t.buffer,
    off: 0,
    ld: d.Lkp,
    s: [d.H * blk, blk] as [number, number],
  });
  const hView = (v: View, rows: number) => ({
    buf: v.t.buffer,
    off: v.off,
    ld: v.ld,
    s: [rows * v.ld, d.dh] as [number, number],
  });
  const A = x === "scores" ? sView(xs!) : hView(x, shape.rowsA);
  const Bv = hView(y, shape.rowsB);
  const C = c === "scores" ? sView(cs!) : hView(c, shape.M);
  await gemm(rt, {
    a: A.buf,
    b: Bv.buf,
    c: C.buf,
    dtype: y.t.dtype,
    M: shape.M,
    N: shape.N,
    K: shape.K,
    transA: shape.transA,
    transB: shape.transB,
    lda: A.ld,
    ldb: Bv.ld,
    ldc: C.ld,
    offA: A.off,
    offB: Bv.off,
    offC: C.off,
    batch: d.B * d.H,
    heads: d.H,
    strideA: A.s,
    strideB: Bv.s,
    strideC: C.s,
    // score rows are padded to Lkp ≥ Lk rounded to 4, and the softmax reads only the first Lk columns
    padC: c === "scores",
    label,
  });
}

async function composedForward(
  q: View,
  k: View,
  v: View,
  d: Dims,
  o: AttentionOptions,
): Promise<AttentionResult> {
  const rt = q.t.rt;
  const dtype = q.t.dtype;
  const scores = Tensor.empty(rt, [d.B, d.H, d.Lq, d.Lkp], dtype, "attention.scores");
  await headGemm(rt, d, q, undefined, k, "scores", scores, {
    M: d.Lq,
    N: d.Lk,
    K: d.dh,
    transB: true,
    rowsA: d.Lq,
    rowsB: d.Lk,
  }, "attn_qk");
  const probs = await softmax(scores, softmaxOpts(o, d));
  scores.dispose();
  const out = Tensor.empty(rt, [d.B, d.Lq, d.D], dtype, "attention.out");
  await headGemm(rt, d, "scores", probs, v, { t: out, off: 0, ld: d.D }, undefined, {
    M: d.Lq,
    N: d.dh,
    K: d.Lk,
    rowsA: d.Lq,
    rowsB: d.Lk,
  }, "attn_pv");
  return { out, impl: "composed", variant: "composed", saved: probs };
}

/**
 * The tuning key: sequence lengths, head dim, dtype and masks change which kernel wins; the batch and
 * the number of heads only scale the work of every candidate alike (more (b, h) blocks), so shapes that
 * differ only there share a class and a training run at another batch uses the same choice.
 */
export function attentionShapeClass(d: AttentionDims): string {
  const masks = `${d.causal ? ":causal" : ""}${d.padded ? ":pad" : ""}`;
  return `${d.dtype}:L${d.Lq}x${d.Lk}:dh${d.D / d.H}${masks}`;
}

/** Why the fused kernel cannot take these dims (the bytes each operand would bind whole), or undefined. */
function fusedUnsupportedDims(rt: Runtime, d: AttentionDims): string | undefined {
  const bytes = d.dtype === "f16" ? 2 : 4;
  const t = (name: string, rows: number, width: number) => ({ name, byteLength: rows * width * bytes });
  const width = d.packed ? 3 * d.D : d.D;
  const fd = { ...d, dh: d.D / d.H };
  return fusedUnsupported(rt, fd, [t("q", d.B * d.Lq, width), t("k", d.B * d.Lk, width)]);
}

/** The rule below for these dims (the candidate used when nothing was tuned). */
function heuristic(rt: Runtime, d: AttentionDims): AttentionVariant {
  if (fusedUnsupportedDims(rt, d)) return "composed";
  return FUSED_RULE(rt, { ...d, dh: d.D / d.H }) ? "fused-small" : "composed";
}

/** Every kernel that can run these dims on this adapter, the heuristic's choice first. */
export function attentionCandidates(rt: Runtime, d: AttentionDims): AttentionVariant[] {
  const out: AttentionVariant[] = [heuristic(rt, d)];
  if (!fusedUnsupportedDims(rt, d)) {
    if (fusedVariant(rt, { ...d, dh: d.D / d.H }) === "small") out.push("fused-small");
    out.push("fused-general");
  }
  out.push("composed");
  return [...new Set(out)];
}

/** Which kernel runs: a forced variant or impl, else the tuned choice when it can run, else the rule. */
function chooseVariant(d: Dims, o: AttentionOptions, tensors: Tensor[]): AttentionVariant {
  const rt = tensors[0].rt;
  if (o.variant !== undefined && !ATTENTION_VARIANTS.includes(o.variant)) {
    throw new Error(`vifi: attention: unknown variant ${JSON.stringify(o.variant)} (${ATTENTION_VARIANTS})`);
  }
  const why = fusedUnsupported(rt, d, tensors);
  const forced = o.variant ?? (o.impl === "composed" ? "composed" : undefined);
  if ((o.impl === "fused" || forced?.startsWith("fused")) && why) {
    throw new Error(`vifi: attention: the fused kernel cannot run: ${why}`);
  }
  const small = fusedVariant(rt, d) === "small";
  if (forced === "fused-small" && !small) {
    throw new Error(
      `vifi: attention: variant fused-small cannot run L ${d.Lq}x${d.Lk} × head dim ${d.dh} (at most ` +
        `${FUSED_SMALL_MAX_LEN} tokens and workgroup memory for one head); use fused-general`,
    );
  }
  if (forced) return forced;
  if (o.impl === "fused") return small ? "fused-small" : "fused-general";
  const ad: AttentionDims = {
    ...d,
    dtype: tensors[0].dtype as "f32" | "f16",
    causal: o.causal,
    padded: !!o.keyPadding,
  };
  const tuned = rt.tuning.get("attention", attentionShapeClass(ad)) as AttentionVariant | undefined;
  // a tuned id this call cannot run (a binding over the limit, say) falls back to the rule
  if (
    tuned === "composed" || (tuned === "fused-general" && !why) || (tuned === "fused-small" && small && !why)
  ) {
    return tuned;
  }
  if (why) return "composed";
  return FUSED_RULE(rt, d) ? "fused-small" : "composed";
}

// The dispatch rule, measured on lavapipe (llvmpipe, LLVM 15, 256-bit SIMD, 2 shared cores) with the
// profiler, device ms f32 fused / composed, forward then backward (f16 alike; `deno task bench --filter
// attention-fused` gives the demo rows):
//   demo-vision 128·2 × 17 × 32          7.2 / 119 (16×)    16 / 241 (15×)
//   demo-text    64·2 × 16 × 32 causal   1.2 / 100 (83×)   3.5 / 137 (39×)
//   len-32       64·2 × 32 × 32          5.2 / 46  (9×)     20 / 103 (5×)
//   len-48       64·2 × 48 × 32           10 / 61  (6×)     30 / 122 (4×)
//   len-64       64·2 × 64 × 32          9.1 / 78  (9×)     25 / 169 (7×)
// The fused kernel's small variant (straight-line code over every key, see attention-fused.ts) wins at
// every length it takes; its general variant (a loop over key tiles, for longer sequences) loses 10–20×
// at 77 and 197 keys. So: fused exactly when the small variant runs (L ≤ 64 and L·dh ≤ 2048).
const FUSED_RULE = (rt: Runtime, d: FusedDims) => fusedVariant(rt, d) === "small";

function fusedMasks(o: AttentionOptions, d: Dims, variant: AttentionVariant) {
  const general = variant === "fused-general";
  return { scale: o.scale ?? 1 / Math.sqrt(d.dh), causal: o.causal, keyPadding: o.keyPadding, general };
}

async function forwardViews(
  q: View,
  k: View,
  v: View,
  d: Dims,
  o: AttentionOptions,
): Promise<AttentionResult> {
  const variant = chooseVariant(d, o, [q.t, k.t, v.t]);
  if (variant === "composed") return await composedForward(q, k, v, d, o);
  const { out, lse } = await fusedForward(q, k, v, d, fusedMasks(o, d, variant));
  return { out, impl: "fused", variant, saved: lse };
}

/** softmax(Q·Kᵀ·scale + masks)·V with q [B, Lq, D], k and v [B, Lk, D]; heads split D. */
export function attention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): Promise<AttentionResult> {
  const d = dims(q, k, v, o.heads, false);
  return forwardViews({ t: q, off: 0, ld: d.D }, { t: k, off: 0, ld: d.D }, { t: v, off: 0, ld: d.D }, d, o);
}

/** Self-attention on a packed in_proj output qkv [B, L, 3D] (q, k, v side by side in each row). */
export function attentionPacked(qkv: Tensor, o: AttentionOptions): Promise<AttentionResult> {
  const d = dims(qkv, qkv, qkv, o.heads, true);
  const ld = 3 * d.D;
  return forwardViews({ t: qkv, off: 0, ld }, { t: qkv, off: d.D, ld }, { t: qkv, off: 2 * d.D, ld }, d, o);
}

async function composedBackward(
  q: View,
  k: View,
  v: View,
  probs: Tensor,
  dout: Tensor,
  dq: View,
  dk: View,
  dv: View,
  d: Dims,
  o: AttentionOptions,
): Promise<void> {
  const rt = q.t.rt;
  const dO: View = { t: dout, off: 0, ld: d.D };
  // dV = Pᵀ·dO
  await headGemm(rt, d, "scores", probs, dO, dv, undefined, {
    M: d.Lk,
    N: d.dh,
    K: d.Lq,
    transA: true,
    rowsA: d.Lq,
    rowsB: d.Lq,
  }, "attn_dv");
  // dP = dO·Vᵀ, then dS through the softmax (which carries the scale)
  const dP = Tensor.empty(rt, probs.shape, probs.dtype, "attention.dprobs");
  await headGemm(rt, d, dO, undefined, v, "scores", dP, {
    M: d.Lq,
    N: d.Lk,
    K: d.dh,
    transB: true,
    rowsA: d.Lq,
    rowsB: d.Lk,
  }, "attn_dp");
  const dS = await softmaxBackward(probs, dP, softmaxOpts(o, d));
  dP.dispose();
  // dQ = dS·K, dK = dSᵀ·Q
  await headGemm(rt, d, "scores", dS, k, dq, undefined, {
    M: d.Lq,
    N: d.dh,
    K: d.Lk,
    rowsA: d.Lq,
    rowsB: d.Lk,
  }, "attn_dq");
  await headGemm(rt, d, "scores", dS, q, dk, undefined, {
    M: d.Lk,
    N: d.dh,
    K: d.Lq,
    transA: true,
    rowsA: d.Lq,
    rowsB: d.Lq,
  }, "attn_dk");
  dS.dispose();
}

function backwardViews(
  qkv: [View, View, View],
  fwd: AttentionResult,
  dout: Tensor,
  grads: [View, View, View],
  d: Dims,
  o: AttentionOptions,
): Promise<void> {
  if (fwd.impl === "composed") return composedBackward(...qkv, fwd.saved, dout, ...grads, d, o);
  return fusedBackward(qkv, fwd.out, fwd.saved, dout, grads, d, fusedMasks(o, d, fwd.variant));
}

function checkGrad(dout: Tensor, d: Dims, fwd: AttentionResult) {
  dout.check();
  fwd.saved.check();
  if (dout.shape.length !== 3 || dout.shape[0] !== d.B || dout.shape[1] !== d.Lq || dout.shape[2] !== d.D) {
    throw new Error(
      `vifi: attention backward: ${dout.name} ${shapeStr(dout.shape)} must be [${d.B}, ${d.Lq}, ${d.D}]`,
    );
  }
  const want = fwd.impl === "composed" ? [d.B, d.H, d.Lq, d.Lkp] : [d.B, d.H, d.Lq];
  if (fwd.saved.shape.join() !== want.join()) {
    throw new Error(
      `vifi: attention backward: saved ${fwd.saved.name} ${shapeStr(fwd.saved.shape)} must be ` +
        `${shapeStr(want)} for the ${fwd.impl} forward`,
    );
  }
  if (fwd.impl === "fused") fwd.out.check();
}

/** Gradients of `attention` from its inputs, its result (what it saved) and dOut [B, Lq, D]. */
export async function attentionBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  fwd: AttentionResult,
  dout: Tensor,
  o: AttentionOptions,
): Promise<{ dq: Tensor; dk: Tensor; dv: Tensor }> {
  const d = dims(q, k, v, o.heads, false);
  checkGrad(dout, d, fwd);
  const rt = q.rt;
  const dq = Tensor.empty(rt, q.shape, q.dtype, `d(${q.name})`);
  const dk = Tensor.empty(rt, k.shape, k.dtype, `d(${k.name})`);
  const dv = Tensor.empty(rt, v.shape, v.dtype, `d(${v.name})`);
  const view = (t: Tensor) => ({ t, off: 0, ld: d.D });
  await backwardViews([view(q), view(k), view(v)], fwd, dout, [view(dq), view(dk), view(dv)], d, o);
  return { dq, dk, dv };
}

/** Gradient of `attentionPacked`: dqkv [B, L, 3D] in the same packed layout. */
export async function attentionPackedBackward(
  qkv: Tensor,
  fwd: AttentionResult,
  dout: Tensor,
  o: AttentionOptions,
): Promise<Tensor> {
  const d = dims(qkv, qkv, qkv, o.heads, true);
  checkGrad(dout, d, fwd);
  const dqkv = Tensor.empty(qkv.rt, qkv.shape, qkv.dtype, `d(${qkv.name})`);
  const ld = 3 * d.D;
  const at = (t: Tensor, j: number) => ({ t, off: j * d.D, ld });
  await backwardViews(
    [at(qkv, 0), at(qkv, 1), at(qkv, 2)],
    fwd,
    dout,
    [at(dqkv, 0), at(dqkv, 1), at(dqkv, 2)],
    d,
    o,
  );
  return dqkv;
}

// ---- float64 reference ----

export interface AttentionReferenceInput {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  B: number;
  Lq: number;
  Lk: number;
  D: number;
  heads: number;
  causal?: boolean;
  keyPadding?: { mask: ArrayLike<number>; shape: number[] };
  scale?: number;
}

/** Direct SDPA in float64: out [B, Lq, D], probs [B, H, Lq, Lk], and (given dOut) dq, dk, dv. */
export function attentionReference(r: AttentionReferenceInput, dout?: ArrayLike<number>) {
  const { B, Lq, Lk, D, heads: H } = r;
  const dh = D / H;
  const scale = r.scale ?? 1 / Math.sqrt(dh);
  const S = new Float64Array(B * H * Lq * Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Lq; i++) {
        for (let j = 0; j < Lk; j++) {
          let s = 0;
          for (let c = 0; c < dh; c++) {
            s += r.q[(b * Lq + i) * D + h * dh + c] * r.k[(b * Lk + j) * D + h * dh + c];
          }
          S[((b * H + h) * Lq + i) * Lk + j] = s;
        }
      }
    }
  }
  const shape = [B, H, Lq, Lk];
  const smOpts = { scale, causal: r.causal, keyPadding: r.keyPadding && { ...r.keyPadding, heads: H } };
  const P = softmaxReference(S, shape, smOpts);
  const out = new Float64Array(B * Lq * D);
  const at = (b: number, h: number, i: number, j: number) => ((b * H + h) * Lq + i) * Lk + j;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Lq; i++) {
        for (let c = 0; c < dh; c++) {
          let s = 0;
          for (let j = 0; j < Lk; j++) s += P[at(b, h, i, j)] * r.v[(b * Lk + j) * D + h * dh + c];
          out[(b * Lq + i) * D + h * dh + c] = s;
        }
      }
    }
  }
  if (!dout) return { out, probs: P };
  const dq = new Float64Array(B * Lq * D);
  const dk = new Float64Array(B * Lk * D);
  const dv = new Float64Array(B * Lk * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const dS = new Float64Array(Lq * Lk);
      for (let i = 0; i < Lq; i++) {
        const dP = new Float64Array(Lk);
        let dot = 0;
        for (let j = 0; j < Lk; j++) {
          let s = 0;
          for (let c = 0; c < dh; c++) {
            s += dout[(b * Lq + i) * D + h * dh + c] * r.v[(b * Lk + j) * D + h * dh + c];
          }
          dP[j] = s;
          dot += s * P[at(b, h, i, j)];
        }
        for (let j = 0; j < Lk; j++) dS[i * Lk + j] = scale * P[at(b, h, i, j)] * (dP[j] - dot);
      }
      for (let i = 0; i < Lq; i++) {
        for (let j = 0; j < Lk; j++) {
          const p = P[at(b, h, i, j)];
          const g = dS[i * Lk + j];
          for (let c = 0; c < dh; c++) {
            const qi = (b * Lq + i) * D + h * dh + c;
            const kj = (b * Lk + j) * D + h * dh + c;
            dv[kj] += p * dout[qi];
            dq[qi] += g * r.k[kj];
            dk[kj] += g * r.q[qi];
          }
        }
      }
    }
  }
  return { out, probs: P, dq, dk, dv };
}
