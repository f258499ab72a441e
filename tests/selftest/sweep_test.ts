// The seed sweep (lib/selftest/sweep.ts, run by `deno task seed-sweep`) on a check that fails for
// some seeds by construction: it must name exactly those seeds, and each must replay the failure
// the way tests/selftest/kernels_test.ts runs it. No GPU: a stand-in runtime.

import type { Runtime } from "../../lib/gpu/runtime.ts";
import type { KernelCheck } from "../../lib/selftest/check.ts";
import { caseName, caseRng, runCase } from "../../lib/selftest/run.ts";
import { sweep } from "../../lib/selftest/sweep.ts";
import { assert, assertEquals } from "../data/assert.ts";

const fakeRt = {
  gpu: { features: { f16: true }, errors: [] as string[] },
  pool: { poison: false },
  sync: () => Promise.resolve(),
} as unknown as Runtime;

/** Its error is the case's first random draw: above 0.9 (tol) on about one seed in ten. */
const chancy: KernelCheck = {
  name: "chancy",
  dtype: "f32",
  direction: "forward",
  tol: 0.9,
  cases: [{ label: "first draw", run: (_rt, rng) => Promise.resolve(rng.next()) }, {
    label: "always fine",
    run: () => Promise.resolve(0),
  }],
};

const opts = { seeds: 200, first: 5, caseSeconds: 60, minSeeds: 1, maxFailures: 1000 };

Deno.test("seed sweep: reports exactly the seeds on which a case fails, each replays", async () => {
  const name = caseName(chancy, chancy.cases[0]);
  const want: number[] = [];
  for (let s = 5; s < 205; s++) if (!(caseRng(s, name).next() < 0.9)) want.push(s);
  assert(want.length > 5, "the stand-in should fail on some seeds");
  const [first, fine] = await sweep(fakeRt, [chancy], opts);
  assertEquals(first.failures.map((f) => f.seed), want);
  assertEquals([first.ran, fine.ran, fine.failures.length], [200, 200, 0]);
  assert(
    first.worstRatio >= 1 && fine.worstRatio === 0,
    `worst ratios ${first.worstRatio}, ${fine.worstRatio}`,
  );
  for (const seed of want.slice(0, 3)) {
    assertEquals((await runCase(fakeRt, chancy, chancy.cases[0], seed)).kind, "fail");
  }
});

Deno.test("seed sweep: --filter and --skip pick cases, maxFailures stops a broken case early", async () => {
  const got = await sweep(fakeRt, [chancy], { ...opts, maxFailures: 2, filter: "chancy forward f32: first" });
  assertEquals(got.map((r) => [r.name, r.failures.length]), [["chancy forward f32: first draw", 2]]);
  assert(got[0].ran < 200, "stopped after two failures");
  const skipped = await sweep(fakeRt, [chancy], { ...opts, seeds: 3, skip: 1 });
  assertEquals(skipped.map((r) => r.name), ["chancy forward f32: always fine"]);
  const either = await sweep(fakeRt, [chancy], { ...opts, seeds: 3, filter: ["first draw", "fine"] });
  assertEquals(either.map((r) => r.name), [
    "chancy forward f32: first draw",
    "chancy forward f32: always fine",
  ]);
});
