// Kernel check cases under the exact session seeds that once failed them by chance (CI runs, or
// `deno task seed-sweep`), so a tolerance that is too tight for them can never come back. Each runs
// as tests/kernels_test.ts runs it under VIFI_SEED=<seed>.

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { allChecks } from "../../lib/selftest/registry.ts";
import { caseName, runCase } from "../../lib/selftest/run.ts";

const REGRESSIONS: { name: string; seed: number; why: string }[] = [
  {
    name: "adamw update f32: n=1, steps 1..3",
    seed: 3286920293,
    why: "step 3: p·(1 − lr·wd) and the update cancel 200×; relative error 2.85e-5 ≥ the old fixed 1e-5",
  },
  {
    name: "logit_scale backward f32: [1, 1] (ds accumulates)",
    seed: 49,
    why: "found by deno task seed-sweep: ds = before + dy·e^s·x cancels; relative error 1.56e-5 ≥ 1e-5",
  },
];

for (const r of REGRESSIONS) {
  Deno.test(`seed ${r.seed}: ${r.name}`, async () => {
    const found = allChecks.flatMap((check) =>
      check.cases.filter((c) => caseName(check, c) === r.name).map((c) => ({ check, c }))
    );
    if (found.length !== 1) throw new Error(`no kernel check case is named "${r.name}" (renamed?)`);
    const out = await runCase(await getRuntime(), found[0].check, found[0].c, r.seed);
    if (out.kind === "fail") throw new Error(`${out.message}; was: ${r.why}`);
  });
}
