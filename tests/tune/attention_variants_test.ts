// Attention as a tunable family: which kernels can run which dims (the rule's choice first), what a
// shape class keeps and drops, forced variants (refused in one line where they cannot run), and a tuned
// choice taking over from the rule unless it cannot run the call.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import {
  attentionCandidates,
  type AttentionDims,
  attentionPacked,
  attentionShapeClass,
} from "../../lib/tensor/ops/attention.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";

const dims = (L: number, D: number, H: number, o: Partial<AttentionDims> = {}): AttentionDims => ({
  B: 2,
  Lq: L,
  Lk: L,
  D,
  H,
  dtype: "f32",
  packed: true,
  ...o,
});

Deno.test("attention candidates: the rule's choice first, then every kernel that can run the dims", async () => {
  const rt = await getRuntime();
  assertEquals(attentionCandidates(rt, dims(17, 64, 2)), ["fused-small", "fused-general", "composed"]);
  assertEquals(attentionCandidates(rt, dims(197, 768, 12)), ["composed", "fused-general"]);
  // head dim 256 is over the fused kernel's limit
  assertEquals(attentionCandidates(rt, dims(17, 512, 2)), ["composed"]);
});

Deno.test("attention shape class: lengths, head dim, dtype and masks; not batch or head count", () => {
  const a = attentionShapeClass(dims(77, 512, 8, { causal: true }));
  assertEquals(a, "f32:L77x77:dh64:causal");
  assertEquals(attentionShapeClass(dims(77, 512, 8, { causal: true, B: 64 })), a);
  assertEquals(attentionShapeClass(dims(77, 256, 4, { causal: true })), a);
  for (
    const other of [dims(76, 512, 8, { causal: true }), dims(77, 512, 8), dims(77, 512, 8, { dtype: "f16" })]
  ) {
    assert(attentionShapeClass(other) !== a, attentionShapeClass(other));
  }
  assertEquals(attentionShapeClass(dims(9, 24, 2, { padded: true, Lq: 3 })), "f32:L3x9:dh12:pad");
});

Deno.test("attention variant: forced, tuned, and refused where it cannot run", async () => {
  const rt = await getRuntime();
  const small = Tensor.from(rt, new Float32Array(2 * 17 * 192).map((_, i) => Math.cos(i)), [2, 17, 192]);
  const long = Tensor.from(rt, new Float32Array(1 * 70 * 96).map((_, i) => Math.sin(i)), [1, 70, 96]);
  const cls = attentionShapeClass(dims(17, 64, 2));
  try {
    const run = async (t: Tensor, o: Record<string, unknown> = {}) => {
      const r = await attentionPacked(t, { heads: 2, ...o });
      const out = await r.out.read();
      r.out.dispose();
      r.saved.dispose();
      return { variant: r.variant, out };
    };
    const rule = await run(small);
    assertEquals(rule.variant, "fused-small");
    const general = await run(small, { variant: "fused-general" });
    assertEquals(general.variant, "fused-general");
    assertEquals((await run(small, { variant: "composed" })).variant, "composed");
    // both kernels compute the same attention
    assert(
      general.out.every((v, i) => Math.abs(v - rule.out[i]) < 1e-5),
      "fused-general differs from fused-small",
    );

    rt.tuning.set("attention", cls, "fused-general");
    assertEquals((await run(small)).variant, "fused-general");
    // a forced variant beats the tuned one
    assertEquals((await run(small, { variant: "composed" })).variant, "composed");
    // a tuned small kernel for a class it cannot run (70 tokens) falls back to the rule
    rt.tuning.set("attention", attentionShapeClass(dims(70, 48, 2, { B: 1 })), "fused-small");
    assertEquals((await run(long)).variant, "composed");

    const refused = (o: Record<string, unknown>, t = small) =>
      attentionPacked(t, { heads: 2, ...o }).then(() => "", (e) => String(e));
    const unknown = await refused({ variant: "flash" });
    assert(unknown.includes('unknown variant "flash"') && !unknown.includes("\n"), unknown);
    const tooLong = await refused({ variant: "fused-small" }, long);
    assert(tooLong.includes("fused-small cannot run L 70x70") && !tooLong.includes("\n"), tooLong);
  } finally {
    rt.tuning.clear();
    small.dispose();
    long.dispose();
  }
});
