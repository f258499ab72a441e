// `deno task demo`: ViFi-CLIP's story on the built-in synthetic world, as the paper's base-to-novel table.
// It makes the synthetic dataset; pretrains a tiny CLIP contrastively on synthetic image–caption pairs
// (experiments/synthetic-pretrain.exp.ts) or loads that file from the cache folder; evaluates it zero-shot
// on base and novel classes (synthetic-zero-shot.exp.ts); fine-tunes it on the base classes as ViFi-CLIP
// does (synthetic.exp.ts); evaluates again; stores every run and prints both rows with their harmonic
// mean, what each gets right per factor, and the leaderboard. Minutes on a CPU through Mesa's software Vulkan.

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { generateSynthetic } from "../data/synthetic.ts";
import { factorAccuracy } from "../data/factors.ts";
import { loadExperiments } from "../dsl/load.ts";
import type { ResolvedExperiment } from "../dsl/types.ts";
import { getRuntime, type Runtime } from "../gpu/runtime.ts";
import { formatLeaderboard, leaderboard } from "../results/leaderboard.ts";
import { currentCommit, defaultResultsPath, ResultsStore } from "../results/store.ts";
import { runExperiment, type RunOutcome } from "../train/trainer.ts";
import { outputInUse } from "../train/output.ts";
import { intArg, reportError, UsageError } from "./args.ts";
import { type DemoRow, formatDemoTable, harmonicMean } from "./demo-table.ts";
import { isCached, keepInCache, pretrainedCachePath } from "./demo-pretrained.ts";
import { formatDuration, trainProgress } from "./progress.ts";
import { markInterrupted, onInterrupts } from "./train.ts";

const USAGE = `usage:
  deno task demo [--dir DIR] [--epochs N] [--clips-per-class N] [--pretrain-steps N] [--fresh] [--db FILE]
                 [--json]
      makes the synthetic dataset in DIR/data (default runs/demo); pretrains the tiny CLIP
      (experiments/synthetic-pretrain.exp.ts) or loads it from the cache folder ($VIFI_CACHE or
      ~/.cache/vifi; --fresh pretrains again); evaluates it zero-shot; fine-tunes it as ViFi-CLIP
      (experiments/synthetic.exp.ts); stores the runs (default $VIFI_RESULTS or runs/results.db) and
      prints the base-to-novel table and the leaderboard`;

interface DemoOptions {
  dir: string;
  clipsPerClass: number;
  epochs?: number;
  pretrainSteps?: number;
  fresh: boolean;
  db?: string;
  json: boolean;
}

function parseDemoArgs(args: string[]): DemoOptions | "help" {
  const { values: f, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      dir: { type: "string" },
      epochs: { type: "string" },
      "clips-per-class": { type: "string" },
      "pretrain-steps": { type: "string" },
      fresh: { type: "boolean" },
      db: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (f.help) return "help";
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  return {
    dir: f.dir ?? "runs/demo",
    // 32 clips per class: 8 of them validate, so each of base and novel is judged on 192 clips
    clipsPerClass: intArg(f["clips-per-class"], "clips-per-class", 32, 2),
    epochs: f.epochs === undefined ? undefined : intArg(f.epochs, "epochs", 1, 1),
    pretrainSteps: f["pretrain-steps"] === undefined
      ? undefined
      : intArg(f["pretrain-steps"], "pretrain-steps", 1, 2),
    fresh: f.fresh ?? false,
    db: f.db,
    json: f.json ?? false,
  };
}

/** The demo's experiment `file` (in experiments/), its output in a folder no earlier run owns. */
async function demoExperiment(file: string, output: string): Promise<ResolvedExperiment> {
  const path = fileURLToPath(new URL(`../../experiments/${file}`, import.meta.url));
  const [exp] = await loadExperiments(path, { overrides: { output: await freeFolder(output) } });
  return exp;
}

/** `base`, or `base-2`, `base-3`, … : the first that no run owns. */
async function freeFolder(base: string): Promise<string> {
  for (let i = 1;; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    if (!(await outputInUse(dir))) return dir;
  }
}

/** Runs the demo's experiments one after another, each stored, all stopped by one Ctrl-C. */
class DemoRuns {
  private current?: number;
  private readonly interrupts = onInterrupts(() => markInterrupted(this.store, this.current));
  private readonly progress = trainProgress();

  constructor(private readonly rt: Runtime, private readonly store: ResultsStore) {}

  log(line: string): void {
    this.progress.line(line);
  }

  /** The run's outcome, or the exit code when Ctrl-C stopped it. */
  async run(exp: ResolvedExperiment): Promise<RunOutcome | number> {
    const r = await runExperiment(this.rt, exp, {
      recorder: this.store,
      commit: currentCommit(),
      log: (s) => this.progress.line(s),
      onProgress: (e) => this.progress.update(e),
      signal: this.interrupts.signal,
      onRun: (id) => this.current = id,
    });
    this.progress.done();
    if (r.status !== "interrupted") return r;
    console.error(`run ${r.runId} of ${exp.name} interrupted; what it saved is in ${exp.output}`);
    return this.interrupts.exitCode();
  }

  dispose(): void {
    this.interrupts.dispose();
  }
}

interface Pretrained {
  path: string;
  cached: boolean;
  runId?: number;
}

/** The pretrained weights: from the cache, or pretrained now (stored as a run) and then cached. */
async function pretrained(runs: DemoRuns, o: DemoOptions): Promise<Pretrained | number> {
  const exp = await demoExperiment("synthetic-pretrain.exp.ts", `${o.dir}/pretrain`);
  if (o.pretrainSteps !== undefined) {
    exp.pretrain!.steps = o.pretrainSteps;
    exp.pretrain!.warmupSteps = Math.min(exp.pretrain!.warmupSteps, o.pretrainSteps - 1);
  }
  const path = await pretrainedCachePath(exp);
  if (!o.fresh && await isCached(path)) {
    runs.log(`pretrained CLIP: ${path} (cached; --fresh pretrains again)`);
    return { path, cached: true };
  }
  const r = await runs.run(exp);
  if (typeof r === "number") return r;
  await keepInCache(r.checkpoints.at(-1)!, path);
  runs.log(`pretrained CLIP kept in ${path}`);
  return { path, cached: false, runId: r.runId };
}

const epochs = (n: number) => `${n} epoch${n === 1 ? "" : "s"}`;

function demoRow(label: string, r: RunOutcome): DemoRow {
  const top1 = Object.fromEntries(r.evals.map((e) => [e.name, e.result.top1]));
  const factors = Object.fromEntries(r.evals.map((e) => [
    e.name,
    factorAccuracy(e.result.perClass.map((c) => c.name), e.result.confusion),
  ]));
  return { label, base: top1.base, novel: top1.novel, factors: { base: factors.base, novel: factors.novel } };
}

export async function main(args: string[]): Promise<number> {
  try {
    const o = parseDemoArgs(args);
    if (o === "help") {
      console.log(USAGE);
      return 0;
    }
    return await demo(o);
  } catch (e) {
    return reportError(e, USAGE);
  }
}

async function demo(o: DemoOptions): Promise<number> {
  const t0 = performance.now();
  const data = await generateSynthetic(`${o.dir}/data`, { seed: 1, clipsPerClass: o.clipsPerClass });
  const store = ResultsStore.open(o.db ?? defaultResultsPath());
  const runs = new DemoRuns(await getRuntime(), store);
  try {
    runs.log(
      `synthetic data: ${data.clips.length} clips of ${data.frames}×${data.size}² in ${data.classes.length} ` +
        `classes (${data.baseClasses.length} base, ${data.novelClasses.length} novel) → ${o.dir}/data ` +
        `(${data.seconds.toFixed(1)} s)`,
    );
    // The experiment files read their data folder and weights from the environment when imported.
    Deno.env.set("VIFI_SYNTHETIC_DIR", `${o.dir}/data`);
    const pre = await pretrained(runs, o);
    if (typeof pre === "number") return pre;
    Deno.env.set("VIFI_SYNTHETIC_WEIGHTS", pre.path);
    const zs = await runs.run(await demoExperiment("synthetic-zero-shot.exp.ts", `${o.dir}/zero-shot`));
    if (typeof zs === "number") return zs;
    const ftExp = await demoExperiment("synthetic.exp.ts", `${o.dir}/train`);
    if (o.epochs !== undefined) ftExp.train!.epochs = o.epochs;
    const ft = await runs.run(ftExp);
    if (typeof ft === "number") return ft;
    const rows = [demoRow("zero-shot CLIP", zs), demoRow(`ViFi-CLIP (${epochs(ftExp.train!.epochs)})`, ft)];
    report(store, o, {
      rows,
      runs: { pretrain: pre.runId ?? null, zeroShot: zs.runId, fineTuned: ft.runId },
      pre,
      chance: 100 / data.baseClasses.length,
      seconds: (performance.now() - t0) / 1000,
      trainVideosPerSec: ft.timing.videosPerSec,
    });
    return 0;
  } finally {
    runs.dispose();
    store.close();
  }
}

interface DemoResult {
  rows: DemoRow[];
  runs: { pretrain: number | null; zeroShot?: number; fineTuned?: number };
  pre: Pretrained;
  chance: number;
  seconds: number;
  trainVideosPerSec: number;
}

function report(store: ResultsStore, o: DemoOptions, r: DemoResult): void {
  const board = leaderboard(store, { protocol: "base-to-novel" }).filter((row) =>
    row.dataset === "synthetic"
  );
  if (o.json) {
    const row = (d: DemoRow) => ({
      base: d.base,
      novel: d.novel,
      hm: harmonicMean(d.base, d.novel),
      factors: d.factors,
    });
    console.log(JSON.stringify({
      runs: r.runs,
      weights: r.pre.path,
      cached: r.pre.cached,
      zeroShot: row(r.rows[0]),
      fineTuned: row(r.rows[1]),
      chance: r.chance,
      seconds: r.seconds,
      leaderboard: board,
    }));
    return;
  }
  console.log(formatLeaderboard(board));
  console.log(`\n${formatDemoTable(r.rows, r.chance)}\n`);
  console.log(
    `runs ${[r.runs.pretrain, r.runs.zeroShot, r.runs.fineTuned].filter((x) => x != null).join(", ")}` +
      ` (${r.pre.cached ? "pretrained weights from the cache" : "pretraining included"}), ` +
      `${r.trainVideosPerSec.toFixed(1)} videos/s in fine-tuning, ${formatDuration(r.seconds)} in all`,
  );
  console.log(
    `stored in ${store.path}; compare runs with \`deno task leaderboard\`, or in the browser: ` +
      `\`deno task dashboard${o.db ? ` --db ${o.db}` : ""}\` → http://127.0.0.1:8000`,
  );
}

if (import.meta.main) Deno.exit(await main(Deno.args));
