// `deno task demo`: the whole pipeline on the built-in synthetic dataset — generate it, train a small
// ViFi-CLIP from scratch (byte-level tokenizer) on the base classes, evaluate base and novel classes,
// store the run, print the leaderboard. Runs in minutes on a CPU through Mesa's software Vulkan.

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { generateSynthetic } from "../data/synthetic.ts";
import { factorAccuracy } from "../data/factors.ts";
import { loadExperiments } from "../dsl/load.ts";
import { getRuntime } from "../gpu/runtime.ts";
import { formatLeaderboard, leaderboard } from "../results/leaderboard.ts";
import { currentCommit, defaultResultsPath, ResultsStore } from "../results/store.ts";
import { runExperiment } from "../train/trainer.ts";
import { intArg, reportError, UsageError } from "./args.ts";
import { formatDuration, trainProgress } from "./progress.ts";
import { markInterrupted, onInterrupts } from "./train.ts";
import { outputInUse } from "../train/output.ts";

const USAGE = `usage:
  deno task demo [--dir DIR] [--epochs N] [--clips-per-class N] [--db FILE] [--json]
      makes the synthetic dataset in DIR/data (default runs/demo), trains experiments/synthetic.exp.ts
      into DIR/train, evaluates base and novel classes, stores the run (default $VIFI_RESULTS or
      runs/results.db) and prints the leaderboard`;

export async function main(args: string[]): Promise<number> {
  try {
    const { values: f, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        dir: { type: "string" },
        epochs: { type: "string" },
        "clips-per-class": { type: "string" },
        db: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (f.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
    const t0 = performance.now();
    const dir = f.dir ?? "runs/demo";
    const clipsPerClass = intArg(f["clips-per-class"], "clips-per-class", 8, 2);
    const progress = trainProgress();
    const data = await generateSynthetic(`${dir}/data`, { seed: 1, clipsPerClass });
    progress.line(
      `synthetic data: ${data.clips.length} clips of ${data.frames}×${data.size}² in ${data.classes.length} ` +
        `classes (${data.baseClasses.length} base, ${data.novelClasses.length} novel) → ${dir}/data ` +
        `(${data.seconds.toFixed(1)} s)`,
    );
    // The experiment file reads its data folder from the environment when it is imported.
    Deno.env.set("VIFI_SYNTHETIC_DIR", `${dir}/data`);
    const file = fileURLToPath(new URL("../../experiments/synthetic.exp.ts", import.meta.url));
    // Each demo run trains into a folder of its own: an earlier run's checkpoints stay what its rows say.
    const output = await freeFolder(`${dir}/train`);
    const [exp] = await loadExperiments(file, { overrides: { output } });
    if (f.epochs !== undefined) exp.train!.epochs = intArg(f.epochs, "epochs", 1, 1);

    const store = ResultsStore.open(f.db ?? defaultResultsPath());
    let current: number | undefined;
    const interrupts = onInterrupts(() => markInterrupted(store, current));
    try {
      const rt = await getRuntime();
      const r = await runExperiment(rt, exp, {
        recorder: store,
        commit: currentCommit(),
        log: (s) => progress.line(s),
        onProgress: (e) => progress.update(e),
        signal: interrupts.signal,
        onRun: (id) => current = id,
      });
      progress.done();
      if (r.status === "interrupted") {
        console.error(`run ${r.runId} interrupted; its last checkpoint is in ${output}`);
        return interrupts.exitCode();
      }
      const chance = 100 / data.baseClasses.length;
      const rows = leaderboard(store, { protocol: "base-to-novel" }).filter((row) =>
        row.dataset === "synthetic"
      );
      const byName = Object.fromEntries(r.evals.map((e) => [e.name, e.result.top1]));
      // what transfers: a wrong class may still have its colour, shape or direction right
      const factors = Object.fromEntries(r.evals.map((e) => [
        e.name,
        factorAccuracy(e.result.perClass.map((c) => c.name), e.result.confusion),
      ]));
      if (f.json) {
        console.log(
          JSON.stringify({
            runId: r.runId,
            evals: byName,
            factors,
            chance,
            timing: r.timing,
            leaderboard: rows,
          }),
        );
      } else {
        console.log(formatLeaderboard(rows));
        console.log(
          `\nrun ${r.runId}: base ${byName.base?.toFixed(1)} %, novel ${byName.novel?.toFixed(1)} % ` +
            `(chance ${chance.toFixed(1)} %), ${r.timing.videosPerSec.toFixed(1)} videos/s in training, ` +
            `${formatDuration((performance.now() - t0) / 1000)} in all`,
        );
        console.log(
          "right per factor (colour / shape / direction): " +
            Object.entries(factors).map(([name, f]) =>
              `${name} ${f.colour.toFixed(0)} / ${f.shape.toFixed(0)} / ${f.motion.toFixed(0)} %`
            ).join(", "),
        );
        console.log(
          `stored in ${store.path}; compare runs with \`deno task leaderboard\`, or in the browser: ` +
            `\`deno task dashboard${f.db ? ` --db ${f.db}` : ""}\` → http://127.0.0.1:8000`,
        );
      }
      return 0;
    } finally {
      interrupts.dispose();
      store.close();
    }
  } catch (e) {
    return reportError(e, USAGE);
  }
}

/** `base`, or `base-2`, `base-3`, … : the first that no run owns. */
async function freeFolder(base: string): Promise<string> {
  for (let i = 1;; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    if (!(await outputInUse(dir))) return dir;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
