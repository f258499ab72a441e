// The reference column of the kernel rows: the same computation as a one-node (or few-node) ONNX graph
// run by onnxruntime-web (wasm) in this process, timed per session.run (which includes its input
// copies), best of 3 rounds. Without onnxruntime-web the rows still come, with no reference.

import { encodeOnnx, type OnnxGraph } from "../../io/onnx.ts";
import type { BenchRow } from "./row.ts";

// deno-lint-ignore no-explicit-any
export type Ort = any;

export async function loadOrt(): Promise<Ort | null> {
  try {
    const ort = await import("npm:onnxruntime-web@1.30.0");
    ort.env.wasm.numThreads = Math.max(1, navigator.hardwareConcurrency ?? 1);
    ort.env.logLevel = "error";
    return ort;
  } catch (e) {
    console.error(`onnxruntime-web unavailable, no reference column: ${e instanceof Error ? e.message : e}`);
    return null;
  }
}

export async function timeOrt(
  ort: Ort,
  graph: OnnxGraph,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  reps: number,
  sessionOptions: Record<string, unknown> = {},
): Promise<number> {
  const session = await ort.InferenceSession.create(encodeOnnx(graph), {
    graphOptimizationLevel: "all",
    ...sessionOptions,
  });
  const f: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor("float32", v.data, v.dims);
  await session.run(f);
  const rounds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await session.run(f);
    rounds.push((performance.now() - t0) / reps);
  }
  await session.release();
  return Math.min(...rounds);
}

export function matmulGraph(M: number, K: number, N: number, w: Float32Array): OnnxGraph {
  return {
    name: "matmul",
    nodes: [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }],
    inputs: [{ name: "x", type: "float", dims: [M, K] }],
    outputs: [{ name: "y", type: "float", dims: [M, N] }],
    initializers: [{ name: "w", type: "float", dims: [K, N], data: w }],
  };
}

export function attentionGraph(B: number, L: number, H: number, dh: number): OnnxGraph {
  const D = H * dh;
  const i64 = (xs: number[]) => new BigInt64Array(xs.map(BigInt));
  const split = (name: string) => [
    { op: "Reshape", inputs: [name, "heads_shape"], outputs: [`${name}4`] },
    {
      op: "Transpose",
      inputs: [`${name}4`],
      outputs: [`${name}h`],
      attributes: [{ name: "perm", value: [0, 2, 1, 3] }],
    },
  ];
  return {
    name: "attention",
    nodes: [
      ...split("q"),
      ...split("k"),
      ...split("v"),
      {
        op: "Transpose",
        inputs: ["kh"],
        outputs: ["kt"],
        attributes: [{ name: "perm", value: [0, 1, 3, 2] }],
      },
      { op: "MatMul", inputs: ["qh", "kt"], outputs: ["s"] },
      { op: "Mul", inputs: ["s", "scale"], outputs: ["ss"] },
      { op: "Softmax", inputs: ["ss"], outputs: ["p"], attributes: [{ name: "axis", value: -1 }] },
      { op: "MatMul", inputs: ["p", "vh"], outputs: ["oh"] },
      {
        op: "Transpose",
        inputs: ["oh"],
        outputs: ["o4"],
        attributes: [{ name: "perm", value: [0, 2, 1, 3] }],
      },
      { op: "Reshape", inputs: ["o4", "out_shape"], outputs: ["y"] },
    ],
    inputs: ["q", "k", "v"].map((name) => ({ name, type: "float" as const, dims: [B, L, D] })),
    outputs: [{ name: "y", type: "float", dims: [B, L, D] }],
    initializers: [
      { name: "heads_shape", type: "int64", dims: [4], data: i64([B, L, H, dh]) },
      { name: "out_shape", type: "int64", dims: [3], data: i64([B, L, D]) },
      { name: "scale", type: "float", dims: [], data: new Float32Array([1 / Math.sqrt(dh)]) },
    ],
  };
}

export function layerNormGraph(M: number, N: number, w: Float32Array, b: Float32Array): OnnxGraph {
  return {
    name: "layernorm",
    nodes: [{
      op: "LayerNormalization",
      inputs: ["x", "w", "b"],
      outputs: ["y"],
      attributes: [{ name: "axis", value: -1 }, { name: "epsilon", value: 1e-5, float: true }],
    }],
    inputs: [{ name: "x", type: "float", dims: [M, N] }],
    outputs: [{ name: "y", type: "float", dims: [M, N] }],
    initializers: [{ name: "w", type: "float", dims: [N], data: w }, {
      name: "b",
      type: "float",
      dims: [N],
      data: b,
    }],
  };
}

/** The reference columns of a row: onnxruntime-web's time (null when it could not be loaded) and our ratio. */
export function against(refMs: number | null, ms: number): Pick<BenchRow, "ref" | "ref_ms" | "ratio"> {
  return refMs === null
    ? { ref: null, ref_ms: null, ratio: null }
    : { ref: "onnxruntime-web wasm f32", ref_ms: refMs, ratio: refMs / ms };
}

/** The two references' ms for one computation (null where that runtime could not be loaded). */
export interface RefTimes {
  web: number | null;
  node: number | null;
}

/**
 * onnxruntime-web's and onnxruntime-node's ms for `key`, each measured once by `time` (given the runtime
 * and its session options) and cached; a runtime that could not be loaded is never called.
 */
export type ReferenceTimer = (
  key: string,
  time: (ort: Ort, sessionOptions: Record<string, unknown>) => Promise<number>,
) => Promise<RefTimes>;

export function referenceTimer(
  web: Ort | null,
  node: Ort | null = null,
  nodeOptions: Record<string, unknown> = {},
): ReferenceTimer {
  const cache = new Map<string, RefTimes>();
  return async (key, time) => {
    if (!cache.has(key)) {
      cache.set(key, {
        web: web ? await time(web, {}) : null,
        node: node ? await time(node, nodeOptions) : null,
      });
    }
    return cache.get(key)!;
  };
}
