// Fused attention (kernels/attention.wgsl): forward with an online softmax that keeps only O and the
// log-sum-exp L [B, H, Lq] (f32), backward recomputing the probabilities from L — no Lq×Lk tensor.
// Same semantics and views as the composed path in attention.ts (which holds the dispatch rule and the
// float64 reference, attentionReference): q, k, v read in place by offset and row stride, so separate
// [B, L, D] tensors and the packed [B, L, 3D] in_proj output both work without copies.

import type { Binding, Runtime } from "../../gpu/runtime.ts";
import { Tensor } from "../tensor.ts";
import { dtypeSpec, params, whole } from "./common.ts";

/** A [B, L, D] matrix seen inside a buffer: row stride `ld`, first element at `off`. */
export interface View {
  t: Tensor;
  off: number;
  ld: number;
}

export interface FusedDims {
  B: number;
  Lq: number;
  Lk: number;
  D: number;
  H: number;
  dh: number;
}

export interface FusedMasks {
  scale: number;
  causal?: boolean;
  keyPadding?: Tensor;
  /** run the general kernel even where the small one fits (a forced or tuned "fused-general") */
  general?: boolean;
}

/** The largest head dim the kernel takes (its rows live in registers, unrolled). */
export const FUSED_MAX_HEAD_DIM = 128;
/** Rows per workgroup of the general kernel, one per invocation. */
const WG = 16;
/** The longest sequence (queries or keys) the small kernel takes: it unrolls over every key and query. */
export const FUSED_SMALL_MAX_LEN = 64;
/**
 * ... and the most elements of one head's keys (or queries), L · dh: the code grows with it, and so does
 * llvmpipe's compile time (at 17 × 32 about 1.5 s per entry point, at 64 × 32 up to 11 s).
 */
const SMALL_MAX_ELEMS = 64 * 32;

/** Rows per workgroup-memory tile: two f32 tiles of TK × dh (plus two TK vectors) in the adapter's limit. */
function tileRows(rt: Runtime, dh: number): number {
  const bytes = rt.gpu.limits.maxComputeWorkgroupStorageSize;
  return Math.max(1, Math.min(64, Math.floor(bytes / (8 * (dh + 1)))));
}

/** Why the fused kernel cannot run these shapes on this adapter, or undefined when it can. */
export function fusedUnsupported(
  rt: Runtime,
  d: FusedDims,
  tensors: Pick<Tensor, "name" | "byteLength">[],
): string | undefined {
  if (d.dh > FUSED_MAX_HEAD_DIM) return `head dim ${d.dh} > ${FUSED_MAX_HEAD_DIM}`;
  if (d.Lq === 0 || d.Lk === 0 || d.B === 0) return "an empty sequence";
  const limit = rt.gpu.limits.maxStorageBufferBindingSize;
  for (const t of tensors) {
    // the fused kernel binds each operand whole (it does not split as the composed path does)
    if (t.byteLength > limit) {
      return `${t.name} (${t.byteLength} bytes) is over maxStorageBufferBindingSize (${limit})`;
    }
  }
  return undefined;
}

/**
 * Which kernel runs these shapes: "small" (straight-line code over every key and query, one workgroup
 * per (b, h)) when both sequences are short and K, V (or Q, dO) of one head fit workgroup memory, else
 * "general" (key tiles streamed in a loop, any length).
 */
export function fusedVariant(rt: Runtime, d: FusedDims): "small" | "general" {
  const L = Math.max(d.Lq, d.Lk);
  const bytes = 8 * L * (d.dh + 1);
  const fits = L <= FUSED_SMALL_MAX_LEN && L * d.dh <= SMALL_MAX_ELEMS &&
    bytes <= rt.gpu.limits.maxComputeWorkgroupStorageSize;
  return fits ? "small" : "general";
}

/** The kernel's spec and rows per workgroup for an entry point giving one invocation to each of `rows`. */
function spec(
  d: FusedDims,
  dtype: "f32" | "f16",
  m: FusedMasks,
  rt: Runtime,
  rows: number,
  kvShared = false,
) {
  const kp = m.keyPadding;
  const masks = {
    CAUSAL: !!m.causal,
    PAD: !!kp,
    PAD_LENGTHS: !!kp && kp.shape.length === 1,
    KV_SHARED: kvShared,
  };
  if (!m.general && fusedVariant(rt, d) === "small") {
    // whole 8-lane SIMD groups (llvmpipe's width for 256-bit vectors): a partial group costs a full one
    const wg = Math.ceil(rows / 8) * 8;
    return { wg, spec: { ...dtypeSpec(dtype), DH: d.dh, SMALL: true, LQ: d.Lq, LK: d.Lk, WG: wg, ...masks } };
  }
  const general = { DH: d.dh, SMALL: false, LQ: 0, LK: 0, TK: tileRows(rt, d.dh), WG };
  return { wg: WG, spec: { ...dtypeSpec(dtype), ...general, ...masks } };
}

/** Uniform fields in Params order; `rows` is Lq or Lk (what the entry point gives one row each). */
function uniform(d: FusedDims, m: FusedMasks, rows: number, wg: number, qkv: View[], grads?: View[]) {
  const blocks = Math.ceil(rows / wg);
  const [q, k, v] = qkv;
  const g = grads ?? qkv;
  return {
    total: blocks * d.B * d.H,
    data: params(
      d.H,
      d.Lq,
      d.Lk,
      blocks,
      blocks * d.B * d.H,
      { f: m.scale },
      q.off,
      q.ld,
      k.off,
      k.ld,
      v.off,
      v.ld,
      d.D,
      g[0].off,
      g[1].off,
      g[2].off,
      g[0].ld,
    ),
  };
}

function grid(rt: Runtime, total: number): [number, number] {
  const max = rt.gpu.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(total, max);
  return [x, Math.ceil(total / x)];
}

function checkMask(m: FusedMasks, d: FusedDims) {
  const kp = m.keyPadding;
  if (!kp) return;
  kp.check();
  const ok = kp.dtype === "i32" || kp.dtype === "u32";
  const shapeOk = (kp.shape.length === 1 && kp.shape[0] === d.B) ||
    (kp.shape.length === 2 && kp.shape[0] === d.B && kp.shape[1] === d.Lk);
  if (!ok || !shapeOk) {
    throw new Error(
      `vifi: attention: key padding ${kp.name} is ${kp.dtype} [${kp.shape.join(", ")}]; expected i32/u32` +
        ` [${d.B}] lengths or [${d.B}, ${d.Lk}] flags`,
    );
  }
}

/** O [B, Lq, D] and L [B, H, Lq] (f32) from views of q, k and v. */
export async function fusedForward(
  q: View,
  k: View,
  v: View,
  d: FusedDims,
  m: FusedMasks,
): Promise<{ out: Tensor; lse: Tensor }> {
  checkMask(m, d);
  const rt = q.t.rt;
  const dtype = q.t.dtype as "f32" | "f16";
  const out = Tensor.empty(rt, [d.B, d.Lq, d.D], dtype, "attention.out");
  const lse = Tensor.empty(rt, [d.B, d.H, d.Lq], "f32", "attention.lse");
  const sp = spec(d, dtype, m, rt, d.Lq);
  const pipe = await rt.pipeline("attention.wgsl", "forward", sp.spec);
  const u = uniform(d, m, d.Lq, sp.wg, [q, k, v]);
  const label = "attn_fused";
  const b: (Binding | undefined)[] = [];
  b[0] = rt.uniform(u.data);
  b[1] = whole(q.t, label);
  b[2] = whole(k.t, label);
  b[3] = whole(v.t, label);
  if (m.keyPadding) b[4] = whole(m.keyPadding, label);
  b[5] = whole(out, label);
  b[6] = whole(lse, label);
  rt.dispatch(pipe, b, grid(rt, u.total), { label });
  return { out, lse };
}

/**
 * dQ, dK and dV written into the views `grads` (all with the same row stride: the packed [B, L, 3D]
 * gradient or three [B, L, D] tensors), from the forward's O and L and dO [B, Lq, D].
 */
export async function fusedBackward(
  qkv: [View, View, View],
  out: Tensor,
  lse: Tensor,
  dout: Tensor,
  grads: [View, View, View],
  d: FusedDims,
  m: FusedMasks,
): Promise<void> {
  checkMask(m, d);
  const [q, k, v] = qkv;
  const rt = q.t.rt;
  const dtype = q.t.dtype as "f32" | "f16";
  const delta = Tensor.empty(rt, [d.B, d.H, d.Lq], "f32", "attention.delta");
  const mask = m.keyPadding && whole(m.keyPadding, "attn_fused_bwd");
  const common = (label: string) => {
    const b: (Binding | undefined)[] = [];
    b[4] = mask;
    b[9] = whole(lse, label);
    return b;
  };
  let label = "attn_fused_dq";
  let sp = spec(d, dtype, m, rt, d.Lq);
  let u = uniform(d, m, d.Lq, sp.wg, qkv, grads);
  let b = common(label);
  b[0] = rt.uniform(u.data);
  b[1] = whole(q.t, label);
  b[2] = whole(k.t, label);
  b[3] = whole(v.t, label);
  b[7] = whole(out, label);
  b[8] = whole(dout, label);
  b[10] = whole(delta, label);
  b[12] = whole(grads[0].t, label);
  rt.dispatch(await rt.pipeline("attention.wgsl", "backward_q", sp.spec), b, grid(rt, u.total), { label });

  label = "attn_fused_dkv";
  // dK and dV in one tensor (the packed [B, L, 3D] gradient): WebGPU forbids two writable bindings over
  // overlapping bytes of one buffer (Dawn refuses the dispatch; wgpu does not check), so dV is written
  // through dK's binding, at dV's offset.
  const kvShared = grads[1].t === grads[2].t;
  sp = spec(d, dtype, m, rt, d.Lk, kvShared);
  u = uniform(d, m, d.Lk, sp.wg, qkv, grads);
  b = common(label);
  b[0] = rt.uniform(u.data);
  b[1] = whole(q.t, label);
  b[2] = whole(k.t, label);
  b[3] = whole(v.t, label);
  b[8] = whole(dout, label);
  b[11] = whole(delta, label);
  b[13] = whole(grads[1].t, label);
  if (!kvShared) b[14] = whole(grads[2].t, label);
  rt.dispatch(await rt.pipeline("attention.wgsl", "backward_kv", sp.spec), b, grid(rt, u.total), { label });
  delta.dispose();
}
