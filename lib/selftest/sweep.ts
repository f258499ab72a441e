// Every seeded kernel check over many session seeds in one process (one runtime, pipelines compiled
// once), to find tolerances that a random seed can break. scripts/seed-sweep.ts is the command.

import type { Runtime } from "../gpu/runtime.ts";
import type { CheckCase, KernelCheck } from "./check.ts";
import { caseName, runCase } from "./run.ts";

export interface SweepOptions {
  /** session seeds first, first + 1, … first + seeds − 1 */
  seeds: number;
  first: number;
  /** stop a case once it has run this long (seconds)... */
  caseSeconds: number;
  /** ...but only after this many seeds */
  minSeeds: number;
  /** stop a case after this many failures: enough seeds to replay, no time wasted on a broken kernel */
  maxFailures: number;
}

export interface SweepFailure {
  seed: number;
  message: string;
}

export interface CaseSweep {
  name: string;
  /** seeds run (fewer than asked when the time budget or maxFailures stopped it) */
  ran: number;
  skipped?: string;
  failures: SweepFailure[];
  /** the largest error / tolerance seen over passing and failing seeds (NaN counts as Infinity) */
  worstRatio: number;
  seconds: number;
}

/** Runs every case of `checks` whose name contains `filter` (or one of them), seed after seed. */
export async function sweep(
  rt: Runtime,
  checks: KernelCheck[],
  opts: SweepOptions & { filter?: string | string[]; skip?: number; onCase?: (r: CaseSweep) => void },
): Promise<CaseSweep[]> {
  const results: CaseSweep[] = [];
  let skip = opts.skip ?? 0;
  const filters = typeof opts.filter === "string" ? [opts.filter] : opts.filter ?? [];
  for (const check of checks) {
    for (const c of check.cases) {
      const name = caseName(check, c);
      if (filters.length && !filters.some((f) => name.includes(f))) continue;
      if (skip > 0 && skip--) continue;
      const r = await sweepCase(rt, check, c, name, opts);
      results.push(r);
      opts.onCase?.(r);
    }
  }
  return results;
}

async function sweepCase(
  rt: Runtime,
  check: KernelCheck,
  c: CheckCase,
  name: string,
  opts: SweepOptions,
): Promise<CaseSweep> {
  const r: CaseSweep = { name, ran: 0, failures: [], worstRatio: 0, seconds: 0 };
  const t0 = performance.now();
  for (let k = 0; k < opts.seeds; k++) {
    const seed = (opts.first + k) >>> 0;
    try {
      const out = await runCase(rt, check, c, seed);
      if (out.kind === "skipped") {
        r.skipped = out.why;
        break;
      }
      r.worstRatio = Math.max(r.worstRatio, Number.isNaN(out.err) ? Infinity : out.err / check.tol);
      if (out.kind === "fail") r.failures.push({ seed, message: out.message });
    } catch (e) {
      r.worstRatio = Infinity;
      r.failures.push({ seed, message: `threw: ${e instanceof Error ? e.message : String(e)}` });
    }
    r.ran++;
    r.seconds = (performance.now() - t0) / 1000;
    if (r.failures.length >= opts.maxFailures) break;
    if (r.ran >= opts.minSeeds && r.seconds > opts.caseSeconds) break;
  }
  return r;
}
