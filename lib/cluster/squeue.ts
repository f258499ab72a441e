// What Slurm's queue says of vifi's job arrays: `squeue` (one line per array task, `-r`), parsed; and the
// experiment each array task runs, read from the job's own sbatch script (its `names=(…)` line, which
// lib/cluster/sbatch.ts writes), so a task that has not started yet still shows its experiment. The local
// cluster keeps no accounting (no sacct): a task that has left the queue is known only by the store.

/** One array task (or plain job) in the queue. */
export interface QueueTask {
  /** `<array job>_<task>` for an array task, `<job>` for a plain job: what a run's slurmJob holds */
  id: string;
  /** PENDING, RUNNING, COMPLETING, REQUEUED, … (squeue's long state) */
  state: string;
  /** time used, as squeue prints it */
  time: string;
  /** why it waits (None when it runs) */
  reason: string;
  /** the batch script (absolute path as submitted) */
  script: string;
  jobName: string;
}

/** A separator no job name or path holds in practice (squeue prints it literally). */
const SEP = "\x1f";
/** squeue's arguments: every array task on its own line, in the fields QueueTask holds. */
export const SQUEUE_FORMAT = ["%i", "%T", "%M", "%r", "%o", "%j"].join(SEP);

/** squeue's output (`-h -r -o SQUEUE_FORMAT`), parsed; a line with too few fields is an error. */
export function parseSqueue(text: string): QueueTask[] {
  const tasks: QueueTask[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const f = line.split(SEP);
    if (f.length < 6) {
      throw new Error(`vifi: squeue printed a line vifi cannot read: ${JSON.stringify(line)}`);
    }
    const [id, state, time, reason, script] = f;
    tasks.push({ id: id.trim(), state, time, reason, script, jobName: f.slice(5).join(SEP) });
  }
  return tasks;
}

/** `<array job>_<task>` → [array job, task]; a plain job id → [id, undefined]. */
export function splitTaskId(id: string): [string, number | undefined] {
  const m = /^([0-9]+)_([0-9]+)$/.exec(id);
  return m ? [m[1], Number(m[2])] : [id, undefined];
}

/**
 * The words of a bash array literal as sbatch.ts writes it (`names=('a' 'it'\''s')`): single-quoted
 * words and `\'`; undefined when the line is not one.
 */
export function parseNamesLine(line: string): string[] | undefined {
  const m = /^names=\((.*)\)$/.exec(line.trim());
  if (!m) return undefined;
  const words: string[] = [];
  let word: string | undefined;
  const s = m[1];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word = (word ?? "") + s.slice(i + 1, end);
      i = end;
    } else if (c === "\\" && i + 1 < s.length) {
      word = (word ?? "") + s[++i];
    } else if (c === " ") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      return undefined; // not what sbatch.ts writes
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The experiments of a vifi sbatch script, by array task; undefined when the script cannot be read. */
export async function scriptNames(script: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(script);
  } catch {
    return undefined; // another user's script, or one deleted since: the row shows the job name
  }
  for (const line of text.split("\n")) {
    const names = parseNamesLine(line);
    if (names) return names;
  }
  return undefined;
}

/** What `squeue` answered: the tasks, or why Slurm could not be asked. */
export type QueueAnswer = { tasks: QueueTask[] } | { unreachable: string };

/** This user's queued and running tasks (`jobId`: only that job array's). */
export async function squeue(jobId?: string): Promise<QueueAnswer> {
  const args = ["-h", "-r", "-o", SQUEUE_FORMAT, ...(jobId ? ["-j", jobId] : ["--me"])];
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("squeue", { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    return { unreachable: `squeue cannot run (${(e as Error).message})` };
  }
  const err = new TextDecoder().decode(out.stderr).trim().replace(/\s*\n\s*/g, " ");
  if (!out.success) {
    // a job id that has left the queue (and Slurm's memory of it): nothing queued, not an error
    if (jobId && /Invalid job id/i.test(err)) return { tasks: [] };
    return { unreachable: `squeue failed: ${err || `exit ${out.code}`}` };
  }
  return { tasks: parseSqueue(new TextDecoder().decode(out.stdout)) };
}
