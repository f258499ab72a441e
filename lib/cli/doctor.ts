// `deno task doctor`: what this machine's WebGPU offers and whether every kernel computes the right
// numbers on it. Exit code 1 when any check fails, 2 when there is no usable adapter.

import type { CaseRow } from "../selftest/browser-run.ts";
import { parseArgs } from "node:util";
import { NoGpuError } from "../gpu/device.ts";
import { getRuntime, type Runtime } from "../gpu/runtime.ts";
import { allChecks } from "../selftest/registry.ts";
import { Rng, sessionSeed } from "../random/rng.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { clipConfig } from "../models/config.ts";
import { vifiParity } from "../models/parity.ts";
import { Tensor } from "../tensor/tensor.ts";
import { CHROMIUM, runBrowserDoctor } from "./doctor-browser.ts";

/** A check's row in the report: the browser run's row without its timing. */
export type DoctorCheck = Omit<CaseRow, "ms">;

export interface DoctorReport {
  adapter: {
    description: string;
    vendor: string;
    architecture: string;
    software: boolean;
    fallback: boolean;
  };
  features: string[];
  limits: Record<string, number>;
  f16: boolean;
  timestamps: boolean;
  seed: number;
  checks: DoctorCheck[];
  matmul_gflops: { shape: string; dtype: string; gflops: number } | null;
  pass: boolean;
}

export async function runDoctor(
  rt: Runtime,
  opts: { seed?: number; onCheck?: (c: DoctorCheck) => void } = {},
): Promise<DoctorReport> {
  const seed = opts.seed ?? sessionSeed();
  const checks: DoctorCheck[] = [];
  rt.pool.poison = true;
  for (const check of allChecks) {
    const c = check.cases[0];
    const row: DoctorCheck = {
      name: check.name,
      dtype: check.dtype,
      direction: check.direction,
      case: c.label,
      measure: check.measure ?? "relative",
      err: null,
      rel_err: null,
      tol: check.tol,
      pass: false,
    };
    if (check.dtype === "f16" && !rt.gpu.features.f16) {
      row.skipped = "no working shader-f16 on this adapter";
      row.pass = true;
    } else {
      try {
        const before = rt.gpu.errors.length;
        const err = await c.run(rt, new Rng(seed));
        await rt.sync();
        row.err = Number.isFinite(err) ? err : null;
        row.rel_err = row.measure === "relative" ? row.err : null;
        row.pass = err < check.tol && rt.gpu.errors.length === before;
        if (!Number.isFinite(err)) row.error = "non-finite output";
        if (rt.gpu.errors.length > before) row.error = `WebGPU: ${rt.gpu.errors.slice(before).join("; ")}`;
      } catch (e) {
        row.error = e instanceof Error ? e.message : String(e);
      }
    }
    checks.push(row);
    opts.onCheck?.(row);
  }
  for (const dtype of ["f32", "f16"] as const) {
    if (dtype === "f16" && !rt.gpu.features.f16) continue;
    const parity = await parityCheck(rt, seed, dtype);
    checks.push(parity);
    opts.onCheck?.(parity);
  }
  rt.pool.poison = false;
  const gpu = rt.gpu;
  return {
    adapter: {
      description: gpu.info.description,
      vendor: gpu.info.vendor,
      architecture: gpu.info.architecture,
      software: gpu.info.software,
      fallback: gpu.info.isFallbackAdapter,
    },
    features: [...gpu.adapter.features].sort(),
    limits: { ...gpu.limits } as unknown as Record<string, number>,
    f16: gpu.features.f16,
    timestamps: gpu.features.timestamps,
    seed,
    checks,
    matmul_gflops: await matmulSpeed(rt),
    pass: checks.every((c) => c.pass),
  };
}

/** The whole tiny ViFi-CLIP against onnxruntime-web running our ONNX export of the same weights. */
async function parityCheck(rt: Runtime, seed: number, dtype: "f32" | "f16"): Promise<DoctorCheck> {
  const row: DoctorCheck = {
    name: "parity-onnxruntime-web",
    dtype,
    direction: "forward",
    case: "tiny ViFi-CLIP logits (error / logit scale), video and text embeddings (B=2, T=3, C=5)",
    measure: "relative",
    err: null,
    rel_err: null,
    tol: dtype === "f32" ? 1e-4 : 5e-3,
    pass: false,
  };
  try {
    const before = rt.gpu.errors.length;
    const r = await vifiParity(rt, clipConfig("tiny"), { batch: 2, frames: 3, classes: 5, seed, dtype });
    row.err = row.rel_err = Number.isFinite(r.relErr) ? r.relErr : null;
    row.pass = r.relErr < row.tol && rt.gpu.errors.length === before;
  } catch (e) {
    row.error = e instanceof Error ? e.message : String(e);
  }
  return row;
}

/** One quick GEMM at a ViT-B/16 shape: a smoke figure, `deno task bench` has the real table. */
async function matmulSpeed(rt: Runtime): Promise<DoctorReport["matmul_gflops"]> {
  if (!rt.gpu.features.timestamps) return null;
  const [M, K, N] = [1576, 768, 768];
  const rng = new Rng(1);
  const a = Tensor.from(rt, rng.array(M * K), [M, K]);
  const w = Tensor.from(rt, rng.array(N * K), [N, K]);
  (await matmul(a, w, { transB: true })).dispose(); // compile + warm up
  rt.enableProfiling();
  for (let i = 0; i < 3; i++) (await matmul(a, w, { transB: true })).dispose();
  const ms = (await rt.timings()).map((t) => t.ms).sort((x, y) => x - y);
  a.dispose();
  w.dispose();
  const med = ms[Math.floor(ms.length / 2)];
  return { shape: `${M}x${K}x${N}`, dtype: "f32", gflops: (2 * M * N * K) / (med * 1e6) };
}

function fmtErr(e: number | null): string {
  return e === null ? "—" : e.toExponential(2);
}

/**
 * One check's line: what is measured, e.g. "rel_err 3.10e-7 < 0.00001" or "err/bound 0.31 < 1"; with
 * `withCase` (every case, as --browser runs them) the case's label follows in brackets.
 */
export function checkLine(c: DoctorCheck, withCase = false): string {
  const status = c.skipped ? "skip" : c.pass ? "ok  " : "FAIL";
  const what = c.measure === "bound"
    ? `err/bound ${(c.err === null ? "—" : c.err.toFixed(2)).padEnd(9)}`
    : `rel_err   ${fmtErr(c.err).padEnd(9)}`;
  return `  ${status} ${`${c.name} ${c.direction} ${c.dtype}`.padEnd(44)} ${what} < ${c.tol}` +
    `${withCase ? `  [${c.case}]` : ""}${c.skipped ? `  (${c.skipped})` : ""}${
      c.error ? `  ${c.error}` : ""
    }`;
}

/**
 * `--browser`: every case of every check in headless Chromium's WebGPU (lib/cli/doctor-browser.ts).
 * Exit 0 when all pass, 1 on any failure, 2 when the page never reached an adapter.
 */
async function browserDoctor(
  values: { json: boolean; serve: boolean; filter?: string; chromium?: string },
): Promise<number> {
  const print = !values.json;
  const say = (line: string) => print && console.log(line);
  const report = await runBrowserDoctor({
    filter: values.filter,
    serve: values.serve,
    executablePath: values.chromium,
    onListen: (url) => values.serve ? console.error(`open ${url} in a browser on this machine`) : undefined,
    onMessage: (m) => {
      if (m.type === "adapter") {
        const a = m.adapter;
        say(`adapter   ${a.vendor} ${a.architecture} ${a.description}`);
        say(`features  ${a.features.join(", ")}`);
        say(
          `limits    maxStorageBufferBindingSize ${a.limits.maxStorageBufferBindingSize}, storage buffers/stage ` +
            `${a.limits.maxStorageBuffersPerShaderStage}, workgroup storage ${a.limits.maxComputeWorkgroupStorageSize}`,
        );
        say(`f16       ${a.f16 ? "works" : "not available"}\ntimestamp ${a.timestamps ? "yes" : "no"}`);
        say(`checks (every case, ${m.cases}):`);
      } else if (m.type === "case") say(`${checkLine(m.row, true)}  ${(m.row.ms / 1000).toFixed(1)} s`);
    },
  });
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const failed = report.checks.filter((c) => !c.pass).length;
    const where = `${report.browser}, seed ${report.seed}, ${(report.ms / 1000).toFixed(0)} s`;
    if (report.error) {
      for (const line of report.console) console.log(`  console ${line}`);
      console.log(`browser run FAILED: ${report.error}`);
    }
    const ran = `${report.checks.length} of ${report.expected} cases`;
    console.log(
      failed
        ? `${failed} of ${report.checks.length} cases FAILED (${where})`
        : report.error
        ? `${ran} ran, none failed, before the run failed (${where})`
        : `${ran} pass (${where})`,
    );
  }
  return report.pass ? 0 : report.adapter ? 1 : 2;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      json: { type: "boolean", default: false },
      browser: { type: "boolean", default: false },
      serve: { type: "boolean", default: false },
      filter: { type: "string" },
      chromium: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task doctor [--json] [--browser [--filter TEXT] [--chromium PATH | --serve]]\n" +
        "  adapter, limits, features, f16, every kernel self-check, a matmul speed figure\n" +
        "  --browser  every case of every check in headless Chromium's WebGPU (Dawn/Tint) instead of Deno's\n" +
        "  --filter   only the cases whose test name contains TEXT\n" +
        `  --chromium the browser to launch (default ${CHROMIUM})\n` +
        "  --serve    launch nothing: print the page's address for a browser on this machine to open",
    );
    Deno.exit(0);
  }
  if (values.browser) Deno.exit(await browserDoctor(values));
  let rt: Runtime;
  try {
    rt = await getRuntime();
  } catch (e) {
    if (e instanceof NoGpuError) {
      if (values.json) console.log(JSON.stringify({ error: e.message, pass: false }));
      else console.error(e.message);
      Deno.exit(2);
    }
    throw e;
  }
  const g = rt.gpu;
  if (!values.json) {
    console.log(
      `adapter   ${g.info.description} (vendor ${g.info.vendor}${g.info.software ? ", software" : ""})`,
    );
    console.log(`features  ${[...g.adapter.features].sort().join(", ")}`);
    console.log(
      `limits    maxBufferSize ${g.limits.maxBufferSize}, maxStorageBufferBindingSize ${g.limits.maxStorageBufferBindingSize},` +
        ` storage buffers/stage ${g.limits.maxStorageBuffersPerShaderStage}, workgroup storage ${g.limits.maxComputeWorkgroupStorageSize}`,
    );
    console.log(
      `f16       ${
        g.features.f16
          ? "works"
          : g.features.f16Exposed
          ? "exposed but FAILED its self-test"
          : "not available"
      }`,
    );
    console.log(`timestamp ${g.features.timestamps ? "yes" : "no"}`);
    console.log("checks:");
  }
  const report = await runDoctor(rt, {
    onCheck: values.json ? undefined : (c) => console.log(checkLine(c)),
  });
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    if (report.matmul_gflops) {
      console.log(
        `matmul    ${report.matmul_gflops.shape} f32: ${
          report.matmul_gflops.gflops.toFixed(1)
        } GFLOP/s (device time)`,
      );
    }
    const failed = report.checks.filter((c) => !c.pass).length;
    console.log(
      failed
        ? `${failed} of ${report.checks.length} checks FAILED (seed ${report.seed})`
        : `all ${report.checks.length} checks pass (seed ${report.seed})`,
    );
  }
  Deno.exit(report.pass ? 0 : 1);
}
