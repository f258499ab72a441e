// How `deno task bench --suite gpu` prints: one line per row as it is measured, then the table with
// PyTorch beside each row (once bench/torch_reference.py has run).

import type { GpuSuiteResult } from "./gpu-suite.ts";
import type { BenchRow } from "./row.ts";

function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);
}

function speed(r: BenchRow): string {
  if (r.gflops !== undefined) return `${fmt(r.gflops)} GFLOP/s`;
  if (r.gbps !== undefined) return `${fmt(r.gbps)} GB/s`;
  return "—";
}

/** The model rows' extra columns: frames/s, host share, peak memory. */
function modelCols(r: BenchRow): string {
  if (r.frames_per_s === undefined) return "";
  return ` ${fmt(r.frames_per_s, 2)} frames/s, host ${fmt(100 * r.host_share!, 1)} %, peak ${
    fmt(r.peak_mb, 0)
  } MiB |`;
}

function line(r: BenchRow, torch: boolean): string {
  const head = `| ${r.op.padEnd(15)} | ${r.shape.padEnd(28)} | ${r.dtype} | ${
    (r.variant ?? "").padEnd(24)
  } |`;
  if (r.skipped) return `${head} skipped: ${r.skipped} |`;
  const ours = `${speed(r).padStart(15)} | ${fmt(r.ms, 3).padStart(10)} ms |${modelCols(r)}`;
  if (!torch) return `${head} ${ours}`;
  const unit = r.gflops !== undefined ? "GFLOP/s" : "GB/s";
  const t = r.torch_ms == null
    ? " torch — |"
    : ` torch ${r.torch_variant}: ${fmt(r.torch_speed)} ${unit}, ${fmt(r.torch_ms, 3)} ms | ${
      fmt(r.torch_ratio, 2)
    }× |`;
  return `${head} ${ours}${t}`;
}

export function printGpuRow(r: BenchRow): void {
  console.log(line(r, false));
}

/** The final table: every row with PyTorch's time for the same op and shape, and torch ms / vifi ms. */
export function printGpuTable(res: GpuSuiteResult): void {
  const t = res.torch;
  console.log(
    `\n${res.adapter}, scale ${res.scale}: ${fmt(res.elapsed_s)} s of ${res.budget_s} s budget; ` +
      ("skipped" in t
        ? `PyTorch skipped: ${t.skipped}`
        : `PyTorch ${t.torch} on ${t.device} (${fmt(t.elapsed_s)} s)`),
  );
  console.log(
    "| op              | shape                        | dt  | variant                  |           vifi |" +
      "         ms | PyTorch (best variant) | torch ms / vifi ms |",
  );
  for (const s of res.sections) {
    console.log(`| **${s.name}** (${fmt(s.elapsed_s)} s) |`);
    for (const r of s.rows) console.log(line(r, true));
  }
  const tuned = res.tuned;
  console.log(
    "skipped" in tuned
      ? `tuning: skipped: ${tuned.skipped}`
      : `tuning: ${tuned.classes} shape classes for steps ${tuned.steps.join(", ")} in ${
        fmt(tuned.seconds)
      } s` +
        (tuned.left_out.length ? `; not tuned (budget): ${tuned.left_out.join(", ")}` : ""),
  );
  if (res.tuning.length) {
    console.log(`tuning in force: ${res.tuning.map(([f, c, v]) => `${f} ${c} → ${v}`).join("; ")}`);
  }
}
