// `deno task bench [--suite kernels|gpu|all] [--json FILE] [--reps N] [--filter TEXT]`: the default suite
// ("kernels") is kernel speed at CLIP ViT-B/16 shapes, each beside the same computation run by
// onnxruntime-web (wasm) and onnxruntime-node (CPU) in this process, with the ratios; then the model,
// input, training and dashboard rows. "gpu" is lib/cli/bench/gpu-suite.ts (every kernel candidate at
// ViT-B/16 and ViT-L/14 shapes, the model at batch 4 × 8/16/32 frames, PyTorch beside it).
// Both sides are wall time: ours per op over a batch of reps in one submit, onnxruntime's per
// session.run (which includes its input copies); best of 3 rounds for both.
//
// This file is the command (arguments, usage, the order of the families); the families live in
// lib/cli/bench/: kernels.ts (with onnx-reference.ts), model.ts, input-rows.ts (tokenizer.ts, video.ts),
// training.ts, dashboard.ts; report.ts prints the table, row.ts defines a row; gpu-suite.ts (with
// gpu-shapes.ts, gpu-budget.ts, gpu-kernels.ts, gpu-model.ts, gpu-report.ts, torch-reference.ts) is the
// gpu suite.

import { parseArgs } from "node:util";
import { getRuntime, type Runtime } from "../gpu/runtime.ts";
import { Rng } from "../random/rng.ts";
import type { DType } from "../tensor/tensor.ts";
import { kernelRows } from "./bench/kernels.ts";
import { loadOrt, referenceTimer } from "./bench/onnx-reference.ts";
import { loadOrtNode, NODE_SESSION } from "./bench/onnx-node-reference.ts";
import { modelRows } from "./bench/model.ts";
import { tokenizerRow, videoPipelineRows } from "./bench/input-rows.ts";
import { trainingRow } from "./bench/training.ts";
import { dashboardLoadRows, leaderboardBenchRow } from "./bench/dashboard.ts";
import { printFooter, printHeader, printRow } from "./bench/report.ts";
import type { BenchRow } from "./bench/row.ts";
import { intArg } from "./args.ts";
import { type GpuSuiteOptions, type GpuSuiteResult, runGpuSuite, SECTIONS } from "./bench/gpu-suite.ts";
import { printGpuRow, printGpuTable } from "./bench/gpu-report.ts";

export type { BenchRow } from "./bench/row.ts";

export interface BenchOptions {
  reps: number;
  filter?: string;
  onRow?: (r: BenchRow) => void;
}

/** Every family's rows that --filter keeps, in table order: kernels, model, tokenizer, video, train, dashboard. */
export async function runBench(rt: Runtime, o: BenchOptions): Promise<BenchRow[]> {
  const ort = await loadOrt();
  const ortNode = await loadOrtNode();
  const rows: BenchRow[] = [];
  const dtypes: DType[] = rt.gpu.features.f16 ? ["f32", "f16"] : ["f32"];
  const want = (op: string, shape: string) => !o.filter || `${op} ${shape}`.includes(o.filter);
  const emit = (r: BenchRow) => {
    rows.push(r);
    o.onRow?.(r);
  };
  await kernelRows({
    rt,
    reps: o.reps,
    rng: new Rng(1),
    dtypes,
    want,
    emit,
    ref: referenceTimer(ort, ortNode, NODE_SESSION),
  });
  await modelRows(rt, want, emit);
  if (want("tokenizer", "K400 prompts")) await tokenizerRow(emit);
  if (want("video-pipeline", "H.264")) await videoPipelineRows(emit);
  if (want("train", "synthetic")) await trainingRow(rt, emit);
  if (want("dashboard leaderboard page", "5000 runs")) emit(await leaderboardBenchRow(5000));
  if (want("dashboard load", "5000 runs")) { for (const r of await dashboardLoadRows(5000)) emit(r); }
  return rows;
}

const USAGE = "usage: deno task bench [--suite kernels|gpu|all] [--json FILE] [--reps N] [--filter TEXT]\n" +
  "                       [--scale tiny|full] [--budget-s S] [--torch auto|off] [--tune auto|on|off]\n" +
  "                       [--sections gemm,attention,layernorm,model]\n" +
  "  kernels (default): GFLOP/s (GB/s for layernorm) of vifi's kernels at ViT-B/16 shapes vs onnxruntime-web\n" +
  "    (wasm) and onnxruntime-node (CPU), same run; then the model, tokenizer, video, training and dashboard rows\n" +
  "  gpu: every GEMM candidate at ViT-B/16 and ViT-L/14 shapes, attention fused vs composed (fwd, bwd),\n" +
  "    LayerNorm, the ViT-B/16 forward and compiled training step, beside PyTorch (bench/torch_reference.py);\n" +
  "    --scale tiny (automatic on a software adapter) keeps it to a couple of minutes, --budget-s (default\n" +
  "    420) caps the whole suite: rows that would overrun are reported as skipped; --tune (auto: at full\n" +
  "    scale) runs the tuner over the model rows' training steps first, within 30 % of the budget";

interface Cli {
  suite: "kernels" | "gpu" | "all";
  reps: number;
  filter?: string;
  json?: string;
  gpu: GpuSuiteOptions;
}

function parseCli(): Cli | null {
  const { values } = parseArgs({
    options: {
      suite: { type: "string", default: "kernels" },
      json: { type: "string" },
      reps: { type: "string", default: "3" },
      filter: { type: "string" },
      scale: { type: "string" },
      "budget-s": { type: "string", default: "420" },
      torch: { type: "string", default: "auto" },
      tune: { type: "string", default: "auto" },
      sections: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return null;
  const oneOf = <T extends string>(
    v: string | undefined,
    name: string,
    allowed: readonly T[],
  ): T | undefined => {
    if (v === undefined || (allowed as readonly string[]).includes(v)) return v as T | undefined;
    throw new Error(`--${name} must be one of ${allowed.join(", ")}, got "${v}"`);
  };
  return {
    suite: oneOf(values.suite, "suite", ["kernels", "gpu", "all"] as const)!,
    reps: intArg(values.reps, "reps", 3, 1),
    filter: values.filter,
    json: values.json,
    gpu: {
      scale: oneOf(values.scale, "scale", ["tiny", "full"] as const),
      budgetS: intArg(values["budget-s"], "budget-s", 420, 1),
      torch: oneOf(values.torch, "torch", ["auto", "off"] as const),
      tune: oneOf(values.tune, "tune", ["auto", "on", "off"] as const),
      sections: values.sections?.split(",").map((s) => oneOf(s, "sections", SECTIONS.map(([name]) => name))!),
    },
  };
}

async function main(): Promise<void> {
  let cli: Cli | null;
  try {
    cli = parseCli();
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    Deno.exit(2);
  }
  if (!cli) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const rt = await getRuntime();
  let kernels: BenchRow[] | undefined;
  let gpu: GpuSuiteResult | undefined;
  if (cli.suite !== "gpu") {
    printHeader(rt, cli.reps);
    kernels = await runBench(rt, { reps: cli.reps, filter: cli.filter, onRow: printRow });
    printFooter();
  }
  if (cli.suite !== "kernels") {
    gpu = await runGpuSuite(rt, { ...cli.gpu, onRow: printGpuRow });
    printGpuTable(gpu);
  }
  if (cli.json) {
    // the kernels suite keeps its JSON as it always was (an array of rows)
    const out = cli.suite === "kernels" ? kernels : cli.suite === "gpu" ? gpu : { kernels, gpu };
    await Deno.writeTextFile(cli.json, JSON.stringify(out, null, 2) + "\n");
    console.log(`wrote ${cli.json}`);
  }
}

if (import.meta.main) await main();
