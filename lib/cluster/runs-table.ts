// `deno task runs`' table: one row per array task in Slurm's queue, beside the run it is in the results
// store (matched by the run's slurmJob, "<array job>_<task>", which a requeued task keeps), then the
// store's recent runs that are no longer (or never were) in the queue. The queue knows what waits and
// runs; the store knows the rest (status, epoch, last loss, best top-1), and is all that is left of a
// task that has left the queue (no accounting on the local cluster).

import type { ResultsStore, RunStatus, RunSummary } from "../results/store.ts";
import { type QueueTask, splitTaskId } from "./squeue.ts";

/** What the table reads of a store. */
export type RunsSource = Pick<ResultsStore, "listRuns" | "getRun" | "stepMetrics">;

export interface RunsRow {
  experiment: string;
  /** the queue's state; null when the task is not in the queue (finished, or never submitted) */
  slurm: string | null;
  /** the store's status; null when the task has no run yet (pending, or starting) */
  status: RunStatus | null;
  /** the epoch the run is in (1-based) and of how many, e.g. "2/3" */
  epoch: string | null;
  lastLoss: number | null;
  /** the best validated top-1 (percent) */
  bestTop1: number | null;
  runId: number | null;
  /** "<array job>_<task>" (or a plain job id) */
  job: string | null;
}

export interface RunsOptions {
  /** only this job array's tasks and runs */
  jobId?: string;
  /** how many of the store's recent runs beside the queue's (default 20) */
  recent?: number;
  /** the experiments of an sbatch script, by array task (squeue.ts' scriptNames) */
  names?: (script: string) => Promise<string[] | undefined>;
}

function inJob(slurmJob: string | null, jobId: string | undefined): boolean {
  if (jobId === undefined) return true;
  return slurmJob !== null && (slurmJob === jobId || splitTaskId(slurmJob)[0] === jobId);
}

/** The epoch, last loss and best top-1 of a stored run. */
function progressOf(store: RunsSource, run: RunSummary): Pick<RunsRow, "epoch" | "lastLoss" | "bestTop1"> {
  const detail = store.getRun(run.id);
  const steps = store.stepMetrics(run.id);
  const last = steps.at(-1);
  const epochs = (detail?.config as { train?: { epochs?: number } } | undefined)?.train?.epochs;
  const vals = (detail?.epochs ?? []).map((e) => e.valTop1).filter((v): v is number => v !== null);
  const best = (run.metrics as { best?: { top1?: number } } | null)?.best?.top1 ??
    (vals.length ? Math.max(...vals) : null);
  return {
    epoch: last && epochs ? `${last.epoch + 1}/${epochs}` : null,
    lastLoss: last?.loss ?? null,
    bestTop1: best,
  };
}

/** The table's rows: the queue's tasks first (in job and task order), then the store's other recent runs. */
export async function runsRows(
  store: RunsSource | undefined,
  queue: QueueTask[] | undefined,
  opts: RunsOptions = {},
): Promise<RunsRow[]> {
  const runs = (store?.listRuns() ?? []).filter((r) => inJob(r.slurmJob, opts.jobId));
  // newest first: a task's latest run is the one that speaks for it
  runs.sort((a, b) => b.id - a.id);
  const byJob = new Map<string, RunSummary>();
  for (const r of runs) if (r.slurmJob && !byJob.has(r.slurmJob)) byJob.set(r.slurmJob, r);
  const shown = new Set<number>();
  const namesOf = new Map<string, Promise<string[] | undefined>>();
  const rows: RunsRow[] = [];
  const tasks = (queue ?? []).filter((t) => inJob(t.id, opts.jobId)).sort(byTask);
  for (const t of tasks) {
    const run = byJob.get(t.id);
    const [, task] = splitTaskId(t.id);
    if (!namesOf.has(t.script)) namesOf.set(t.script, opts.names?.(t.script) ?? Promise.resolve(undefined));
    const names = await namesOf.get(t.script)!;
    const experiment = (task !== undefined ? names?.[task] : undefined) ?? run?.experiment ?? t.jobName;
    if (run) shown.add(run.id);
    rows.push(row(store, experiment, t.state, run, t.id));
  }
  const others = runs.filter((r) => !shown.has(r.id)).slice(0, opts.recent ?? 20);
  for (const r of others) rows.push(row(store, r.experiment, null, r, r.slurmJob));
  return rows;
}

function row(
  store: RunsSource | undefined,
  experiment: string,
  slurm: string | null,
  run: RunSummary | undefined,
  job: string | null,
): RunsRow {
  const p = run && store ? progressOf(store, run) : { epoch: null, lastLoss: null, bestTop1: null };
  return { experiment, slurm, status: run?.status ?? null, ...p, runId: run?.id ?? null, job };
}

function byTask(a: QueueTask, b: QueueTask): number {
  const [ja, ta] = splitTaskId(a.id), [jb, tb] = splitTaskId(b.id);
  return Number(ja) - Number(jb) || (ta ?? -1) - (tb ?? -1);
}

/** The rows as an aligned text table ("-" where a value is unknown). */
export function formatRunsTable(rows: RunsRow[]): string {
  const head = ["experiment", "slurm", "status", "epoch", "last loss", "best top-1", "run", "job"];
  const cells = rows.map((r) => [
    r.experiment,
    r.slurm ?? "-",
    r.status ?? "-",
    r.epoch ?? "-",
    r.lastLoss !== null ? r.lastLoss.toFixed(4) : "-",
    r.bestTop1 !== null ? r.bestTop1.toFixed(2) : "-",
    r.runId !== null ? String(r.runId) : "-",
    r.job ?? "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...cells.map(line)].join("\n");
}
