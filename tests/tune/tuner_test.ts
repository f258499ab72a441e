// The tuner's rules on a made-up family (a wrong candidate and a failing one are excluded with their
// reason, the fastest correct one wins and is set), the matmul family's check catching a kernel that
// computes something else, and the training-step shapes derived from a model's configuration.

import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { clipConfig } from "../../lib/models/config.ts";
import { Rng } from "../../lib/random/rng.ts";
import { quickGelu } from "../../lib/tensor/ops/quickgelu.ts";
import { Tensor } from "../../lib/tensor/tensor.ts";
import type { OpFamily } from "../../lib/tune/family.ts";
import { checkGemm, gemmReference, MATMUL_FAMILY } from "../../lib/tune/families/matmul.ts";
import type { GemmShape } from "../../lib/tensor/ops/matmul.ts";
import { trainingStepShapes } from "../../lib/tune/shapes.ts";
import { KEEP_HEURISTIC_WITHIN, tuneFamily } from "../../lib/tune/tuner.ts";

const FAST = { targetMs: 1, maxReps: 2, rounds: 1 };

Deno.test("tuner: wrong and failing candidates are excluded with the reason; the fastest right one wins", async () => {
  const rt = await getRuntime();
  // "slow" runs the op 20 times per run, "fast" once; "wrong" fails its check, "broken" throws.
  const fake: OpFamily<{ n: number }> = {
    name: "fake-test-family",
    candidates: () => ["slow", "wrong", "broken", "fast"],
    shapeClass: (s) => `n${s.n}`,
    label: (s) => `n=${s.n}`,
    flop: (s) => s.n,
    prepare: (rt, s) => {
      const x = Tensor.from(rt, new Float32Array(s.n).fill(1), [s.n]);
      return {
        async run(id) {
          for (let i = 0; i < (id === "slow" ? 20 : 1); i++) (await quickGelu(x)).dispose();
        },
        check(id) {
          if (id === "broken") return Promise.reject(new Error("vifi: no such kernel\nsecond line"));
          return Promise.resolve({ err: id === "wrong" ? 3 : 0.5, what: "test" });
        },
        dispose: () => x.dispose(),
      };
    },
  };
  const lines: string[] = [];
  // three uses of one class: measured once
  const shapes = ["a", "b", "a"].map((what) => ({ shape: { n: 1 << 16 }, what }));
  const [r, ...rest] = await tuneFamily(rt, fake, shapes, {
    rng: new Rng(1),
    timer: FAST,
    log: (l) => lines.push(l),
  });
  assertEquals(rest, []);
  assertEquals(r.uses, ["a", "b"]);
  assertEquals(r.heuristic, "slow");
  const by = (id: string) => r.candidates.find((c) => c.id === id)!;
  // the winner is whichever right candidate measured fastest (not asserted to be "fast": no timed tests)
  const timed = ["slow", "fast"].map(by);
  assert(timed.every((c) => c.ms! > 0 && c.gflops! > 0 && c.excluded === undefined), JSON.stringify(timed));
  const fastest = timed.reduce((a, b) => (b.ms! < a.ms! ? b : a));
  // the heuristic ("slow") stays unless the other is more than KEEP_HEURISTIC_WITHIN faster
  const best = by("slow").ms! <= fastest.ms! * (1 + KEEP_HEURISTIC_WITHIN) ? by("slow") : fastest;
  assertEquals(r.winner, best.id);
  assertEquals(r.speedup, by("slow").ms! / best.ms!);
  assert(by("wrong").excluded!.startsWith("wrong answer: error 3.00× its bound"), by("wrong").excluded);
  assertEquals(by("broken").excluded, "failed: vifi: no such kernel");
  assertEquals(rt.tuning.get("fake-test-family", "n65536"), best.id);
  assertEquals(lines.length, 4);
  rt.tuning.clear();
});

Deno.test("tuner: past the budget, classes are skipped (largest first) and keep their heuristic", async () => {
  const rt = await getRuntime();
  const fake: OpFamily<{ n: number }> = {
    name: "fake-budget-family",
    candidates: () => ["h", "other"],
    shapeClass: (s) => `n${s.n}`,
    label: (s) => `n=${s.n}`,
    flop: (s) => s.n,
    prepare: () => {
      throw new Error("a skipped class must not be prepared");
    },
  };
  const shapes = [1, 3, 2].map((n) => ({ shape: { n }, what: `w${n}` }));
  const r = await tuneFamily(rt, fake, shapes, { rng: new Rng(1), deadline: performance.now() - 1 });
  assertEquals(r.map((c) => [c.shapeClass, c.skipped, c.heuristic, c.winner]), [
    ["n3", "budget", "h", undefined],
    ["n2", "budget", "h", undefined],
    ["n1", "budget", "h", undefined],
  ]);
  assertEquals(rt.tuning.entries().filter(([f]) => f === "fake-budget-family"), []);
});

Deno.test("tuner: the matmul check passes the kernel and true products, fails one missing a term", async () => {
  const rt = await getRuntime();
  const s: GemmShape = {
    M: 77,
    N: 3,
    K: 197,
    batch: 2,
    transA: true,
    transB: false,
    dtype: "f32",
    bias: true,
    activation: "none",
    accumulate: true,
  };
  const rng = new Rng(7);
  const x = {
    a: rng.array(2 * 77 * 197),
    b: rng.array(2 * 197 * 3),
    bias: rng.array(3),
    c0: rng.array(2 * 77 * 3),
  };
  // C = c0 + Aᵀ·B + bias in float64, then rounded to f32 as a perfect kernel would store it
  const exact = (z: number, i: number) =>
    Float64Array.from({ length: 3 }, (_, j) => {
      let v = x.c0[(z * 77 + i) * 3 + j] + x.bias[j];
      for (let k = 0; k < 197; k++) v += x.a[z * 77 * 197 + k * 77 + i] * x.b[z * 197 * 3 + k * 3 + j];
      return v;
    });
  const ref = gemmReference(s, x);
  const rounded = (await checkGemm(s, ref, (z, i) => Promise.resolve(Float32Array.from(exact(z, i))))).err;
  assert(rounded < 1, `f32-rounded true product: ${rounded}`);
  // a kernel that skips one k of one element (as a tile edge handled wrong would): the largest term
  const terms = Array.from({ length: 197 }, (_, k) => x.a[77 * 197 + k * 77 + 76] * x.b[197 * 3 + k * 3 + 2]);
  const skipped = terms.reduce((w, t) => (Math.abs(t) > Math.abs(w) ? t : w));
  const off = await checkGemm(s, ref, (z, i) => {
    const r = exact(z, i);
    if (z === 1 && i === 76) r[2] -= skipped; // one element of the last checked row
    return Promise.resolve(r);
  });
  assert(off.err > 1, `a product missing a term of ${skipped} passed: ${off.err}`);
  const nan = await checkGemm(s, ref, (z, i) => Promise.resolve(i === 3 ? [0, NaN, 0] : exact(z, i)));
  assert(Number.isNaN(nan.err), `NaN passed: ${nan.err}`);
  // and the device's kernel passes it (the heuristic's; every variant has its selftest rows)
  const trial = MATMUL_FAMILY.prepare(rt, s, new Rng(7));
  try {
    const id = MATMUL_FAMILY.candidates(rt, s)[0];
    const r = await trial.check(id);
    assert(r.err < 1, `${id}: ${r.err} (${r.what})`);
  } finally {
    trial.dispose();
  }
});

Deno.test("training-step shapes: ViT-B/16 at 8 frames has the linear layers, their gradients and both attentions", () => {
  const s = trainingStepShapes(clipConfig("ViT-B/16"), { batch: 2, frames: 8, classes: 5, dtype: "f32" });
  const rows = 2 * 8 * 197;
  const has = (what: string, M: number, N: number, K: number, o: Record<string, boolean>) => {
    const m = s.matmul.find((x) => x.what === what)!;
    assert(m, what);
    assertEquals([m.shape.M, m.shape.N, m.shape.K], [M, N, K], what);
    for (const [k, v] of Object.entries(o)) {
      assertEquals((m.shape as unknown as Record<string, boolean>)[k], v, `${what} ${k}`);
    }
  };
  has("vision in_proj fwd", rows, 2304, 768, { transB: true, bias: true });
  has("vision in_proj dX", rows, 768, 2304, { transA: false, transB: false });
  has("vision c_fc dW", 3072, 768, rows, { transA: true, accumulate: true });
  has("vision patch_embed fwd", 2 * 8 * 196, 768, 768, { bias: false });
  assert(!s.matmul.some((x) => x.what === "vision patch_embed dX"), "pixels need no gradient");
  has("text c_proj fwd", 5 * 77, 512, 2048, { transB: true });
  has("vision proj fwd", 16, 512, 768, {});
  assertEquals(s.attention.map((a) => [a.shape.B, a.shape.Lq, a.shape.H, !!a.shape.causal]), [
    [16, 197, 12, false],
    [5, 77, 8, true],
  ]);
  const f16 = trainingStepShapes(clipConfig("ViT-B/16"), { batch: 1, frames: 1, classes: 1, dtype: "f16" });
  assert(
    f16.matmul.every((m) => m.shape.dtype === "f16" && !m.shape.accumulate),
    "f16 dW is not accumulated",
  );
});
