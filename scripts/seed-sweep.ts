// deno task seed-sweep [--seeds N] [--first S] [--filter TEXT] [--skip K] [--case-seconds T] [--min-seeds M]
// Runs every seeded kernel check (lib/selftest/checks/, as tests/selftest/kernels_test.ts does) under session
// seeds S..S+N−1 in this one process, prints each case's worst error as a fraction of its tolerance
// and every failing seed (replay: VIFI_SEED=<seed> deno test -A tests/selftest/kernels_test.ts --filter NAME),
// and exits 1 if any seed failed. --skip K resumes a long sweep after its first K cases; a case stops
// after T seconds once it has run M seeds, so the heavy ones get fewer seeds. --filter may be given
// several times: a case runs when its name contains any of them.

import { parseArgs } from "node:util";
import { getRuntime } from "../lib/gpu/runtime.ts";
import { allChecks } from "../lib/selftest/registry.ts";
import { type CaseSweep, sweep } from "../lib/selftest/sweep.ts";

const USAGE =
  "usage: deno task seed-sweep [--seeds N] [--first S] [--filter TEXT] [--skip K] [--case-seconds T] [--min-seeds M]";

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
    console.error(`seed-sweep: --${name} must be a whole number, not "${v}"\n${USAGE}`);
    Deno.exit(2);
  }
  return n;
}

function report(r: CaseSweep): void {
  const status = r.skipped ? "skip" : r.failures.length ? "FAIL" : "ok  ";
  const worst = r.worstRatio === Infinity ? "∞" : r.worstRatio.toFixed(3);
  console.log(
    `${status} ${r.name}  seeds ${r.ran}, worst err/tol ${worst}, ${r.seconds.toFixed(1)} s` +
      (r.skipped ? ` (${r.skipped})` : ""),
  );
  for (const f of r.failures) console.log(`     seed ${f.seed}: ${f.message.split("\n")[0]}`);
}

if (import.meta.main) {
  let a;
  try {
    a = parseArgs({
      args: Deno.args,
      options: {
        seeds: { type: "string", default: "300" },
        first: { type: "string", default: "1" },
        filter: { type: "string", multiple: true },
        skip: { type: "string", default: "0" },
        "case-seconds": { type: "string", default: "20" },
        "min-seeds": { type: "string", default: "30" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (e) {
    console.error(`seed-sweep: ${e instanceof Error ? e.message : e}\n${USAGE}`);
    Deno.exit(2);
  }
  if (a.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const seeds = positiveInt("seeds", a.seeds);
  const first = positiveInt("first", a.first);
  const rt = await getRuntime();
  const t0 = performance.now();
  console.log(
    `seed sweep: session seeds ${first}..${first + seeds - 1}` +
      (a.filter ? `, filter ${a.filter.map((f) => `"${f}"`).join(" or ")}` : ""),
  );
  const results = await sweep(rt, allChecks, {
    seeds,
    first,
    filter: a.filter,
    skip: positiveInt("skip", a.skip),
    caseSeconds: positiveInt("case-seconds", a["case-seconds"]),
    minSeeds: positiveInt("min-seeds", a["min-seeds"]),
    maxFailures: 5,
    onCase: report,
  });
  const failed = results.filter((r) => r.failures.length > 0);
  const runs = results.reduce((s, r) => s + r.ran, 0);
  const minutes = (performance.now() - t0) / 60000;
  console.log(
    `${results.length} cases, ${runs} case runs in ${minutes.toFixed(1)} min: ` +
      (failed.length ? `${failed.length} cases FAILED for some seed` : "no failures"),
  );
  Deno.exit(failed.length ? 1 : 0);
}
