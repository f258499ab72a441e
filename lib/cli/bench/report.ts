// How `deno task bench` prints: the table's header, one Markdown table line per row as it is measured
// (each kind of row shows its own columns), and the closing note on the reference.

import type { Runtime } from "../../gpu/runtime.ts";
import type { BenchRow } from "./row.ts";

/** The adapter line and the kernel table's header. */
export function printHeader(rt: Runtime, reps: number): void {
  console.log(
    `adapter: ${rt.gpu.info.description}; f16 ${rt.gpu.features.f16 ? "yes" : "no"}; ` +
      `wall time per op, ${reps} reps per submit, best of 3 rounds`,
  );
  console.log(
    "| op        | shape           | dt  |           vifi |    ms    |      reference |    ms    | ratio |" +
      " ort-node ms | ratio |\n" +
      "|-----------|-----------------|-----|----------------|----------|----------------|----------|-------|" +
      "-------------|-------|",
  );
}

export function printFooter(): void {
  console.log(
    "reference: onnxruntime-web 1.30 (wasm, SIMD, threads = cores) and onnxruntime-node 1.30 (native, CPU\n" +
      "execution provider, threads = cores), f32, same process; ratio = reference ms / vifi ms",
  );
}

function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined ? "—" : x.toFixed(digits);
}

export function printRow(r: BenchRow): void {
  if (r.op === "video-pipeline") {
    console.log(
      `| ${r.op} | ${r.shape} | ${fmt(r.frames_per_s, 0)} frames/s on one core | decode ${
        fmt(r.decode_ms, 2)
      } ms + transform ${fmt(r.transform_ms, 2)} ms per frame | ${
        fmt(r.samples_per_frame, 1)
      } samples decoded per frame | ${r.ref} ${fmt(1000 / r.ref_ms!, 0)} frames/s | ${fmt(r.ratio, 2)}× |`,
    );
    return;
  }
  if (r.videos_per_s !== undefined) {
    console.log(
      `| ${r.op.padEnd(9)} | ${r.shape} | ${r.dtype} | ${fmt(r.videos_per_s, 1)} videos/s | ${
        fmt(r.ms, 0)
      } ms/step | ` +
        `loader alone ${fmt(r.loader_videos_per_s!, 1)} videos/s | ${fmt(r.ratio!, 1)}× | ` +
        `waiting for data ${(100 * r.data_share!).toFixed(1)} % |`,
    );
    return;
  }
  if (r.prompts_per_s !== undefined) {
    console.log(
      `| ${r.op.padEnd(9)} | ${r.shape} | ${fmt(r.prompts_per_s, 0)} prompts/s (word cache cleared), ` +
        `${fmt(r.prompts_per_s_cached, 0)} prompts/s (cached) |`,
    );
    return;
  }
  if (r.frames_per_s !== undefined) {
    console.log(
      `| ${r.op.padEnd(9)} | ${r.shape} | ${r.dtype} | ${fmt(r.gflops)} GFLOP/s | ${fmt(r.ms, 0)} ms | ` +
        `${fmt(r.frames_per_s, 2)} frames/s | host ${(100 * r.host_share!).toFixed(1)} % | ` +
        `peak ${fmt(r.peak_mb, 0)} MiB${r.dispatches ? ` | ${r.dispatches} dispatches` : ""} |`,
    );
    return;
  }
  if (r.gflops === undefined && r.gbps === undefined) {
    // time-only rows (the dashboard's page render, whose bar is the issue's 200 ms budget)
    console.log(`| ${r.op} | ${r.shape} | ${fmt(r.ms, 1)} ms |`);
    return;
  }
  const speed = r.gflops !== undefined ? `${fmt(r.gflops)} GFLOP/s` : `${fmt(r.gbps)} GB/s`;
  const refSpeed = r.gflops !== undefined ? `${fmt(r.ref_gflops)} GFLOP/s` : `${fmt(r.ref_gbps)} GB/s`;
  console.log(
    `| ${r.op.padEnd(9)} | ${r.shape.padEnd(15)} | ${r.dtype} | ${speed.padStart(14)} | ${
      fmt(r.ms, 2).padStart(8)
    } | ` +
      `${refSpeed.padStart(14)} | ${fmt(r.ref_ms, 2).padStart(8)} | ${
        r.ratio === null ? "—" : r.ratio.toFixed(2) + "×"
      } |` +
      (r.ort_node_ms === undefined
        ? ""
        : ` ${fmt(r.ort_node_ms, 2).padStart(11)} | ${
          r.ort_node_ratio == null ? "—" : r.ort_node_ratio.toFixed(2) + "×"
        } |`),
  );
}
