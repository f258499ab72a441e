// `deno task bench [--json FILE] [--reps N] [--filter TEXT]`: kernel speed at CLIP ViT-B/16 shapes,
// each beside the same computation run by onnxruntime-web (wasm) in this process, with the ratio.
// Both sides are wall time: ours per op over a batch of reps in one submit, onnxruntime's per
// session.run (which includes its input copies); best of 3 rounds for both.
//
// This file is the command (arguments, usage, the order of the families); the families live in
// lib/cli/bench/: kernels.ts (with onnx-reference.ts), model.ts, input-rows.ts (tokenizer.ts, video.ts),
// training.ts, dashboard.ts; report.ts prints the table, row.ts defines a row.

import { parseArgs } from "node:util";
import { getRuntime, type Runtime } from "../gpu/runtime.ts";
import { Rng } from "../random/rng.ts";
import type { DType } from "../tensor/tensor.ts";
import { kernelRows } from "./bench/kernels.ts";
import { loadOrt, referenceTimer } from "./bench/onnx-reference.ts";
import { modelRows } from "./bench/model.ts";
import { tokenizerRow, videoPipelineRows } from "./bench/input-rows.ts";
import { trainingRow } from "./bench/training.ts";
import { dashboardLoadRows, leaderboardBenchRow } from "./bench/dashboard.ts";
import { printFooter, printHeader, printRow } from "./bench/report.ts";
import type { BenchRow } from "./bench/row.ts";
import { intArg } from "./args.ts";

export type { BenchRow } from "./bench/row.ts";

export interface BenchOptions {
  reps: number;
  filter?: string;
  onRow?: (r: BenchRow) => void;
}

/** Every family's rows that --filter keeps, in table order: kernels, model, tokenizer, video, train, dashboard. */
export async function runBench(rt: Runtime, o: BenchOptions): Promise<BenchRow[]> {
  const ort = await loadOrt();
  const rows: BenchRow[] = [];
  const dtypes: DType[] = rt.gpu.features.f16 ? ["f32", "f16"] : ["f32"];
  const want = (op: string, shape: string) => !o.filter || `${op} ${shape}`.includes(o.filter);
  const emit = (r: BenchRow) => {
    rows.push(r);
    o.onRow?.(r);
  };
  await kernelRows({ rt, reps: o.reps, rng: new Rng(1), dtypes, want, emit, ref: referenceTimer(ort) });
  await modelRows(rt, want, emit);
  if (want("tokenizer", "K400 prompts")) await tokenizerRow(emit);
  if (want("video-pipeline", "H.264")) await videoPipelineRows(emit);
  if (want("train", "synthetic")) await trainingRow(rt, emit);
  if (want("dashboard leaderboard page", "5000 runs")) emit(await leaderboardBenchRow(5000));
  if (want("dashboard load", "5000 runs")) { for (const r of await dashboardLoadRows(5000)) emit(r); }
  return rows;
}

const USAGE = "usage: deno task bench [--json FILE] [--reps N] [--filter TEXT]\n" +
  "  GFLOP/s (GB/s for layernorm) of vifi's kernels at ViT-B/16 shapes vs onnxruntime-web (wasm), same run";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: "string" },
      reps: { type: "string", default: "3" },
      filter: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  let reps = 0;
  try {
    reps = intArg(values.reps, "reps", 3, 1);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const rt = await getRuntime();
  printHeader(rt, reps);
  const rows = await runBench(rt, { reps, filter: values.filter, onRow: printRow });
  printFooter();
  if (values.json) {
    await Deno.writeTextFile(values.json, JSON.stringify(rows, null, 2) + "\n");
    console.log(`wrote ${values.json}`);
  }
}

if (import.meta.main) await main();
