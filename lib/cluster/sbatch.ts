// The sbatch script of a sweep: one Slurm job array, one array task per experiment, each task running
// `train FILE --only NAME --exact --continue` so that a task Slurm requeues carries on from its own
// `last.safetensors`. Everything the script names is an absolute path and the task's folder is set by the
// script itself, so a compute node needs neither the submitting shell's working directory nor `~`.
//
// Time limits: `--signal=B:USR1@120` sends USR1 to the batch shell (B:) two minutes before the limit; the
// shell sends the trainer SIGTERM (not USR1: Deno opens its V8 inspector on 127.0.0.1:9229 when it gets
// SIGUSR1), the trainer finishes its step, saves and exits, and the shell then requeues
// its own task (`scontrol requeue`), at most `maxRequeues` times (SLURM_RESTART_COUNT counts them). A task
// that fails for a reason of its own (an exit without USR1) is not requeued at all. `--requeue` lets
// Slurm requeue a task whose node failed or that a higher-priority job preempted.

/** What the user asks of Slurm (`deno task train FILE --slurm …`). */
export interface SlurmOptions {
  partition?: string;
  /** GPUs per array task; 0 asks for none (the CPU-only cluster of CI) */
  gpusPerTask: number;
  /** `HH:MM:SS` or `D-HH:MM:SS`; over the 120 s of warning before the limit */
  time?: string;
  /** how many array tasks may run at once (`%N`); all of them when absent */
  maxParallel?: number;
  account?: string;
  /** more sbatch options, each `--name=value` or `--flag`, written as #SBATCH lines */
  extraArgs: string[];
  /** requeues after a time-limit signal before a task gives up */
  maxRequeues: number;
  /**
   * data-parallel: each array task is one model trained on `nodes` nodes with `gpusPerNode` ranks (one
   * per GPU) on each, started by `srun --mpi=pmix` (lib/dist reads PMIX_RANK); 0 GPUs is one rank a node
   */
  dataParallel?: { nodes: number; gpusPerNode: number };
}

/** MPI ranks of a data-parallel task: one per GPU, one per node without GPUs. */
export function ranksOf(dp: { nodes: number; gpusPerNode: number }): number {
  return dp.nodes * Math.max(dp.gpusPerNode, 1);
}

/** The sweep the script runs: absolute paths only. */
export interface SweepJob {
  jobName: string;
  /** the experiment file (.exp.ts or .yaml) */
  experimentFile: string;
  /** one array task per name, in this order (task i runs names[i]) */
  names: string[];
  /** the shared output folder: the script and the tasks' stdout/stderr go under `<outputDir>/slurm/` */
  outputDir: string;
  /** where the sweep's relative paths were resolved at submit time; each task runs there */
  cwd: string;
  /** the Deno executable and the train CLI each task runs */
  deno: string;
  trainScript: string;
  /** arguments every task passes to train after the per-task ones (e.g. `--db URL`) */
  trainArgs: string[];
  /**
   * variables the submission hands the tasks through sbatch's environment (it exports the submitter's by
   * default), never written to the script: a database password (PGPASSWORD)
   */
  secretEnv?: Record<string, string>;
}

/** Seconds Slurm gives the trainer between USR1 and the time limit. */
export const SIGNAL_LEAD_S = 120;

/** sbatch options the script sets itself; `--sbatch-arg` may not set them again. */
const MANAGED = [
  "array",
  "output",
  "error",
  "open-mode",
  "chdir",
  "signal",
  "requeue",
  "no-requeue",
  "job-name",
  // the layout of a data-parallel task (--nodes/--gpus-per-node) or of a single process
  "nodes",
  "ntasks",
  "ntasks-per-node",
];
const MANAGED_SHORT: Record<string, string> = {
  a: "array",
  o: "output",
  e: "error",
  D: "chdir",
  J: "job-name",
  N: "nodes",
  n: "ntasks",
};

/** Slurm partition and account names: letters, digits, `_`, `.`, `-`. */
const SLURM_NAME = /^[A-Za-z0-9_.-]+$/;

function fail(option: string, why: string): never {
  throw new Error(`--${option} ${why}`);
}

/** Seconds of a `--time` value; `HH:MM:SS` or `D-HH:MM:SS` with minutes and seconds under 60. */
export function parseTimeLimit(time: string): number {
  const m = /^(?:([0-9]+)-)?([0-9]{1,3}):([0-9]{2}):([0-9]{2})$/.exec(time);
  if (!m) fail("time", `must be HH:MM:SS or D-HH:MM:SS, got ${JSON.stringify(time)}`);
  const [d, h, min, s] = [m[1] ?? "0", m[2], m[3], m[4]].map(Number);
  if (min >= 60 || s >= 60) fail("time", `has minutes or seconds over 59: ${JSON.stringify(time)}`);
  return ((d * 24 + h) * 60 + min) * 60 + s;
}

/** Bash single quotes: everything literal, a quote written as '\''. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * A value on an `#SBATCH` line. sbatch reads those lines itself, not through a shell: a double quote
 * toggles quoting (the only way to keep a space), a backslash takes the next character literally and an
 * unescaped `#` starts a comment, so the value goes in double quotes with `"`, `\` and `#` escaped.
 */
export function sbatchValue(s: string, option: string): string {
  if (/[\n\r\0]/.test(s)) fail(option, `has a line break or NUL: ${JSON.stringify(s)}`);
  return `"${s.replace(/["\\#]/g, (c) => `\\${c}`)}"`;
}

/**
 * A log file pattern under the output folder. `%` introduces Slurm's own patterns (%A job, %a task), so
 * a literal `%` is doubled; a backslash anywhere turns Slurm's patterns off, so it is refused.
 */
function logPattern(outputDir: string, file: string): string {
  if (outputDir.includes("\\")) {
    fail("output", `has a backslash, which turns off Slurm's %A/%a: ${outputDir}`);
  }
  return `${outputDir.replaceAll("%", "%%")}/slurm/${file}`;
}

function checkAbsolute(path: string, option: string): void {
  if (!path.startsWith("/")) fail(option, `must be an absolute path, got ${JSON.stringify(path)}`);
}

/** The options, checked: each refusal is one line naming the option. */
export function checkSlurmOptions(o: SlurmOptions): void {
  if (o.partition !== undefined && !SLURM_NAME.test(o.partition)) {
    fail("partition", `must be letters, digits, '_', '.' or '-', got ${JSON.stringify(o.partition)}`);
  }
  if (o.account !== undefined && !SLURM_NAME.test(o.account)) {
    fail("account", `must be letters, digits, '_', '.' or '-', got ${JSON.stringify(o.account)}`);
  }
  if (!Number.isSafeInteger(o.gpusPerTask) || o.gpusPerTask < 0) {
    fail("gpus-per-task", `must be an integer >= 0, got ${o.gpusPerTask}`);
  }
  if (o.maxParallel !== undefined && (!Number.isSafeInteger(o.maxParallel) || o.maxParallel < 1)) {
    fail("max-parallel", `must be an integer >= 1, got ${o.maxParallel}`);
  }
  if (!Number.isSafeInteger(o.maxRequeues) || o.maxRequeues < 0) {
    fail("max-requeues", `must be an integer >= 0, got ${o.maxRequeues}`);
  }
  if (o.time !== undefined && parseTimeLimit(o.time) <= SIGNAL_LEAD_S) {
    fail("time", `must be over ${SIGNAL_LEAD_S} s (the trainer is warned ${SIGNAL_LEAD_S} s before it)`);
  }
  if (o.dataParallel) {
    const { nodes, gpusPerNode } = o.dataParallel;
    if (!Number.isSafeInteger(nodes) || nodes < 1) fail("nodes", `must be an integer >= 1, got ${nodes}`);
    if (!Number.isSafeInteger(gpusPerNode) || gpusPerNode < 0) {
      fail("gpus-per-node", `must be an integer >= 0, got ${gpusPerNode}`);
    }
    if (o.gpusPerTask > 1) {
      fail("gpus-per-task", "is one GPU per rank with --nodes/--gpus-per-node (each rank trains on one)");
    }
  }
  for (const a of o.extraArgs) {
    const m = /^(?:--([a-z][a-z-]*)(?:=.*)?|-([A-Za-z])(?:.*)?)$/s.exec(a);
    if (!m) fail("sbatch-arg", `must be --name=value or --flag, got ${JSON.stringify(a)}`);
    const name = m[1] ?? MANAGED_SHORT[m[2]];
    if (name && MANAGED.includes(name)) fail("sbatch-arg", `${a}: vifi sets --${name} itself`);
    sbatchValue(a, "sbatch-arg");
  }
}

function checkSweep(s: SweepJob): void {
  checkAbsolute(s.experimentFile, "slurm (experiment file)");
  checkAbsolute(s.outputDir, "output");
  checkAbsolute(s.cwd, "slurm (working folder)");
  checkAbsolute(s.deno, "slurm (deno executable)");
  checkAbsolute(s.trainScript, "slurm (train script)");
  if (!s.names.length) fail("slurm", "has no experiment to submit");
  const seen = new Set<string>();
  for (const n of s.names) {
    if (!n || /[\n\r\0]/.test(n)) fail("slurm", `cannot submit an experiment named ${JSON.stringify(n)}`);
    if (seen.has(n)) fail("slurm", `two experiments of the sweep are named ${JSON.stringify(n)}`);
    seen.add(n);
  }
}

/** The #SBATCH header: what the job array asks Slurm for. */
function header(s: SweepJob, o: SlurmOptions): string[] {
  const n = s.names.length;
  const lines = [
    `--job-name=${sbatchValue(s.jobName, "slurm (job name)")}`,
    `--array=0-${n - 1}${o.maxParallel !== undefined ? `%${o.maxParallel}` : ""}`,
    ...layout(o),
    ...(o.partition !== undefined ? [`--partition=${o.partition}`] : []),
    ...(o.account !== undefined ? [`--account=${o.account}`] : []),
    ...gpus(o),
    ...(o.time !== undefined ? [`--time=${o.time}`] : []),
    `--signal=B:USR1@${SIGNAL_LEAD_S}`,
    "--requeue",
    `--chdir=${sbatchValue(s.cwd, "slurm (working folder)")}`,
    `--output=${sbatchValue(logPattern(s.outputDir, "%A_%a.out"), "output")}`,
    `--error=${sbatchValue(logPattern(s.outputDir, "%A_%a.err"), "output")}`,
    // a requeued task writes to the same files: append, or its earlier attempts' logs are lost
    "--open-mode=append",
    ...o.extraArgs.map((a) => {
      const eq = a.indexOf("=");
      return eq < 0 ? a : `${a.slice(0, eq + 1)}${sbatchValue(a.slice(eq + 1), "sbatch-arg")}`;
    }),
  ];
  return lines.map((l) => `#SBATCH ${l}`);
}

/** The processes of one array task: one, or a data-parallel job's nodes and ranks a node. */
function layout(o: SlurmOptions): string[] {
  const dp = o.dataParallel;
  if (!dp) return ["--ntasks=1"];
  return [`--nodes=${dp.nodes}`, `--ntasks-per-node=${Math.max(dp.gpusPerNode, 1)}`];
}

/** The GPUs of one array task: its own, or (data-parallel) a node's, one a rank. */
function gpus(o: SlurmOptions): string[] {
  const dp = o.dataParallel;
  if (!dp) return o.gpusPerTask > 0 ? [`--gpus-per-task=${o.gpusPerTask}`] : [];
  return dp.gpusPerNode > 0 ? [`--gpus-per-node=${dp.gpusPerNode}`] : [];
}

/**
 * How the batch shell starts the trainer: itself, or (data-parallel) one rank per task through srun,
 * which forwards the shell's SIGTERM to every rank (the ranks then agree on the step to stop at), and
 * ends the step when a rank fails (--kill-on-bad-exit) instead of leaving the others waiting.
 */
function launcher(o: SlurmOptions): string {
  if (!o.dataParallel) return "";
  return "srun --mpi=pmix --kill-on-bad-exit=1 ";
}

/** The script's body: pick this task's experiment, run it, forward the warning, requeue within the bound. */
function body(s: SweepJob, o: SlurmOptions): string[] {
  const train = [s.deno, "run", "-A", s.trainScript, s.experimentFile].map(shellQuote).join(" ");
  const more = s.trainArgs.map(shellQuote).join(" ");
  return [
    "set -uo pipefail",
    `names=(${s.names.map(shellQuote).join(" ")})`,
    'name="${names[$SLURM_ARRAY_TASK_ID]}"',
    `max_requeues=${o.maxRequeues}`,
    'restarts="${SLURM_RESTART_COUNT:-0}"',
    `export INIT_CWD=${shellQuote(s.cwd)}`,
    `cd ${shellQuote(s.cwd)} || exit 1`,
    // the start time (Unix seconds, ms) beside the submit time and the first step's: Slurm's overhead
    'echo "vifi: array task $SLURM_ARRAY_TASK_ID ($name), job $SLURM_JOB_ID, restart $restarts, on $(hostname) at $(date +%s.%3N)" >&2',
    // in the background, so that this shell can take USR1 while the trainer runs
    `${launcher(o)}${train} --only "$name" --exact --continue${more ? ` ${more}` : ""} &`,
    "child=$!",
    "usr1=0",
    `trap 'usr1=1; kill -TERM "$child" 2>/dev/null' USR1`,
    `trap 'kill -TERM "$child" 2>/dev/null' TERM`,
    // a trapped signal ends `wait` early: wait again until the trainer itself has exited
    'while kill -0 "$child" 2>/dev/null; do wait "$child"; done',
    'wait "$child"',
    "status=$?",
    'if [ "$usr1" = 1 ]; then',
    '  if [ "$restarts" -lt "$max_requeues" ]; then',
    '    echo "vifi: $name saved before the time limit (exit $status); requeueing" >&2',
    '    scontrol requeue "$SLURM_JOB_ID" && exit 0',
    "  fi",
    '  echo "vifi: $name reached the time limit after $restarts requeues (at most $max_requeues)" >&2',
    "fi",
    'exit "$status"',
  ];
}

/** The whole sbatch script of a sweep; throws a one-line error naming the option at fault. */
export function renderSbatch(sweep: SweepJob, options: SlurmOptions): string {
  checkSlurmOptions(options);
  checkSweep(sweep);
  return [
    "#!/bin/bash",
    ...header(sweep, options),
    `# vifi: ${sweep.names.length} experiment(s) of ${sweep.experimentFile}, one array task each` +
    (options.dataParallel ? `, ${ranksOf(options.dataParallel)} MPI ranks a task` : ""),
    ...body(sweep, options),
    "",
  ].join("\n");
}

/** Where the script is written: next to the tasks' logs in the shared output folder. */
export function scriptPath(outputDir: string, jobName: string): string {
  return `${outputDir}/slurm/${jobName.replace(/[^A-Za-z0-9_.-]/g, "_")}.sbatch`;
}
