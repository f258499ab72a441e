// `deno task train EXPERIMENT` and `deno task eval EXPERIMENT`: an `.exp.ts` file (one experiment or a
// sweep) or an upstream YAML config, resolved, checked, run, and stored in the results database. The
// upstream's flags keep their meaning (`--opts KEY VALUE …`, `--output`, `--resume`, `--only-test`,
// `--batch-size`, `--accumulation-steps`), and `--world-size N` says how many devices the reproduced run
// had (upstream YAML: 8; vifi accumulates N× more micro-batches instead). Exit codes: 0 done, 1 failed,
// 2 usage, 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM (128 + the signal, as a shell reports it).

import { resolve as resolvePath } from "node:path";
import { parseArgs } from "node:util";
import { checkData, formatMissing, loadDataset } from "../data/lists.ts";
import { loadExperiments } from "../dsl/load.ts";
import { defaultCwd, describeResolved } from "../dsl/resolve.ts";
import { UPSTREAM_WORLD_SIZE } from "../dsl/yaml.ts";
import type { ResolvedExperiment } from "../dsl/types.ts";
import { initWorld, type World } from "../dist/mpi.ts";
import { checkGpusPerRank } from "../dist/launch.ts";
import { getRuntime } from "../gpu/runtime.ts";
import { currentCommit, defaultResultsPath, ResultsStore } from "../results/store.ts";
import { newestState } from "../train/output.ts";
import { runExperiment, type RunOutcome } from "../train/trainer.ts";
import { renderSbatch, type SlurmOptions } from "../cluster/sbatch.ts";
import { intArg, reportError, UsageError } from "./args.ts";
import { formatDuration, type TrainProgress, trainProgress } from "./progress.ts";
import { checkRanks, SLURM_FLAGS, SLURM_USAGE, slurmOptions, submitSweep, sweepJob } from "./train-slurm.ts";

const COMMON = `[--only NAME] [--output DIR] [--opts KEY VALUE …] [--db FILE|URL | --no-store]
                  [--world-size N] [--dry-run] [--check-data] [--json]`;

const USAGE = `usage:
  deno task train EXPERIMENT ${COMMON}
                  [--resume CKPT] [--continue] [--only-test] [--batch-size N] [--accumulation-steps N]
${SLURM_USAGE}
  deno task eval EXPERIMENT ${COMMON}
                  [--weights FILE] [--clip-weights FILE] [--clips N] [--crops 1|3] [--drop-last]
      EXPERIMENT    experiments/*.exp.ts (an experiment or a sweep) or an upstream configs/*.yaml
      --opts        upstream config overrides, e.g. --opts TRAIN.LR 1e-5 TEST.NUM_CLIP 4 (YAML only)
      --resume      initialise from a checkpoint and train the whole schedule (the upstream's --resume);
                    with --continue, carry on exactly where that vifi checkpoint stopped
      --continue    alone: carry on from the newest training state in the output folder (last.safetensors
                    or a later epoch's file) where there is one, else start the schedule
      --world-size  devices of the run reproduced (YAML default 8, the upstream's; .exp.ts: train.worldSize);
                    effective batch = batch × accumulation × N, accumulated on this one device
      --only        run only the sweep members whose name contains NAME (--exact: whose name is NAME)
      --dry-run     resolve and check, print the resolved experiments as JSON (with the effective batch,
                    micro-batches per update and updates per epoch), load nothing
      --check-data  list the videos of every list that are missing under the root, then stop
      --output      the run's folder (a sweep: DIR/<name>); default $VIFI_RUNS/<name>, else runs/<name>
      --db          results database, a SQLite file or postgres://… (default $VIFI_RESULTS, else
                    results.db in $VIFI_RUNS or runs/)
      --weights     eval: the checkpoint to evaluate (any format predict reads)
      --clips/--crops  eval: test views (docs/upstream.md §9; fully supervised uses 4 × 3)
      --drop-last   score only what the upstream's validation scores (its drop_last batches of 2 per device
                    of --world-size, default 8): exact parity with its numbers; recorded with the results`;

/** `--opts` takes every following argument up to the next `--flag`, as yacs' merge_from_list does. */
export function splitOpts(args: string[]): { rest: string[]; opts: string[] } {
  const i = args.indexOf("--opts");
  if (i < 0) return { rest: args, opts: [] };
  let j = i + 1;
  while (j < args.length && !/^--[a-z]/.test(args[j])) j++;
  const opts = args.slice(i + 1, j);
  if (opts.length % 2 !== 0) throw new UsageError(`--opts takes KEY VALUE pairs, got ${opts.length} values`);
  return { rest: [...args.slice(0, i), ...args.slice(j)], opts };
}

/** `--check-data`: what each list lacks, printed (on stdout unless told; `--slurm` keeps stdout for the script). */
async function checkLists(exp: ResolvedExperiment, print = console.log): Promise<boolean> {
  let ok = true;
  const lists = [
    ...(exp.train
      ? [{ what: "train", root: exp.train.root, list: exp.train.list, labels: exp.train.labels }]
      : []),
    ...exp.evals.map((e) => ({ what: `eval ${e.name}`, root: e.root, list: e.list, labels: e.labels })),
  ];
  for (const l of lists) {
    const ds = await loadDataset(l.root, l.list, l.labels);
    const r = await checkData(ds, { limit: 10 });
    print(`${exp.name} ${l.what} (${l.list}): ${formatMissing(ds, r)}`);
    ok &&= r.missingCount === 0;
  }
  return ok;
}

export interface Interrupts {
  signal: AbortSignal;
  /** 130 after SIGINT, 143 after SIGTERM (the first signal that came) */
  exitCode(): number;
  dispose(): void;
}

/**
 * Ctrl-C and SIGTERM alike: the first asks the trainer to finish the step and save; a second one
 * leaves at once, after `beforeExit` (which marks the run interrupted, synchronously, so no row is
 * left "running"). Slurm's time-limit warning arrives as SIGTERM too: the sbatch script's shell takes the
 * USR1 and sends TERM, since Deno opens its V8 inspector on 127.0.0.1:9229 when it gets a SIGUSR1.
 */
export function onInterrupts(beforeExit: () => void): Interrupts {
  const abort = new AbortController();
  let first: Deno.Signal | undefined;
  const code = (s: Deno.Signal | undefined) => (s === "SIGTERM" ? 143 : 130);
  const listeners: [Deno.Signal, () => void][] = [];
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    const h = () => {
      if (first) {
        try {
          beforeExit();
        } finally {
          Deno.exit(code(first));
        }
      }
      first = sig;
      console.error(`\n${sig}: finishing the step and saving (again to quit now)`);
      abort.abort();
    };
    try {
      Deno.addSignalListener(sig, h);
      listeners.push([sig, h]);
    } catch {
      // SIGTERM cannot be listened for on Windows
    }
  }
  return {
    signal: abort.signal,
    exitCode: () => code(first),
    dispose: () => listeners.forEach(([sig, h]) => Deno.removeSignalListener(sig, h)),
  };
}

/** What a second signal does before exiting: the run in progress is marked interrupted now. */
export function markInterrupted(store: ResultsStore | undefined, runId: number | undefined): void {
  if (!store || runId === undefined) return;
  try {
    store.finishRun(runId, { status: "interrupted", error: "stopped by a second signal before saving" });
  } catch {
    // the store may be mid-transaction or gone; the next command that opens it marks the run failed
  }
}

const FLAGS = {
  ...SLURM_FLAGS,
  only: { type: "string" },
  exact: { type: "boolean" },
  output: { type: "string" },
  resume: { type: "string" },
  continue: { type: "boolean" },
  "only-test": { type: "boolean" },
  "batch-size": { type: "string" },
  "accumulation-steps": { type: "string" },
  "world-size": { type: "string" },
  weights: { type: "string" },
  "clip-weights": { type: "string" },
  clips: { type: "string" },
  crops: { type: "string" },
  "drop-last": { type: "boolean" },
  db: { type: "string" },
  "no-store": { type: "boolean" },
  "dry-run": { type: "boolean" },
  "check-data": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The flags, typed as FLAGS says (the positionals are the experiment file). */
function parseFlags(args: string[]) {
  return parseArgs({ args, allowPositionals: true, options: FLAGS });
}

type Flags = ReturnType<typeof parseFlags>["values"];

interface TrainArgs {
  flags: Flags;
  /** the experiment file */
  experiment: string;
  /** `--opts KEY VALUE …` */
  opts: string[];
  /** `--crops`, checked (1 when not given) */
  crops: number;
}

/** The command line, checked; undefined for `--help`. */
function parseTrainArgs(args: string[], mode: "train" | "eval"): TrainArgs | undefined {
  const { rest, opts } = splitOpts(args);
  const { values: f, positionals } = parseFlags(rest);
  if (f.help) return undefined;
  if (positionals.length !== 1) throw new UsageError(`give one experiment file, got ${positionals.length}`);
  if (mode === "train" && (f.weights || f.clips || f.crops || f["clip-weights"])) {
    throw new UsageError("--weights, --clip-weights, --clips and --crops belong to `deno task eval`");
  }
  if (f.exact && f.only === undefined) throw new UsageError("--exact needs --only NAME");
  if (f.slurm && mode === "eval") throw new UsageError("--slurm belongs to `deno task train`");
  const crops = intArg(f.crops, "crops", 1, 1);
  if (f.crops !== undefined && crops !== 1 && crops !== 3) throw new UsageError("--crops must be 1 or 3");
  return { flags: f, experiment: positionals[0], opts, crops };
}

/** The experiments to run: resolved with the upstream's overrides, `--only` applied, flags set on each. */
async function experimentsToRun(a: TrainArgs, mode: "train" | "eval"): Promise<ResolvedExperiment[]> {
  const f = a.flags;
  const cwd = defaultCwd();
  const optionalInt = (v: string | undefined, name: string) =>
    v === undefined ? undefined : intArg(v, name, 0, 1);
  let exps = await loadExperiments(a.experiment, {
    opts: a.opts,
    cwd,
    // --slurm --dry-run checks as a submission does: what is wrong should fail now, not in the queue
    dryRun: f["dry-run"] && !f.slurm,
    overrides: {
      output: f.output,
      resume: f.resume,
      onlyTest: mode === "eval" || f["only-test"],
      batchSize: optionalInt(f["batch-size"], "batch-size"),
      accumulationSteps: optionalInt(f["accumulation-steps"], "accumulation-steps"),
      worldSize: optionalInt(f["world-size"], "world-size"),
    },
  });
  if (f.only !== undefined) {
    const all = exps.map((e) => e.name);
    exps = exps.filter((e) => f.exact ? e.name === f.only : e.name.includes(f.only!));
    if (!exps.length) throw new UsageError(`--only ${f.only} matches none of: ${all.join(", ")}`);
  }
  for (const e of exps) applyFlags(e, a, cwd);
  if (f.continue && !f.resume) { for (const e of exps) await continueOwnRun(e); }
  return exps;
}

/**
 * `--continue` without `--resume`: carry on from the newest training state the output folder holds
 * (`last.safetensors`, or a later validated epoch's file: a requeued Slurm task, or one whose node
 * failed), else start the schedule (its first attempt).
 */
async function continueOwnRun(e: ResolvedExperiment): Promise<void> {
  if (!e.train) return;
  const newest = await newestState(e.output);
  if (newest) e.train.resume = { path: newest, mode: "continue" };
}

/** What the flags that act on a resolved experiment (`--continue`, `--weights`, `--clips`, …) set. */
function applyFlags(e: ResolvedExperiment, a: TrainArgs, cwd: string): void {
  const f = a.flags;
  if (f.continue && e.train?.resume) e.train.resume.mode = "continue";
  if (f.weights) e.model.weights = resolvePath(cwd, f.weights);
  if (f["clip-weights"]) e.model.clipWeights = resolvePath(cwd, f["clip-weights"]);
  for (const v of e.evals) {
    if (f.clips !== undefined) v.clips = intArg(f.clips, "clips", 1, 1);
    if (f.crops !== undefined) v.crops = a.crops;
    if (f["drop-last"]) {
      v.dropLast = true;
      v.worldSize = f["world-size"] === undefined
        ? UPSTREAM_WORLD_SIZE
        : intArg(f["world-size"], "world-size", 0, 1);
    }
  }
  if (!e.train && !e.pretrain && !e.evals.length) throw new UsageError(`${e.name}: nothing to evaluate`);
}

/**
 * Whether any rank was asked to stop (Ctrl-C/SIGTERM): decided by all together, so no rank starts the
 * next experiment while another leaves (and waits in a collective for it).
 */
async function anyStopped(world: World, signal: AbortSignal): Promise<boolean> {
  if (!world.distributed) return signal.aborted;
  const flag = Float64Array.of(signal.aborted ? 1 : 0);
  await world.allreduceSum(flag);
  return flag[0] > 0;
}

/**
 * Runs the experiments one after another into the store (unless `--no-store`), until one is
 * interrupted; the exit status is 0, or 130/143 after Ctrl-C/SIGTERM. Started by mpirun or srun with
 * several ranks, every rank runs them together (data-parallel); rank 0 alone opens the store, writes
 * the output folders and prints; the others print only their errors.
 */
async function runAll(
  exps: ResolvedExperiment[],
  f: Flags,
): Promise<{ status: number; results: Record<string, unknown>[] }> {
  const world = initWorld();
  const rank0 = world.rank === 0;
  if (world.distributed && rank0) {
    console.error(`data-parallel over ${world.size} MPI ranks (rank 0 writes the store and the outputs)`);
  }
  const store = f["no-store"] || !rank0 ? undefined : ResultsStore.open(f.db ?? defaultResultsPath());
  const recovered = store?.recovered ?? [];
  if (recovered.length) {
    console.error(`marked ${recovered.length} abandoned run(s) failed: ${recovered.join(", ")}`);
  }
  let current: number | undefined;
  const interrupts = onInterrupts(() => markInterrupted(store, current));
  const rt = await getRuntime();
  // every rank says which adapter it opened; ranks of one host on one GPU while it has several → a warning
  await checkGpusPerRank(world, rt.gpu.info);
  const commit = currentCommit();
  const results: Record<string, unknown>[] = [];
  let status = 0;
  try {
    for (const exp of exps) {
      if (await anyStopped(world, interrupts.signal)) break;
      const progress = rank0 ? trainProgress() : quietProgress();
      progress.line(
        `${exp.name}: ${
          exp.train
            ? `training ${exp.train.epochs} epochs`
            : exp.pretrain
            ? `pretraining ${exp.pretrain.steps} steps`
            : "evaluating"
        } → ${exp.output}`,
      );
      const r = await runExperiment(rt, exp, {
        recorder: store,
        commit,
        log: (s) => progress.line(`${exp.name}: ${s}`),
        onProgress: (e) => progress.update(e),
        signal: interrupts.signal,
        onRun: (id) => current = id,
        world,
      });
      progress.done();
      if (rank0) printOutcome(exp, r, store);
      results.push(summaryJson(exp, r));
      if (r.status === "interrupted") {
        // every rank stopped at the same step (epoch.ts agrees on it), also one that got no signal
        status = interrupts.signal.aborted ? interrupts.exitCode() : 143;
        break;
      }
    }
  } finally {
    interrupts.dispose();
    store?.close();
  }
  if (!rank0) results.length = 0;
  // A rank leaving with 130/143 while rank 0 still saves would have the launcher end rank 0 mid-write:
  // every rank waits here for the others, and MPI ends cleanly before any exit code is given.
  if (world.distributed) {
    await world.barrier();
    await world.finalize();
  }
  return { status, results };
}

/** Ranks other than 0 print no progress: the job's output is rank 0's. */
function quietProgress(): TrainProgress {
  return { line: () => {}, update: () => {}, done: () => {} };
}

/** One line on stderr per experiment run: how it ended, how long it took, where it is stored. */
function printOutcome(exp: ResolvedExperiment, r: RunOutcome, store: ResultsStore | undefined): void {
  console.error(
    `${exp.name}: ${r.status} in ${formatDuration(r.timing.seconds)}` +
      (r.runId !== undefined ? ` (run ${r.runId} in ${store!.path})` : ""),
  );
}

/** What `--json` prints of one run. */
function summaryJson(exp: ResolvedExperiment, r: RunOutcome): Record<string, unknown> {
  return {
    experiment: exp.name,
    runId: r.runId ?? null,
    status: r.status,
    epochs: r.epochsRun,
    best: r.best ?? null,
    evals: r.evals.map((e) => ({
      name: e.name,
      clips: e.views.clips,
      crops: e.views.crops,
      top1: e.result.top1,
      top5: e.result.top5,
      count: e.result.count,
    })),
    checkpoints: r.checkpoints,
    timing: r.timing,
  };
}

/** `--json`: one object per experiment (the object alone for one). */
function printJson(results: Record<string, unknown>[]): void {
  console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
}

/**
 * `--slurm`: the data of every experiment checked first (a missing video fails here, not in the queue),
 * then the job array's script printed (`--dry-run`) or submitted; the job id on stdout.
 */
async function submit(exps: ResolvedExperiment[], a: TrainArgs, options: SlurmOptions): Promise<number> {
  checkRanks(exps, options);
  let ok = true;
  for (const e of exps) ok = (await checkLists(e, console.error)) && ok;
  if (!ok) {
    console.error("error: videos are missing (listed above); nothing was submitted");
    return 1;
  }
  const f = a.flags;
  const job = sweepJob(exps, a.experiment, {
    cwd: defaultCwd(),
    trainModule: import.meta.url,
    db: f.db,
    noStore: f["no-store"],
    output: f.output,
    opts: a.opts,
    worldSize: f["world-size"],
    batchSize: f["batch-size"],
    accumulationSteps: f["accumulation-steps"],
  });
  if (f["dry-run"]) {
    console.log(renderSbatch(job, options));
    return 0;
  }
  const { jobId, script } = await submitSweep(job, options);
  console.error(`submitted ${exps.length} experiment(s) as Slurm job array ${jobId} (${script})`);
  console.log(jobId);
  return 0;
}

export async function main(args: string[], mode: "train" | "eval" = "train"): Promise<number> {
  try {
    const a = parseTrainArgs(args, mode);
    if (!a) {
      console.log(USAGE);
      return 0;
    }
    const slurm = slurmOptions(a.flags);
    const exps = await experimentsToRun(a, mode);
    if (slurm) return await submit(exps, a, slurm);
    if (a.flags["dry-run"]) {
      const out = exps.map((e) => ({ ...describeResolved(e), warnings: e.warnings ?? [] }));
      printJson(out);
      return 0;
    }
    if (a.flags["check-data"]) {
      let ok = true;
      for (const e of exps) ok = (await checkLists(e)) && ok;
      return ok ? 0 : 1;
    }
    const { status, results } = await runAll(exps, a.flags);
    if (a.flags.json) printJson(results);
    return status;
  } catch (e) {
    return reportError(e, USAGE);
  }
}

if (import.meta.main) {
  // said before exiting: an MPI rank finalizes on the way out only when it ends well (lib/dist/mpi.ts)
  Deno.exitCode = await main(Deno.args, "train");
  Deno.exit(Deno.exitCode);
}
