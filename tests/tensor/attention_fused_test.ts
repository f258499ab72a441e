// The fused attention kernel against the composed path on the same inputs (forward and all three
// gradients), with every buffer the pool hands out poisoned (NaN) so an element the kernel fails to
// write shows; finite differences of its backward; and refusals that name the tensor.

import { getRuntime, type Runtime } from "../../lib/gpu/runtime.ts";
import { Rng, sessionSeed } from "../../lib/random/rng.ts";
import {
  attention,
  attentionBackward,
  type AttentionImpl,
  attentionPacked,
  attentionPackedBackward,
  attentionReference,
} from "../../lib/tensor/ops/attention.ts";
import { fusedVariant } from "../../lib/tensor/ops/attention-fused.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import { finiteDifferenceError } from "../../lib/selftest/finite-difference.ts";
import { assert } from "../data/assert.ts";

const seed = sessionSeed();
console.log(`attention fused tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

interface Case {
  B: number;
  L: number;
  D: number;
  H: number;
  causal?: boolean;
  lengths?: number[];
}

/** Runs one implementation on packed qkv; returns out and dqkv as float64, checking every value is finite. */
async function run(rt: Runtime, c: Case, impl: AttentionImpl, qkv: Float64Array, dout: Float64Array) {
  const t = Tensor.from(rt, qkv, [c.B, c.L, 3 * c.D], "f32", "qkv");
  const g = Tensor.from(rt, dout, [c.B, c.L, c.D], "f32", "dOut");
  const mask = c.lengths && Tensor.from(rt, c.lengths, [c.B], "i32", "lengths");
  const o = { heads: c.H, causal: c.causal, keyPadding: mask, impl };
  const fwd = await attentionPacked(t, o);
  assert(fwd.impl === impl, `asked for ${impl}, ran ${fwd.impl}`);
  const dqkv = await attentionPackedBackward(t, fwd, g, o);
  const out = Float64Array.from(await fwd.out.read());
  const grad = Float64Array.from(await dqkv.read());
  for (const x of [t, g, mask, fwd.out, fwd.saved, dqkv]) x?.dispose();
  for (const [name, a] of [["out", out], ["dqkv", grad]] as const) {
    const bad = a.findIndex((x) => !Number.isFinite(x));
    assert(bad < 0, `${impl} ${name}[${bad}] = ${a[bad]}: an element left unwritten (poisoned)`);
  }
  return { out, grad };
}

function maxRel(a: Float64Array, b: Float64Array): number {
  let scale = 1e-6;
  for (const x of b) scale = Math.max(scale, Math.abs(x));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]) / scale);
  return err;
}

Deno.test("fused attention matches the composed path: forward and dq, dk, dv, outputs poisoned", async () => {
  const rt = await getRuntime();
  const rng = new Rng(seed);
  // Both kernels: the small one (L ≤ 64, up to its limits: 64 keys, partial SIMD groups of 17, 5, 1
  // rows) and the general one (head dim 128; 70 keys with a length of 1 leaving rows with one key).
  const cases: Case[] = [
    { B: 3, L: 17, D: 64, H: 2 },
    { B: 2, L: 16, D: 64, H: 2, causal: true },
    { B: 2, L: 5, D: 24, H: 3, lengths: [5, 2] },
    { B: 1, L: 1, D: 8, H: 1 },
    { B: 2, L: 64, D: 32, H: 2, causal: true, lengths: [64, 9] },
    { B: 2, L: 19, D: 256, H: 2, causal: true, lengths: [19, 7] },
    { B: 3, L: 70, D: 32, H: 1, lengths: [70, 40, 1] },
  ];
  const variants = new Set(
    cases.map((c) => fusedVariant(rt, { B: c.B, Lq: c.L, Lk: c.L, D: c.D, H: c.H, dh: c.D / c.H })),
  );
  assert(variants.size === 2, `the cases cover only the ${[...variants]} kernel`);
  rt.pool.poison = true;
  try {
    for (const c of cases) {
      const qkv = rng.array(c.B * c.L * 3 * c.D, -1, 1);
      const dout = rng.array(c.B * c.L * c.D, -1, 1);
      const f = await run(rt, c, "fused", qkv, dout);
      const m = await run(rt, c, "composed", qkv, dout);
      const what = JSON.stringify(c);
      assert(maxRel(f.out, m.out) < 1e-5, `${what}: out differs by ${maxRel(f.out, m.out)}`);
      assert(maxRel(f.grad, m.grad) < 1e-5, `${what}: dqkv differs by ${maxRel(f.grad, m.grad)}`);
    }
  } finally {
    rt.pool.poison = false;
  }
});

Deno.test("fused attention on separate q, k, v (Lq ≠ Lk) matches the float64 reference", async () => {
  const rt = await getRuntime();
  const rng = new Rng(seed + 1);
  const [B, Lq, Lk, D, H] = [2, 7, 12, 40, 5];
  const q = rng.array(B * Lq * D, -1, 1);
  const k = rng.array(B * Lk * D, -1, 1);
  const v = rng.array(B * Lk * D, -1, 1);
  const dout = rng.array(B * Lq * D, -1, 1);
  const flags = Array.from({ length: B * Lk }, (_, i) => (i % 3 === 1 ? 0 : 1));
  const ref = attentionReference({
    q,
    k,
    v,
    B,
    Lq,
    Lk,
    D,
    heads: H,
    keyPadding: { mask: flags, shape: [B, Lk] },
  }, dout);
  const mask = Tensor.from(rt, flags, [B, Lk], "i32", "flags");
  const [tq, tk, tv] = [[q, Lq, "q"], [k, Lk, "k"], [v, Lk, "v"]].map(([x, L, n]) =>
    Tensor.from(rt, x as Float64Array, [B, L as number, D], "f32", n as string)
  );
  const o = { heads: H, keyPadding: mask, impl: "fused" as const };
  const fwd = await attention(tq, tk, tv, o);
  const g = await attentionBackward(tq, tk, tv, fwd, Tensor.from(rt, dout, [B, Lq, D], "f32", "dOut"), o);
  const pairs: [string, Tensor, Float64Array][] = [["out", fwd.out, ref.out], ["dq", g.dq, ref.dq!], [
    "dk",
    g.dk,
    ref.dk!,
  ], ["dv", g.dv, ref.dv!]];
  for (const [name, t, want] of pairs) {
    const err = maxRel(Float64Array.from(await t.read()), want);
    assert(err < 1e-5, `${name} differs from the reference by ${err}`);
  }
});

Deno.test("fused attention backward agrees with finite differences of its forward", async () => {
  const rt = await getRuntime();
  const rng = new Rng(seed + 2);
  const c: Case = { B: 1, L: 4, D: 4, H: 2, causal: true };
  const qkv = rng.array(c.B * c.L * 3 * c.D, -1, 1);
  const dout = rng.array(c.B * c.L * c.D, -1, 1);
  const { grad } = await run(rt, c, "fused", qkv, dout);
  const err = await finiteDifferenceError({
    inputs: [qkv],
    upstream: dout,
    grads: [grad],
    forward: async ([x]) => (await run(rt, c, "fused", x, dout)).out,
  }, rng);
  assert(err < 1e-3, `finite-difference error ${err}`);
});

Deno.test("fused attention refuses what it cannot run, naming the tensor", async () => {
  const rt = await getRuntime();
  const qkv = Tensor.from(rt, new Float64Array(2 * 3 * 3 * 258), [2, 3, 3 * 258], "f32", "wideQkv");
  const wide = await attentionPacked(qkv, { heads: 1, impl: "fused" }).then(() => "", (e) => String(e));
  assert(/head dim 258 > 128/.test(wide), `no refusal for a head dim over 128: ${wide}`);
  const small = Tensor.from(rt, new Float64Array(2 * 3 * 12), [2, 3, 12], "f32", "smallQkv");
  const badMask = Tensor.from(rt, [1, 1, 1], [3], "i32", "badLengths");
  const msg = await attentionPacked(small, { heads: 2, keyPadding: badMask, impl: "fused" })
    .then(() => "", (e) => String(e));
  assert(msg.includes("badLengths"), `the refusal does not name the mask: ${msg}`);
  const fwd = await attentionPacked(small, { heads: 2, impl: "fused" });
  const wrong = Tensor.from(rt, new Float64Array(2 * 3 * 5), [2, 3, 5], "f32", "wrongGrad");
  const bwd = await attentionPackedBackward(small, fwd, wrong, { heads: 2 }).then(() => "", (e) => String(e));
  assert(bwd.includes("wrongGrad"), `the refusal does not name dOut: ${bwd}`);
  for (const t of [qkv, small, badMask, fwd.out, fwd.saved, wrong]) t.dispose();
});
