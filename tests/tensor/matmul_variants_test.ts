// The GEMM candidate API (lib/tensor/ops/matmul-variants.ts): every id gemmCandidates lists runs its
// shape correctly, a forced id that cannot run is a one-line error naming it, a tuned id is used where
// it can run and silently replaced by the heuristic where it cannot, and on software adapters the
// heuristic still picks what it picked before the tiled kernels existed.

import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { Rng } from "../../lib/random/rng.ts";
import { relErr } from "../../lib/selftest/check.ts";
import { take, upload } from "../../lib/selftest/tensors.ts";
import {
  gemmCandidates,
  type GemmShape,
  gemmShapeClass,
  matmul,
  matmulReference,
} from "../../lib/tensor/ops/matmul.ts";
import { parseVariant, variantId } from "../../lib/tensor/ops/matmul-variants.ts";
import { assert, assertEquals } from "../data/assert.ts";

const shape = (M: number, N: number, K: number, more: Partial<GemmShape> = {}): GemmShape => ({
  M,
  N,
  K,
  batch: 1,
  transA: false,
  transB: false,
  dtype: "f32",
  bias: false,
  activation: "none",
  accumulate: false,
  ...more,
});

/** The kernels (file#entry spec) compiled or fetched while fn runs. */
async function kernelsUsed(rt: Runtime, fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const original = rt.pipeline;
  rt.pipeline = (file, entry, spec = {}) => {
    seen.push(`${file}#${entry} ${JSON.stringify(spec)}`);
    return original.call(rt, file, entry, spec);
  };
  try {
    await fn();
  } finally {
    rt.pipeline = original;
  }
  return seen;
}

async function product(rt: Runtime, s: GemmShape, variant: string | undefined, seed: number) {
  const rng = new Rng(seed);
  const a = rng.array(s.M * s.K);
  const b = rng.array(s.K * s.N);
  const bias = rng.array(s.N);
  const ta = upload(rt, a, s.transA ? [s.K, s.M] : [s.M, s.K]);
  const tb = upload(rt, b, s.transB ? [s.N, s.K] : [s.K, s.N]);
  const tbias = upload(rt, bias, [s.N]);
  const got = await take(
    await matmul(ta, tb, {
      transA: s.transA,
      transB: s.transB,
      bias: tbias,
      variant,
    }),
  );
  ta.dispose();
  tb.dispose();
  tbias.dispose();
  const ref = matmulReference(a, b, { ...s, accumulate: undefined, bias });
  return relErr(got, ref);
}

Deno.test("every candidate gemmCandidates lists runs its shape within f32 rounding", async () => {
  const rt = await getRuntime();
  rt.pool.poison = true;
  for (const s of [shape(77, 64, 128, { transB: true }), shape(130, 36, 197, { transA: true })]) {
    const ids = gemmCandidates(rt, s);
    assert(ids.length >= 2 && ids.length <= 8, `${ids.length} candidates: ${ids.join(", ")}`);
    assertEquals(new Set(ids).size, ids.length);
    for (const id of ids) {
      assertEquals(variantId(parseVariant(id)!), id);
      const err = await product(rt, s, id, 7);
      assert(err < 1e-5, `${id} at ${JSON.stringify(s)}: relative error ${err}`);
    }
  }
});

Deno.test("a forced variant that cannot run the product is a one-line error naming it", async () => {
  const rt = await getRuntime();
  const s = shape(5, 7, 9);
  for (
    const [id, why] of [
      ["small", /variant "small" needs A not transposed, vec4 operands/],
      ["texture", /variant "texture" needs vec4-aligned operands/],
      ["tiled:64x64x16:3x3", /variant "tiled:64x64x16:3x3" needs TM and TN of 4 or 8/],
      ["tiled:64x64x4:4x4", /multiples of the invocations/],
      ["blocked:16x16:64x64", /variant "blocked:16x16:64x64" needs 1 ≤ WX·WY ≤/],
      ["fastest", /variant "fastest" is not a matmul variant/],
    ] as const
  ) {
    let message = "";
    try {
      await product(rt, s, id, 1);
    } catch (e) {
      message = (e as Error).message;
    }
    assert(why.test(message), `${id}: ${message || "no error"}`);
    assert(!message.includes("\n"), message);
  }
});

Deno.test("a tuned variant is used where it can run and replaced by the heuristic where it cannot", async () => {
  const rt = await getRuntime();
  const s = shape(77, 36, 64, { transB: true });
  const cls = gemmShapeClass(s);
  try {
    rt.tuning.set("matmul", cls, "tiled:32x32x8:4x4:db");
    let err = NaN;
    const used = await kernelsUsed(rt, async () => err = await product(rt, s, undefined, 3));
    assert(err < 1e-5, `tuned: ${err}`);
    assert(
      used.some((k) => k.startsWith("matmul_tiled.wgsl#matmul_tiled") && k.includes('"BK":8')),
      used.join(),
    );
    // A shape of the same class that "small" cannot run (K = 63 is not a multiple of 4).
    const odd = shape(77, 36, 63, { transB: true });
    assertEquals(gemmShapeClass(odd), cls);
    rt.tuning.set("matmul", cls, "small");
    const usedOdd = await kernelsUsed(rt, async () => err = await product(rt, odd, undefined, 4));
    assert(err < 1e-5, `fallback: ${err}`);
    assert(!usedOdd.some((k) => k.includes("matmul_small")), usedOdd.join());
  } finally {
    rt.tuning.clear();
  }
});

Deno.test("shape classes: one per power-of-two size, transpose and dtype; the epilogue does not count", () => {
  assertEquals(gemmShapeClass(shape(1576, 768, 768)), gemmShapeClass(shape(1100, 600, 1000, { bias: true })));
  assert(gemmShapeClass(shape(1576, 768, 768)) !== gemmShapeClass(shape(1576, 768, 768, { transB: true })));
  assert(gemmShapeClass(shape(1576, 768, 768)) !== gemmShapeClass(shape(1576, 768, 768, { dtype: "f16" })));
  assert(gemmShapeClass(shape(1576, 768, 768)) !== gemmShapeClass(shape(1576, 3072, 768)));
});

Deno.test("software adapters: the heuristic keeps the choices measured on lavapipe", async () => {
  const rt = await getRuntime();
  if (!rt.gpu.info.software) return console.log(`  not a software adapter (${rt.gpu.info.description})`);
  assertEquals(gemmCandidates(rt, shape(1576, 768, 768, { transB: true }))[0], "texture");
  assertEquals(gemmCandidates(rt, shape(1088, 192, 64, { transB: true }))[0], "small");
  assertEquals(gemmCandidates(rt, shape(197, 77, 63))[0], "blocked:16x16:8x8");
  // outputs at most 64 wide: 8×8 blocks in 8×8 workgroups (one SIMD group of lanes shares its rows)
  assertEquals(gemmCandidates(rt, shape(197, 64, 197, { transA: true }))[0], "blocked:8x8:8x8");
  assertEquals(gemmCandidates(rt, shape(197, 29, 197, { transA: true }))[0], "blocked:8x4:8x8");
});
