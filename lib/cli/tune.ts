// `deno task tune`: measure which kernel is fastest for every shape a model's training step uses, on
// this adapter, and save the winners to its cache file (lib/gpu/tuning-cache.ts) for training,
// evaluation and bench to use. Untuned shapes keep each op's heuristic.

import { parseArgs } from "node:util";
import { getRuntime } from "../gpu/runtime.ts";
import { Tuning } from "../gpu/tuning.ts";
import { loadTuning, saveTuning } from "../gpu/tuning-cache.ts";
import { CLIP_CONFIGS } from "../models/config.ts";
import { Rng, sessionSeed } from "../random/rng.ts";
import { FAMILIES } from "../tune/registry.ts";
import { DEFAULT_TIMER, type TimerKind } from "../tune/timer.ts";
import { type ModelTuneReport, tuneModel } from "../tune/tuner.ts";
import { intArg, positiveArg, reportError, UsageError } from "./args.ts";

export const USAGE =
  `usage: deno task tune [--model NAME] [--ops matmul,attention,layernorm] [--frames N] [--batch N]
                      [--classes N] [--dtype f32|f16] [--timer device|wall] [--budget-s S]
                      [--json FILE] [--no-save]
       deno task tune --show

  Times every candidate kernel of each op family at the shapes of the model's training step (both
  towers, forward and backward), checks each against float64 on its first run, and saves the fastest per
  shape class to this adapter's cache ($VIFI_CACHE or ~/.cache/vifi, under tuning/). Later runs of
  train, eval, predict and bench use them (VIFI_TUNING=off ignores the cache).

  --model    ${Object.keys(CLIP_CONFIGS).join(", ")} (default ViT-B/16)
  --ops      op families to tune (default: ${FAMILIES.map((f) => f.name).join(",")})
  --frames   frames per video (default 8); --batch videos per step (default 1)
  --classes  class prompts through the text tower per step (default 16)
  --dtype    f32 (default) or f16 (mixed-precision training)
  --timer    device (timestamp queries around each batch of runs; the default where the adapter has
             them) or wall (the clock around recording and waiting)
  --budget-s start no shape class after S seconds (largest shapes go first; the rest keep the heuristic)
  --show     print this adapter's cache and exit`;

function fmtMs(ms: number | undefined): string {
  return ms === undefined ? "-" : ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

/** The summary table: one row per shape class. */
export function formatReport(r: ModelTuneReport): string {
  const rows = [[
    "family",
    "shape class",
    "timed at",
    "winner",
    "ms",
    "GFLOP/s",
    "heuristic",
    "vs heuristic",
  ]];
  for (const c of r.classes) {
    const w = c.candidates.find((x) => x.id === c.winner);
    rows.push([
      c.family,
      c.shapeClass,
      c.shape,
      c.winner ?? (c.skipped ? `(skipped: ${c.skipped})` : "(none passed)"),
      fmtMs(w?.ms),
      w?.gflops === undefined ? "-" : w.gflops.toFixed(1),
      c.heuristic,
      c.speedup === undefined ? "-" : `${c.speedup.toFixed(2)}x`,
    ]);
  }
  const width = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => cell.padEnd(width[i])).join("  ").trimEnd());
  const s = r.step;
  return [
    `${r.model}, batch ${s.batch} × ${s.frames} frames, ${s.classes} classes, ${s.dtype}; ${r.timer} timer; ` +
    `${r.classes.length} shape classes in ${r.seconds.toFixed(1)} s`,
    ...lines,
  ].join("\n");
}

async function show(): Promise<number> {
  const rt = await getRuntime();
  const into = { tuning: new Tuning(), gpu: rt.gpu };
  const res = await loadTuning(into);
  console.log(`adapter: ${rt.gpu.info.description}`);
  console.log(`cache: ${res.path ?? "(none)"}: ${res.status}${res.reason ? ` (${res.reason})` : ""}`);
  for (const e of into.tuning.records()) {
    const h = e.heuristic && e.heuristic !== e.candidate
      ? `  heuristic ${e.heuristic} ${fmtMs(e.heuristicMs)} ms`
      : "";
    console.log(
      `  ${e.family}  ${e.shapeClass}  → ${e.candidate}  ${fmtMs(e.ms)} ms${h}  (${e.shape ?? ""})`,
    );
  }
  return 0;
}

export async function main(args: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      options: {
        model: { type: "string", default: "ViT-B/16" },
        ops: { type: "string" },
        frames: { type: "string" },
        batch: { type: "string" },
        classes: { type: "string" },
        dtype: { type: "string", default: "f32" },
        timer: { type: "string" },
        "budget-s": { type: "string" },
        json: { type: "string" },
        "no-save": { type: "boolean", default: false },
        show: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.show) return await show();
    if (!CLIP_CONFIGS[values.model]) {
      throw new UsageError(`--model ${values.model} is not one of ${Object.keys(CLIP_CONFIGS).join(", ")}`);
    }
    const ops = values.ops?.split(",").map((x) => x.trim()).filter(Boolean);
    for (const op of ops ?? []) {
      if (!FAMILIES.some((f) => f.name === op)) {
        throw new UsageError(`--ops: no op family "${op}" (${FAMILIES.map((f) => f.name).join(", ")})`);
      }
    }
    if (values.dtype !== "f32" && values.dtype !== "f16") throw new UsageError("--dtype must be f32 or f16");
    if (values.timer !== undefined && values.timer !== "device" && values.timer !== "wall") {
      throw new UsageError("--timer must be device or wall");
    }
    const rt = await getRuntime();
    const seed = sessionSeed();
    console.log(`tuning on ${rt.gpu.info.description} (seed ${seed})`);
    const report = await tuneModel(rt, {
      model: values.model,
      ops,
      frames: intArg(values.frames, "frames", 8, 1),
      batch: intArg(values.batch, "batch", 1, 1),
      classes: intArg(values.classes, "classes", 16, 1),
      dtype: values.dtype,
      rng: new Rng(seed),
      timer: { ...DEFAULT_TIMER, kind: values.timer as TimerKind | undefined },
      log: (line) => console.log(line),
      budgetS: values["budget-s"] === undefined ? undefined : positiveArg(values["budget-s"], "budget-s", 0),
    });
    console.log(formatReport(report));
    if (!values["no-save"]) {
      const path = await saveTuning(rt);
      console.log(`saved ${rt.tuning.entries().length} choices to ${path}`);
    }
    if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(report, null, 1) + "\n");
    return 0;
  } catch (e) {
    return reportError(e, USAGE);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
