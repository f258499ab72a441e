// The PyTorch column of `deno task bench --suite gpu`: finds a python that imports torch, runs
// bench/torch_reference.py at the suite's scale (its own process, with what is left of the budget as a
// time limit) and sets each vifi row's torch_ms to PyTorch's best variant for the same op and shape:
// fp32 eager beside our f32 rows, bf16 autocast beside our f16 rows. Without torch the rows keep no torch
// column and the suite says why.

import type { Scale } from "./gpu-shapes.ts";
import type { BenchRow } from "./row.ts";

export interface TorchRow {
  op: string;
  shape: string;
  precision: "fp32" | "bf16";
  variant: string;
  ms?: number;
  peak_mb?: number;
  skipped?: string;
}

export interface TorchResult {
  torch: string;
  device: string;
  scale: Scale;
  elapsed_s: number;
  rows: TorchRow[];
}

const SCRIPT = new URL("../../../bench/torch_reference.py", import.meta.url).pathname;

/** The python to run: $VIFI_TORCH_PYTHON, else the first of /usr/bin/python3, python3 that imports torch. */
export async function findTorchPython(): Promise<{ python: string } | { skipped: string }> {
  const tried: string[] = [];
  const env = Deno.env.get("VIFI_TORCH_PYTHON");
  for (const python of env ? [env] : ["/usr/bin/python3", "python3"]) {
    try {
      const r = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "piped",
      })
        .output();
      if (r.success) return { python };
      const last = new TextDecoder().decode(r.stderr).trim().split("\n").at(-1);
      tried.push(`${python}: ${last}`);
    } catch (e) {
      tried.push(`${python}: ${(e as Error).message}`);
    }
  }
  return { skipped: `no python imports torch (${tried.join("; ")})` };
}

/** Runs the reference script; a run past `timeoutS` is killed and reported as skipped. */
export async function runTorchReference(
  python: string,
  scale: Scale,
  timeoutS: number,
): Promise<TorchResult | { skipped: string }> {
  if (timeoutS <= 1) return { skipped: "budget" };
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const child = new Deno.Command(python, {
      args: [SCRIPT, "--scale", scale, "--budget-s", String(Math.max(1, timeoutS * 0.8)), "--json", out],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutS * 1000);
    const r = await child.output();
    clearTimeout(timer);
    if (timedOut) return { skipped: "budget" };
    if (!r.success) {
      const last = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-3).join(" | ");
      return { skipped: `bench/torch_reference.py failed (exit ${r.code}): ${last}` };
    }
    return JSON.parse(await Deno.readTextFile(out)) as TorchResult;
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** vifi's dtype → the PyTorch precision it is compared with. */
const PRECISION: Record<string, TorchRow["precision"]> = { f32: "fp32", f16: "bf16" };

/**
 * Sets the torch columns of every measured vifi row that has a measured PyTorch row of the same op,
 * shape and matching precision: PyTorch's fastest variant, its throughput for the same work, and the
 * ratio torch ms / vifi ms (> 1: vifi is faster).
 */
export function attachTorch(rows: BenchRow[], torch: TorchResult): void {
  const best = new Map<string, TorchRow>();
  for (const t of torch.rows) {
    if (t.ms === undefined || !(t.ms > 0)) continue;
    const key = `${t.op}|${t.shape}|${t.precision}`;
    const b = best.get(key);
    if (!b || t.ms < b.ms!) best.set(key, t);
  }
  for (const r of rows) {
    if (r.skipped) continue;
    const t = best.get(`${r.op}|${r.shape}|${PRECISION[r.dtype]}`);
    if (!t) continue;
    r.torch_ms = t.ms!;
    r.torch_variant = `${t.precision} ${t.variant}`;
    r.torch_ratio = t.ms! / r.ms;
    // the same work in the same time unit: GFLOP/s rows (and GB/s rows) scale by the time ratio
    const speed = r.gflops ?? r.gbps;
    r.torch_speed = speed === undefined ? null : (speed * r.ms) / t.ms!;
  }
}
