// Every case of every kernel check, one after another, reported row by row: the loop that
// lib/selftest/browser-entry.ts runs inside a browser page for `deno task doctor --browser`. It is plain
// WebGPU and JavaScript (no Deno global), so the same function also runs under Deno, where the test of
// the loop itself runs it.

import type { Runtime } from "../gpu/runtime.ts";
import type { KernelCheck } from "./check.ts";
import { caseName, runCase } from "./run.ts";
import { allChecks } from "./registry.ts";

/** One case's outcome, in the shape of `deno task doctor`'s rows (lib/cli/doctor.ts prints both). */
export interface CaseRow {
  name: string;
  dtype: string;
  direction: string;
  case: string;
  /**
   * What `err` is: "relative" ‖out − ref‖ / ‖ref‖, or "bound" (the largest |out − ref| over an
   * element's own rounding-error bound; passes below tol = 1).
   */
  measure: "relative" | "bound";
  /** the measured error, compared with tol (null when it is not finite or the case threw) */
  err: number | null;
  /** err where measure is "relative", else null (kept for readers of the older JSON) */
  rel_err: number | null;
  tol: number;
  pass: boolean;
  skipped?: string;
  error?: string;
  /** wall time of the case, compile included */
  ms: number;
}

/** What the page tells the driver, one message per POST to /report. */
export type PageMessage =
  | { type: "adapter"; adapter: AdapterRow; cases: number }
  | { type: "start"; index: number; test: string }
  | { type: "case"; index: number; row: CaseRow }
  | { type: "done"; ms: number }
  | { type: "fatal"; message: string };

export interface AdapterRow {
  vendor: string;
  architecture: string;
  description: string;
  features: string[];
  f16: boolean;
  timestamps: boolean;
  limits: Record<string, number>;
}

/** The adapter as `rt.gpu` negotiated it. */
export function adapterRow(rt: Runtime): AdapterRow {
  const g = rt.gpu;
  return {
    vendor: g.info.vendor,
    architecture: g.info.architecture,
    description: g.info.description,
    features: [...g.adapter.features].sort(),
    f16: g.features.f16,
    timestamps: g.features.timestamps,
    limits: { ...g.limits } as unknown as Record<string, number>,
  };
}

/** Checks and their cases whose test name (caseName) contains `filter` (every case when it is empty). */
export function selectCases(filter = ""): { check: KernelCheck; index: number; test: string }[] {
  const out: { check: KernelCheck; index: number; test: string }[] = [];
  for (const check of allChecks) {
    check.cases.forEach((c, index) => {
      const test = caseName(check, c);
      if (test.includes(filter)) out.push({ check, index, test });
    });
  }
  return out;
}

/**
 * Runs the selected cases under `seed` exactly as tests/selftest/kernels_test.ts does (same random
 * stream per test name, poisoned pool, WebGPU errors fail), turning a thrown error into a failed row
 * rather than stopping: one kernel the implementation refuses must not hide the others.
 */
export async function runEveryCase(
  rt: Runtime,
  seed: number,
  report: (m: PageMessage) => Promise<void> | void,
  filter = "",
): Promise<CaseRow[]> {
  const t0 = performance.now();
  const selected = selectCases(filter);
  await report({ type: "adapter", adapter: adapterRow(rt), cases: selected.length });
  const rows: CaseRow[] = [];
  for (let i = 0; i < selected.length; i++) {
    const { check, index, test } = selected[i];
    await report({ type: "start", index: i, test });
    const row = await runRow(rt, check, index, seed);
    rows.push(row);
    await report({ type: "case", index: i, row });
  }
  rt.pool.poison = false;
  await report({ type: "done", ms: performance.now() - t0 });
  return rows;
}

async function runRow(rt: Runtime, check: KernelCheck, index: number, seed: number): Promise<CaseRow> {
  const c = check.cases[index];
  const measure = check.measure ?? "relative";
  const row: CaseRow = {
    name: check.name,
    dtype: check.dtype,
    direction: check.direction,
    case: c.label,
    measure,
    err: null,
    rel_err: null,
    tol: check.tol,
    pass: false,
    ms: 0,
  };
  const t0 = performance.now();
  try {
    const out = await runCase(rt, check, c, seed);
    if (out.kind === "skipped") {
      row.skipped = out.why;
      row.pass = true;
    } else {
      row.err = Number.isFinite(out.err) ? out.err : null;
      row.pass = out.kind === "pass";
      if (out.kind === "fail") row.error = out.message;
    }
  } catch (e) {
    row.error = e instanceof Error ? e.message : String(e);
    // an exception may leave errors behind that would otherwise be blamed on the next case
    await rt.sync().catch(() => {});
  }
  row.rel_err = measure === "relative" ? row.err : null;
  row.ms = performance.now() - t0;
  return row;
}
