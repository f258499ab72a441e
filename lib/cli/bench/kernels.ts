// The kernel rows of `deno task bench`: matmul, attention and LayerNorm at CLIP ViT-B/16 shapes, in
// every dtype the adapter has, each beside onnxruntime-web running the same computation
// (onnx-reference.ts). Ours is wall time per op over a batch of reps in one submit, best of 3 rounds.

import type { Runtime } from "../../gpu/runtime.ts";
import type { Rng } from "../../random/rng.ts";
import { type AttentionImpl, attentionPacked, attentionPackedBackward } from "../../tensor/ops/attention.ts";
import { layerNorm } from "../../tensor/ops/layernorm.ts";
import { matmul } from "../../tensor/ops/matmul.ts";
import { type DType, Tensor } from "../../tensor/tensor.ts";
import {
  against,
  attentionGraph,
  layerNormGraph,
  matmulGraph,
  type ReferenceTimer,
  timeOrt,
} from "./onnx-reference.ts";
import { againstNode } from "./onnx-node-reference.ts";
import type { Emit, Want } from "./row.ts";

/** What every kernel family needs; the families draw their inputs from `rng` in turn. */
export interface KernelBench {
  rt: Runtime;
  reps: number;
  rng: Rng;
  dtypes: DType[];
  want: Want;
  emit: Emit;
  ref: ReferenceTimer;
}

/**
 * Milliseconds per run: `reps` runs recorded into one submit with one wait at the end, so the ~11 ms
 * a GPU round trip costs in Deno is spread over the reps, and everything the op records (copies into
 * textures included, which timestamp queries inside passes would miss) is counted. Best of `rounds` rounds.
 */
export async function timeGpu(
  rt: Runtime,
  reps: number,
  run: () => Promise<Tensor[]>,
  rounds = 3,
): Promise<number> {
  for (const t of await run()) t.dispose(); // compile and warm up
  await rt.sync();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) for (const t of await run()) t.dispose();
    await rt.sync();
    times.push((performance.now() - t0) / reps);
  }
  return Math.min(...times);
}

/** Every kernel row, in table order. */
export async function kernelRows(k: KernelBench): Promise<void> {
  await matmulRows(k);
  await attentionRows(k);
  await attentionImplRows(k);
  await layerNormRows(k);
}

// Linear layers of ViT-B/16 over 8 frames (M = 197·8) as x·Wᵀ with W stored [out, in], 1024³, and the
// demo's tiny CLIP (width 64, MLP 256, 17 tokens × 64 frames): qkv, fc1, fc2 (the small-K variant).
const MATMUL_SHAPES = [
  [1576, 768, 768],
  [1576, 768, 3072],
  [1576, 3072, 768],
  [1024, 1024, 1024],
  [1088, 64, 192],
  [1088, 64, 256],
  [1088, 256, 64],
];

async function matmulRows({ rt, reps, rng, dtypes, want, emit, ref }: KernelBench): Promise<void> {
  for (const [M, K, N] of MATMUL_SHAPES) {
    const shape = `${M}x${K}x${N}`;
    if (!want("matmul", shape)) continue;
    const x = rng.array(M * K);
    const w = rng.array(N * K);
    const flop = 2 * M * N * K;
    const refMs = await ref(`mm${shape}`, (ort, so) => {
      const wT = new Float32Array(K * N);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wT[k * N + n] = w[n * K + k];
      return timeOrt(
        ort,
        matmulGraph(M, K, N, wT),
        { x: { data: Float32Array.from(x), dims: [M, K] } },
        reps,
        so,
      );
    });
    for (const dtype of dtypes) {
      const tx = Tensor.from(rt, x, [M, K], dtype);
      const tw = Tensor.from(rt, w, [N, K], dtype);
      const ms = await timeGpu(rt, reps, async () => [await matmul(tx, tw, { transB: true })]);
      tx.dispose();
      tw.dispose();
      const gflops = flop / ms / 1e6;
      emit({
        op: "matmul",
        shape,
        dtype,
        gflops,
        ms,
        ...against(refMs.web, ms),
        ...againstNode(refMs.node, ms),
        ref_gflops: refMs.web === null ? null : flop / refMs.web / 1e6,
      });
    }
  }
}

// Self-attention of one ViT-B/16 layer over 8 frames: 12 heads × 197 tokens × 64.
async function attentionRows({ rt, reps, rng, dtypes, want, emit, ref }: KernelBench): Promise<void> {
  const [B, L, H, dh] = [8, 197, 12, 64];
  const D = H * dh;
  const shape = `${B}x${H}x${L}x${dh}`;
  if (!want("attention", shape)) return;
  const qkv = rng.array(B * L * 3 * D);
  const flop = 2 * 2 * B * H * L * L * dh;
  const refMs = await ref("attn", (ort, so) => {
    // onnxruntime gets q, k and v as three [B, L, D] inputs cut from the packed [B, L, 3D] one
    const part = (j: number) => {
      const out = new Float32Array(B * L * D);
      for (let r = 0; r < B * L; r++) {
        for (let c = 0; c < D; c++) out[r * D + c] = qkv[r * 3 * D + j * D + c];
      }
      return { data: out, dims: [B, L, D] };
    };
    return timeOrt(ort, attentionGraph(B, L, H, dh), { q: part(0), k: part(1), v: part(2) }, reps, so);
  });
  for (const dtype of dtypes) {
    const t = Tensor.from(rt, qkv, [B, L, 3 * D], dtype);
    const ms = await timeGpu(rt, reps, async () => {
      const r = await attentionPacked(t, { heads: H });
      return [r.out, r.saved];
    });
    t.dispose();
    emit({
      op: "attention",
      shape,
      dtype,
      gflops: flop / ms / 1e6,
      ms,
      ...against(refMs.web, ms),
      ...againstNode(refMs.node, ms),
      ref_gflops: refMs.web === null ? null : flop / refMs.web / 1e6,
    });
  }
}

// Fused attention against the composed one (GEMMs + masked softmax), forward and backward, at the shapes
// that matter here: [name, B, H, L, dh, causal]. The ratio is composed ms / fused ms (> 1: fused wins);
// the dispatch rule in lib/tensor/ops/attention.ts comes from these rows.
const IMPL_SHAPES: [string, number, number, number, number, boolean][] = [
  ["demo-vision", 128, 2, 17, 32, false],
  ["demo-text", 64, 2, 16, 32, true],
  ["tiny-vision", 8, 2, 17, 16, false],
  ["len-32", 64, 2, 32, 32, false],
  ["len-48", 64, 2, 48, 32, false],
  ["len-64", 64, 2, 64, 32, false],
  ["clip-text", 8, 8, 77, 64, true],
  ["vit-b16", 8, 12, 197, 64, false],
];

async function attentionImplRows({ rt, reps, rng, dtypes, want, emit }: KernelBench): Promise<void> {
  for (const [name, B, H, L, dh, causal] of IMPL_SHAPES) {
    const D = H * dh;
    const shape = `${name} ${B}x${H}x${L}x${dh}${causal ? " causal" : ""}`;
    const wantF = want("attention-fused fwd", shape);
    const wantB = want("attention-fused bwd", shape);
    if (!wantF && !wantB) continue;
    const qkv = rng.array(B * L * 3 * D);
    const dout = rng.array(B * L * D);
    const flop = 2 * 2 * B * H * L * L * dh * (causal ? 0.5 : 1);
    for (const dtype of dtypes) {
      const t = Tensor.from(rt, qkv, [B, L, 3 * D], dtype);
      const g = Tensor.from(rt, dout, [B, L, D], dtype);
      const fwdMs = new Map<AttentionImpl, number>();
      const bwdMs = new Map<AttentionImpl, number>();
      for (const impl of ["fused", "composed"] as const) {
        const o = { heads: H, causal, impl };
        if (wantF) {
          fwdMs.set(
            impl,
            await timeGpu(rt, reps, async () => {
              const r = await attentionPacked(t, o);
              return [r.out, r.saved];
            }),
          );
        }
        if (wantB) {
          const r = await attentionPacked(t, o);
          bwdMs.set(impl, await timeGpu(rt, reps, async () => [await attentionPackedBackward(t, r, g, o)]));
          r.out.dispose();
          r.saved.dispose();
        }
      }
      t.dispose();
      g.dispose();
      for (const [dir, ms, mult] of [["fwd", fwdMs, 1], ["bwd", bwdMs, 2]] as const) {
        const fused = ms.get("fused");
        const composed = ms.get("composed");
        if (fused === undefined || composed === undefined) continue;
        emit({
          op: `attention-fused ${dir}`,
          shape,
          dtype,
          gflops: (mult * flop) / fused / 1e6,
          ms: fused,
          ref: "composed",
          ref_ms: composed,
          ref_gflops: (mult * flop) / composed / 1e6,
          ratio: composed / fused,
        });
      }
    }
  }
}

// LayerNorm over the ViT residual stream: memory-bound, so GB/s of x read + y written.
async function layerNormRows({ rt, reps, rng, dtypes, want, emit, ref }: KernelBench): Promise<void> {
  const [M, N] = [1576, 768];
  const shape = `${M}x${N}`;
  if (!want("layernorm", shape)) return;
  const x = rng.array(M * N);
  const w = rng.array(N);
  const b = rng.array(N);
  const refMs = await ref(
    "ln",
    (ort, so) =>
      timeOrt(
        ort,
        layerNormGraph(M, N, Float32Array.from(w), Float32Array.from(b)),
        {
          x: { data: Float32Array.from(x), dims: [M, N] },
        },
        reps,
        so,
      ),
  );
  for (const dtype of dtypes) {
    const bytesPer = dtype === "f16" ? 2 : 4;
    const tx = Tensor.from(rt, x, [M, N], dtype);
    const tw = Tensor.from(rt, w, [N], dtype);
    const tb = Tensor.from(rt, b, [N], dtype);
    const ms = await timeGpu(rt, reps, async () => {
      const r = await layerNorm(tx, tw, tb);
      return [r.y, r.mean, r.rstd];
    });
    for (const t of [tx, tw, tb]) t.dispose();
    const bytes = 2 * M * N * bytesPer;
    emit({
      op: "layernorm",
      shape,
      dtype,
      gbps: bytes / ms / 1e6,
      ms,
      ...against(refMs.web, ms),
      ...againstNode(refMs.node, ms),
      ref_gbps: refMs.web === null ? null : (2 * M * N * 4) / refMs.web / 1e6,
    });
  }
}
