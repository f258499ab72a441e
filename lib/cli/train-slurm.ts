// `deno task train FILE --slurm …`: the sweep as one Slurm job array (lib/cluster/sbatch.ts writes the
// script). Here: the flags, what every array task is told (absolute paths, the same results store), the
// shared folder the script and logs go to, and the submission itself (`sbatch --parsable`).

import { basename, dirname, isAbsolute, resolve as resolvePath } from "node:path";
import { batchPlan, ranksShareOf } from "../dsl/batch-plan.ts";
import type { ResolvedExperiment } from "../dsl/types.ts";
import { defaultResultsPath } from "../results/store.ts";
import { isPostgresTarget, sqliteFile } from "../results/sql.ts";
import { ranksOf, renderSbatch, scriptPath, type SlurmOptions, type SweepJob } from "../cluster/sbatch.ts";
import { intArg, UsageError } from "./args.ts";

export const SLURM_FLAGS = {
  slurm: { type: "boolean" },
  partition: { type: "string" },
  "gpus-per-task": { type: "string" },
  time: { type: "string" },
  "max-parallel": { type: "string" },
  account: { type: "string" },
  "sbatch-arg": { type: "string", multiple: true },
  "max-requeues": { type: "string" },
  nodes: { type: "string" },
  "gpus-per-node": { type: "string" },
} as const;

export const SLURM_USAGE =
  `  deno task train EXPERIMENT --slurm [--partition P] [--gpus-per-task 1] [--time HH:MM:SS]
                  [--max-parallel N] [--account A] [--sbatch-arg=--NAME=VALUE …] [--max-requeues 3]
                  [--nodes M --gpus-per-node G] [--output DIR] [--db FILE|URL] [--dry-run]
      --slurm       one Slurm job array, one task per experiment; the data is checked first, the script
                    written to <output>/slurm/ (printed by --dry-run) and submitted with sbatch; prints the
                    job id. Two minutes before --time each task saves and requeues itself (at most
                    --max-requeues times) and carries on with --continue; a task that fails is not retried.
                    A password in a postgres:// --db reaches the tasks as PGPASSWORD through sbatch's
                    environment, not through the script (so not with --sbatch-arg=--export=NONE)
      --nodes/--gpus-per-node  each task data-parallel: M nodes × G ranks (one a GPU; G 0: one a node)
                    started by srun --mpi=pmix; batch × accumulation × worldSize must divide among them`;

/** The values of the Slurm flags (undefined when not given). */
export interface SlurmFlags {
  slurm?: boolean;
  partition?: string;
  "gpus-per-task"?: string;
  time?: string;
  "max-parallel"?: string;
  account?: string;
  "sbatch-arg"?: string[];
  "max-requeues"?: string;
  nodes?: string;
  "gpus-per-node"?: string;
}

/** Requeues after a time-limit warning: enough for a run 4× longer than the limit, not an endless loop. */
export const DEFAULT_MAX_REQUEUES = 3;

/** The Slurm options the flags ask for; a Slurm flag without `--slurm` is a usage error. */
export function slurmOptions(f: SlurmFlags): SlurmOptions | undefined {
  if (!f.slurm) {
    const given = (Object.keys(SLURM_FLAGS) as (keyof SlurmFlags)[]).find((k) => f[k] !== undefined);
    if (given) throw new UsageError(`--${given} needs --slurm`);
    return undefined;
  }
  return {
    partition: f.partition,
    gpusPerTask: intArg(f["gpus-per-task"], "gpus-per-task", 1, 0),
    time: f.time,
    maxParallel: f["max-parallel"] === undefined
      ? undefined
      : intArg(f["max-parallel"], "max-parallel", 0, 1),
    account: f.account,
    extraArgs: f["sbatch-arg"] ?? [],
    maxRequeues: intArg(f["max-requeues"], "max-requeues", DEFAULT_MAX_REQUEUES, 0),
    dataParallel: f.nodes === undefined && f["gpus-per-node"] === undefined ? undefined : {
      nodes: intArg(f.nodes, "nodes", 1, 1),
      gpusPerNode: intArg(f["gpus-per-node"], "gpus-per-node", 1, 0),
    },
  };
}

/**
 * A data-parallel submission refused now, not in the queue, when an experiment's micro-batches per
 * update (accumulation × worldSize) do not divide among the ranks (the trainer would refuse the same).
 */
export function checkRanks(exps: ResolvedExperiment[], o: SlurmOptions): void {
  if (!o.dataParallel) return;
  const ranks = ranksOf(o.dataParallel);
  for (const e of exps) {
    if (!e.train) continue;
    const plan = batchPlan(e.train.videos, e.train);
    if (ranksShareOf(plan, ranks) === undefined) {
      throw new UsageError(
        `${e.name}: ${plan.microBatchesPerUpdate} micro-batches per update (accumulation × worldSize) do not divide among ` +
          `${ranks} ranks (--nodes × --gpus-per-node); set --world-size or --accumulation-steps`,
      );
    }
  }
}

/** The deepest folder holding every experiment's output: where the script and the tasks' logs go. */
export function sharedOutput(outputs: string[]): string {
  let parts = outputs[0].split("/");
  for (const o of outputs.slice(1)) {
    const p = o.split("/");
    let i = 0;
    while (i < parts.length && i < p.length && parts[i] === p[i]) i++;
    parts = parts.slice(0, i);
  }
  const dir = outputs.length === 1 ? outputs[0] : parts.join("/");
  if (!dir || dir === "/") {
    throw new UsageError(
      `--output: the experiments' outputs share no folder (${outputs.join(", ")}); give one`,
    );
  }
  return dir;
}

/** What a task's train command is told besides `--only NAME --exact --continue`: the store, the flags. */
export interface PassThrough {
  cwd: string;
  /** the train CLI's own module URL (its import.meta.url): what each task runs */
  trainModule: string;
  db?: string;
  noStore?: boolean;
  output?: string;
  opts: string[];
  worldSize?: string;
  batchSize?: string;
  accumulationSteps?: string;
}

/**
 * A PostgreSQL URL's password taken out of it: the script (a file others on the cluster may read) gets the
 * URL without it, and the tasks get the password as PGPASSWORD, which the client reads when the URL has none.
 */
export function splitPassword(url: string): { url: string; password?: string } {
  const u = new URL(url);
  let password: string | undefined;
  if (u.password) {
    password = decodeURIComponent(u.password);
    u.password = "";
  }
  if (u.searchParams.has("password")) {
    password ??= u.searchParams.get("password")!;
    u.searchParams.delete("password");
  }
  return { url: u.href, password };
}

function storeArgs(p: PassThrough): { args: string[]; secretEnv?: Record<string, string> } {
  if (p.noStore) return { args: ["--no-store"] };
  // every task writes to the one store the submitter would have: a file by its absolute path, or a URL
  const db = p.db ?? defaultResultsPath();
  if (!isPostgresTarget(db)) return { args: ["--db", resolvePath(p.cwd, sqliteFile(db))] };
  const { url, password } = splitPassword(db);
  return { args: ["--db", url], secretEnv: password === undefined ? undefined : { PGPASSWORD: password } };
}

function trainArgs(p: PassThrough): string[] {
  const args = [...storeArgs(p).args];
  if (p.output !== undefined) args.push("--output", resolvePath(p.cwd, p.output));
  if (p.worldSize !== undefined) args.push("--world-size", p.worldSize);
  if (p.batchSize !== undefined) args.push("--batch-size", p.batchSize);
  if (p.accumulationSteps !== undefined) args.push("--accumulation-steps", p.accumulationSteps);
  if (p.opts.length) args.push("--opts", ...p.opts);
  return args;
}

/** The job array's description: the experiments in order, every path absolute. */
export function sweepJob(exps: ResolvedExperiment[], experimentFile: string, p: PassThrough): SweepJob {
  const trainScript = new URL(p.trainModule);
  if (trainScript.protocol !== "file:") {
    throw new UsageError(`--slurm needs vifi as local files, not ${trainScript.href}`);
  }
  const outputs = exps.map((e) => e.output);
  for (const o of outputs) if (!isAbsolute(o)) throw new UsageError(`--output: ${o} is not absolute`);
  const file = resolvePath(p.cwd, experimentFile);
  return {
    jobName: `vifi-${basename(file).replace(/\.(exp\.ts|ya?ml)$/, "")}`,
    experimentFile: file,
    names: exps.map((e) => e.name),
    // the folder given once (--output), or the deepest one holding every output
    outputDir: p.output !== undefined ? resolvePath(p.cwd, p.output) : sharedOutput(outputs),
    cwd: p.cwd,
    deno: Deno.execPath(),
    trainScript: trainScript.pathname,
    trainArgs: trainArgs(p),
    secretEnv: storeArgs(p).secretEnv,
  };
}

/** The script, written next to the outputs, submitted; the job id sbatch answers. */
export async function submitSweep(
  job: SweepJob,
  options: SlurmOptions,
): Promise<{ jobId: string; script: string }> {
  const text = renderSbatch(job, options);
  const script = scriptPath(job.outputDir, job.jobName);
  await Deno.mkdir(dirname(script), { recursive: true });
  await Deno.writeTextFile(script, text);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("sbatch", {
      args: ["--parsable", script],
      env: job.secretEnv,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new Error(`--slurm: cannot run sbatch (${(e as Error).message}); the script is ${script}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    const why = dec.decode(out.stderr).trim().replace(/\s*\n\s*/g, " ");
    throw new Error(`--slurm: sbatch refused ${script}: ${why}`);
  }
  // --parsable answers "ID" or "ID;CLUSTER"
  const jobId = dec.decode(out.stdout).trim().split(";")[0];
  if (!/^[0-9]+$/.test(jobId)) {
    throw new Error(`--slurm: sbatch answered ${JSON.stringify(jobId)}, not a job id`);
  }
  return { jobId, script };
}
