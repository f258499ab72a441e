// Every kernel check (see lib/selftest/checks/) on every case: random odd sizes, outputs poisoned
// with NaN before the run, relative error against a float64 CPU reference (or finite differences).

import { getRuntime } from "../lib/gpu/runtime.ts";
import { allChecks } from "../lib/selftest/registry.ts";
import { Rng, sessionSeed } from "../lib/selftest/rng.ts";

const seed = sessionSeed();
console.log(`kernel tests: seed ${seed} (replay with VIFI_SEED=${seed})`);

for (const check of allChecks) {
  for (const c of check.cases) {
    Deno.test(`${check.name} ${check.direction} ${check.dtype}: ${c.label}`, async (t) => {
      const rt = await getRuntime();
      if (check.dtype === "f16" && !rt.gpu.features.f16) {
        console.log(`  skipped: adapter has no working shader-f16`);
        return;
      }
      rt.pool.poison = true;
      const rng = new Rng(seed ^ hash(t.name));
      const errorsBefore = rt.gpu.errors.length;
      const err = await c.run(rt, rng);
      await rt.sync();
      if (rt.gpu.errors.length > errorsBefore) {
        throw new Error(`WebGPU reported: ${rt.gpu.errors.slice(errorsBefore).join("; ")}`);
      }
      if (!(err < check.tol)) {
        throw new Error(`relative error ${err} ≥ tolerance ${check.tol} (seed ${seed})`);
      }
    });
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
