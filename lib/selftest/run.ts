// Running one kernel check case the way the test suite does, shared by tests/selftest/kernels_test.ts and
// scripts/seed-sweep.ts so that a seed the sweep reports replays exactly under `deno test` with
// VIFI_SEED=<seed>.

import type { Runtime } from "../gpu/runtime.ts";
import type { CheckCase, KernelCheck } from "./check.ts";
import { Rng } from "../random/rng.ts";

/** The test's name, which also salts the case's random stream. */
export function caseName(check: KernelCheck, c: CheckCase): string {
  return `${check.name} ${check.direction} ${check.dtype}: ${c.label}`;
}

/** The random stream a case draws from under session seed `seed`: one per test name. */
export function caseRng(seed: number, name: string): Rng {
  return new Rng(seed ^ hashName(name));
}

function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export type CaseOutcome =
  | { kind: "skipped"; why: string }
  | { kind: "pass"; err: number }
  | { kind: "fail"; err: number; message: string };

/**
 * Runs one case under `seed` with every pooled buffer poisoned; WebGPU errors fail it. Exceptions
 * from the case (a GpuError at a read, a bug in the check) propagate.
 */
export async function runCase(
  rt: Runtime,
  check: KernelCheck,
  c: CheckCase,
  seed: number,
): Promise<CaseOutcome> {
  if (check.dtype === "f16" && !rt.gpu.features.f16) {
    return { kind: "skipped", why: "adapter has no working shader-f16" };
  }
  rt.pool.poison = true;
  const errorsBefore = rt.gpu.errors.length;
  const err = await c.run(rt, caseRng(seed, caseName(check, c)));
  await rt.sync();
  if (rt.gpu.errors.length > errorsBefore) {
    return { kind: "fail", err, message: `WebGPU reported: ${rt.gpu.errors.slice(errorsBefore).join("; ")}` };
  }
  if (!(err < check.tol)) {
    return {
      kind: "fail",
      err,
      message: `${errorName(check)} ${err} ≥ tolerance ${check.tol} (seed ${seed})`,
    };
  }
  return { kind: "pass", err };
}

/** What a check's number measures (see KernelCheck.measure). */
export function errorName(check: KernelCheck): string {
  return check.measure === "bound" ? "error / error bound" : "relative error";
}
