// Run as its own process by tune_test.ts: start the runtime as every command does (loading this
// adapter's tuning cache from $VIFI_CACHE), run one attention and one matmul, and print as JSON which
// attention variant ran and which WGSL files the matmul compiled from, so the test sees what the ops chose.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { attentionPacked } from "../../lib/tensor/ops/attention.ts";
import { matmul } from "../../lib/tensor/ops/matmul.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";

/** The matmul this script runs: x [68, 64] · W[192, 64]ᵀ + b, the tiny CLIP's in_proj over 4 images. */
export const MATMUL = { M: 68, N: 192, K: 64 };

if (import.meta.main) {
  const rt = await getRuntime();
  const files: string[] = [];
  const pipeline = rt.pipeline.bind(rt);
  rt.pipeline = (file, entry, spec) => {
    files.push(file);
    return pipeline(file, entry, spec);
  };
  const qkv = Tensor.from(rt, new Float32Array(17 * 192).map((_, i) => Math.sin(i)), [1, 17, 192]);
  const att = await attentionPacked(qkv, { heads: 2 });
  const x = Tensor.from(rt, new Float32Array(MATMUL.M * MATMUL.K).fill(0.5), [MATMUL.M, MATMUL.K]);
  const w = Tensor.from(rt, new Float32Array(MATMUL.N * MATMUL.K).fill(0.25), [MATMUL.N, MATMUL.K]);
  const b = Tensor.from(rt, new Float32Array(MATMUL.N).fill(1), [MATMUL.N]);
  files.length = 0;
  const y = await matmul(x, w, { transB: true, bias: b });
  const out = await y.read();
  // 64 · 0.5 · 0.25 + 1: the chosen kernel must also be right
  const right = out.every((v) => v === 9);
  await rt.sync();
  console.log(JSON.stringify({ attention: att.variant, matmulFiles: [...new Set(files)], right }));
}
