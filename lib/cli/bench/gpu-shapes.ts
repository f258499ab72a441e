// What `deno task bench --suite gpu` measures, at which sizes, and the one FLOP count every row (ours
// and PyTorch's, bench/torch_reference.py builds the same list from the same rules) is divided by.
//
// "full" is the issue's sizes, for a real GPU: ViT-B/16 and ViT-L/14 linear layers over batch 4 × 8
// frames, the model rows at batch 4 × 8/16/32 frames. "tiny" keeps one shape per kind, 1 frame for the
// kernels and 1 × 2 frames for the model, one timed round, so a software adapter (lavapipe: ~23 GFLOP/s)
// gets through the suite in minutes.

import { clipConfig } from "../../models/config.ts";
import { imageTowerFlops } from "../../models/flops.ts";

export type Scale = "tiny" | "full";

export interface GemmCase {
  /** "B/16" or "L/14" */
  model: string;
  /** which layer: qkv, proj, fc1, fc2 (x·Wᵀ), qk (Q·Kᵀ per head), pv (P·V per head) */
  name: string;
  batch: number;
  M: number;
  K: number;
  N: number;
  transB: boolean;
}

export interface AttentionCase {
  B: number;
  H: number;
  L: number;
  dh: number;
}

export interface ModelCase {
  batch: number;
  frames: number;
  classes: number;
}

export interface SuitePlan {
  scale: Scale;
  gemm: GemmCase[];
  attention: AttentionCase[];
  layernorm: { M: number; N: number }[];
  model: ModelCase[];
  /** timed runs per submit in the kernel rows, best of `rounds` */
  reps: number;
  rounds: number;
}

/** ViT tokens: (resolution / patch)² + class token. */
const TOKENS = { "B/16": 197, "L/14": 257 } as const;
const WIDTH = { "B/16": 768, "L/14": 1024 } as const;

function linearCases(model: "B/16" | "L/14", frames: number, names: string[]): GemmCase[] {
  const [L, D] = [TOKENS[model], WIDTH[model]];
  const M = L * frames;
  const all: Record<string, [number, number]> = {
    qkv: [D, 3 * D],
    proj: [D, D],
    fc1: [D, 4 * D],
    fc2: [4 * D, D],
  };
  return names.map((name) => ({ model, name, batch: 1, M, K: all[name][0], N: all[name][1], transB: true }));
}

/** Per-head attention GEMMs: Q·Kᵀ [L, dh]·[L, dh]ᵀ and P·V [L, L]·[L, dh], one per (frame, head). */
function headCases(model: "B/16" | "L/14", frames: number): GemmCase[] {
  const L = TOKENS[model];
  const heads = WIDTH[model] / 64;
  const batch = frames * heads;
  return [
    { model, name: "qk", batch, M: L, K: 64, N: L, transB: true },
    { model, name: "pv", batch, M: L, K: L, N: 64, transB: false },
  ];
}

export function suitePlan(scale: Scale): SuitePlan {
  if (scale === "tiny") {
    return {
      scale,
      gemm: [...linearCases("B/16", 1, ["proj"]), ...headCases("B/16", 1).slice(0, 1)],
      attention: [{ B: 1, H: 12, L: 197, dh: 64 }],
      layernorm: [{ M: 197 * 2, N: 768 }],
      model: [{ batch: 1, frames: 2, classes: 2 }],
      reps: 1,
      rounds: 1,
    };
  }
  const frames = 4 * 8;
  const all = ["qkv", "proj", "fc1", "fc2"];
  return {
    scale,
    gemm: [
      ...linearCases("B/16", frames, all),
      ...headCases("B/16", frames),
      ...linearCases("L/14", frames, all),
      ...headCases("L/14", frames),
    ],
    attention: [{ B: frames, H: 12, L: 197, dh: 64 }],
    layernorm: [{ M: 197 * frames, N: 768 }],
    model: [8, 16, 32].map((frames) => ({ batch: 4, frames, classes: 8 })),
    reps: 5,
    rounds: 3,
  };
}

export function gemmShape(g: GemmCase): string {
  return `${g.model} ${g.name} ${g.batch > 1 ? `${g.batch}×` : ""}${g.M}x${g.K}x${g.N}`;
}

export function attentionShape(a: AttentionCase): string {
  return `${a.B}x${a.H}x${a.L}x${a.dh}`;
}

export function modelShape(m: ModelCase): string {
  return `ViT-B/16 ${m.batch}x${m.frames}x224² C=${m.classes}`;
}

/** What a row computed, for its FLOP count. */
export type Work =
  | { kind: "gemm"; g: GemmCase }
  | { kind: "attention"; a: AttentionCase; backward: boolean }
  | { kind: "model"; m: ModelCase; train: boolean };

/**
 * FLOPs (2 per multiply-add) of one row's computation: GEMMs and attention count their products; a
 * backward counts twice its forward; the model rows count the image tower over every frame plus the
 * cosine logits (the text embeddings are cached: the text tower is frozen in these rows), and a
 * training step three forwards. LayerNorm rows are memory-bound and report GB/s instead.
 */
export function rowFlops(w: Work): number {
  switch (w.kind) {
    case "gemm":
      return 2 * w.g.batch * w.g.M * w.g.N * w.g.K;
    case "attention": {
      const { B, H, L, dh } = w.a;
      return (w.backward ? 2 : 1) * 2 * 2 * B * H * L * L * dh;
    }
    case "model": {
      const c = clipConfig("ViT-B/16");
      const videos = w.m.batch;
      const fwd = imageTowerFlops(c, videos * w.m.frames) + 2 * videos * w.m.classes * c.embedDim;
      return (w.train ? 3 : 1) * fwd;
    }
  }
}

/** Bytes a LayerNorm row moves: x read and y written (forward), x and dy read and dx written (backward). */
export function layerNormBytes(M: number, N: number, dtype: string, backward: boolean): number {
  return (backward ? 3 : 2) * M * N * (dtype === "f16" ? 2 : 4);
}

/** "op|shape" of every row the plan measures (each in every dtype and variant): the names PyTorch's rows share. */
export function planRowKeys(p: SuitePlan): string[] {
  return [
    ...p.gemm.map((g) => `gemm|${gemmShape(g)}`),
    ...p.attention.flatMap((a) => ["fwd", "bwd"].map((d) => `attention ${d}|${attentionShape(a)}`)),
    ...p.layernorm.flatMap(({ M, N }) => ["fwd", "bwd"].map((d) => `layernorm ${d}|${M}x${N}`)),
    ...p.model.flatMap((m) => ["vifi-forward", "vifi-train-step"].map((op) => `${op}|${modelShape(m)}`)),
  ];
}
