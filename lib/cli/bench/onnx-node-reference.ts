// The second reference column of the kernel rows: onnxruntime-node, the native onnxruntime with its CPU
// execution provider (what a user without a GPU would run), loaded as an npm native addon under Deno.
// It runs the same one-node graphs as onnxruntime-web (onnx-reference.ts), timed the same way. Where it
// cannot be loaded the rows keep only the onnxruntime-web column and the reason is printed once.

import type { BenchRow } from "./row.ts";
import type { Ort } from "./onnx-reference.ts";

export async function loadOrtNode(): Promise<Ort | null> {
  try {
    const ort = await import("npm:onnxruntime-node@1.30.0");
    ort.env.logLevel = "error";
    return ort;
  } catch (e) {
    console.error(
      `onnxruntime-node unavailable, no ort-node column: ${
        e instanceof Error ? e.message.split("\n")[0] : e
      }`,
    );
    return null;
  }
}

/** Session options for onnxruntime-node: the CPU execution provider on every core. */
export const NODE_SESSION = {
  executionProviders: ["cpu"],
  intraOpNumThreads: Math.max(1, navigator.hardwareConcurrency ?? 1),
};

/** The ort-node columns of a row: its ms and our ratio to it (reference ms / vifi ms). */
export function againstNode(
  refMs: number | null,
  ms: number,
): Pick<BenchRow, "ort_node_ms" | "ort_node_ratio"> {
  return { ort_node_ms: refMs, ort_node_ratio: refMs === null ? null : refMs / ms };
}
