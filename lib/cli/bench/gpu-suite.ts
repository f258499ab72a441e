// `deno task bench --suite gpu`: kernels for real GPUs chosen by measurement (issue 15), measured at the
// shapes that matter: every GEMM candidate at ViT-B/16 and ViT-L/14 shapes, attention fused against
// composed, LayerNorm, the ViT-B/16 forward and compiled training step; then PyTorch running the same rows
// (bench/torch_reference.py) and the ratios side by side. A budget guard (gpu-budget.ts) keeps the whole
// suite inside --budget-s: rows that would overrun are reported as skipped instead of run.

import type { Runtime } from "../../gpu/runtime.ts";
import { Rng } from "../../random/rng.ts";
import type { DType } from "../../tensor/tensor.ts";
import { Budget } from "./gpu-budget.ts";
import { attentionSection, gemmSection, layerNormSection, type SuiteContext } from "./gpu-kernels.ts";
import { modelSection } from "./gpu-model.ts";
import { type Scale, type SuitePlan, suitePlan } from "./gpu-shapes.ts";
import { tuneModel } from "../../tune/tuner.ts";
import { attachTorch, findTorchPython, runTorchReference, type TorchResult } from "./torch-reference.ts";
import type { BenchRow } from "./row.ts";

export interface GpuSuiteOptions {
  /** default: "tiny" on a software adapter, "full" on a real GPU */
  scale?: Scale;
  /** seconds the whole suite may take, PyTorch's run included (default 420) */
  budgetS?: number;
  /** "auto": run PyTorch when a python imports torch; "off": never */
  torch?: "auto" | "off";
  /** run only these sections (default: all, in order: gemm, attention, layernorm, model) */
  sections?: string[];
  /** "auto": tune at full scale only (on a software adapter tuning every candidate takes many minutes) */
  tune?: "auto" | "on" | "off";
  onRow?: (r: BenchRow) => void;
  log?: (line: string) => void;
}

export interface SectionResult {
  name: string;
  elapsed_s: number;
  rows: BenchRow[];
}

export interface GpuSuiteResult {
  suite: "gpu";
  adapter: string;
  scale: Scale;
  budget_s: number;
  elapsed_s: number;
  /** what the tuner did before the rows were measured */
  tuned: TuneSummary | { skipped: string };
  /** the kernel choices in force while measuring: [family, shape class, candidate] */
  tuning: [string, string, string][];
  sections: SectionResult[];
  torch: Omit<TorchResult, "rows"> | { skipped: string };
  torch_rows: TorchResult["rows"];
}

export const SECTIONS: [string, (c: SuiteContext) => Promise<void>][] = [
  ["gemm", gemmSection],
  ["attention", attentionSection],
  ["layernorm", layerNormSection],
  ["model", modelSection],
];

/** Share of the budget the vifi sections may use when PyTorch runs after them. */
const VIFI_SHARE = 0.75;
/** Share of the budget tuning may use before the rows are measured. */
const TUNE_SHARE = 0.3;

export interface TuneSummary {
  /** the training steps tuned for, "batch x frames dtype" */
  steps: string[];
  seconds: number;
  classes: number;
  /** steps not tuned because the tuning share of the budget was spent */
  left_out: string[];
}

/**
 * The tuner (lib/tune, what `deno task tune` runs) over the training step of each model row, so every
 * row measures with the kernels tuned for it: the smallest step first, each next one only when the
 * time the last took still fits in TUNE_SHARE of the budget. Shape classes round sizes up to powers of
 * two, so the kernel rows (batch 4 × 8 frames) share classes with the first step.
 */
async function tuneForSuite(
  rt: Runtime,
  plan: SuitePlan,
  dtypes: DType[],
  budget: Budget,
  log: (line: string) => void,
): Promise<TuneSummary> {
  const t0 = performance.now();
  const out: TuneSummary = { steps: [], seconds: 0, classes: 0, left_out: [] };
  let last = 0;
  for (const m of plan.model) {
    for (const dtype of dtypes) {
      const name = `${m.batch}x${m.frames} ${dtype}`;
      if (budget.elapsedS() + 1.5 * last > TUNE_SHARE * budget.limitS) {
        out.left_out.push(name);
        continue;
      }
      const s0 = performance.now();
      const r = await tuneModel(rt, {
        model: "ViT-B/16",
        batch: m.batch,
        frames: m.frames,
        classes: m.classes,
        dtype: dtype as "f32" | "f16",
        rng: new Rng(5),
      });
      last = (performance.now() - s0) / 1000;
      out.steps.push(name);
      out.classes += r.classes.length;
      log(`tuning: ViT-B/16 step ${name}: ${r.classes.length} shape classes in ${last.toFixed(1)} s`);
    }
  }
  out.seconds = (performance.now() - t0) / 1000;
  if (out.left_out.length) log(`tuning: budget share spent, not tuned: ${out.left_out.join(", ")}`);
  return out;
}

export async function runGpuSuite(rt: Runtime, o: GpuSuiteOptions = {}): Promise<GpuSuiteResult> {
  const log = o.log ?? console.log;
  const scale = o.scale ?? (rt.gpu.info.software ? "tiny" : "full");
  const budgetS = o.budgetS ?? 420;
  const plan = suitePlan(scale);
  const python = o.torch === "off" ? { skipped: "--torch off" } : await findTorchPython();
  const total = new Budget(budgetS);
  const vifiBudget = new Budget("python" in python ? budgetS * VIFI_SHARE : budgetS);
  log(`gpu suite: ${rt.gpu.info.description}, scale ${scale}, budget ${budgetS} s`);

  const dtypes: DType[] = rt.gpu.features.f16 ? ["f32", "f16"] : ["f32"];
  const tuneOn = o.tune === "on" || (o.tune !== "off" && scale === "full");
  const tuning = tuneOn
    ? await tuneForSuite(rt, plan, dtypes, vifiBudget, log)
    : { skipped: o.tune === "off" ? "--tune off" : "tiny scale (--tune on to tune anyway)" };
  if ("skipped" in tuning) log(`tuning: skipped: ${tuning.skipped}`);
  const sections: SectionResult[] = [];
  const all: BenchRow[] = [];
  for (const [name, run] of SECTIONS) {
    if (o.sections && !o.sections.includes(name)) continue;
    const rows: BenchRow[] = [];
    const t0 = performance.now();
    log(
      `section ${name}: starting at ${total.elapsedS().toFixed(1)} s, ${
        vifiBudget.leftS().toFixed(0)
      } s left`,
    );
    const emit = (r: BenchRow) => {
      rows.push(r);
      all.push(r);
      o.onRow?.(r);
    };
    await run({ rt, plan, rng: new Rng(1), dtypes, budget: vifiBudget, emit });
    const elapsed = (performance.now() - t0) / 1000;
    const skipped = rows.filter((r) => r.skipped).length;
    log(
      `section ${name}: ${elapsed.toFixed(1)} s, ${rows.length} rows${skipped ? `, ${skipped} skipped` : ""}`,
    );
    sections.push({ name, elapsed_s: elapsed, rows });
  }

  let torch: GpuSuiteResult["torch"] = "python" in python ? { skipped: "budget" } : python;
  let torchRows: TorchResult["rows"] = [];
  if ("python" in python) {
    log(
      `torch: ${python.python} bench/torch_reference.py --scale ${scale}, ${total.leftS().toFixed(0)} s left`,
    );
    const r = await runTorchReference(python.python, scale, total.leftS());
    if ("skipped" in r) torch = r;
    else {
      const { rows, ...meta } = r;
      torch = meta;
      torchRows = rows;
      attachTorch(all, r);
    }
  }
  if ("skipped" in torch) log(`torch: skipped: ${torch.skipped}`);
  return {
    suite: "gpu",
    adapter: rt.gpu.info.description,
    scale,
    budget_s: budgetS,
    elapsed_s: total.elapsedS(),
    tuned: tuning,
    tuning: rt.tuning.entries(),
    sections,
    torch,
    torch_rows: torchRows,
  };
}
