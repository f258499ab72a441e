// Every kernel check (see lib/selftest/checks/) on every case: random odd sizes, outputs poisoned
// with NaN before the run, error against a float64 CPU reference (or finite differences).

import { getRuntime } from "../../lib/gpu/runtime.ts";
import { allChecks } from "../../lib/selftest/registry.ts";
import { sessionSeed } from "../../lib/random/rng.ts";
import { caseName, runCase } from "../../lib/selftest/run.ts";

const seed = sessionSeed();
console.log(`kernel tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

for (const check of allChecks) {
  for (const c of check.cases) {
    Deno.test(caseName(check, c), async () => {
      const out = await runCase(await getRuntime(), check, c, seed);
      if (out.kind === "skipped") console.log(`  skipped: ${out.why}`);
      if (out.kind === "fail") throw new Error(out.message);
    });
  }
}
