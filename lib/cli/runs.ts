// `deno task runs [--watch] [--interval S] [--db TARGET] [--job ID] [--recent N] [--json]`: each array
// task of your Slurm jobs beside its run in the results store (lib/cluster/runs-table.ts), then the store's
// recent runs. `--watch` redraws every --interval seconds until Ctrl-C, or until every task it listed has
// left the queue. Where Slurm cannot be asked (no squeue, no controller), the store alone, with a note.

import { parseArgs } from "node:util";
import { formatRunsTable, type RunsRow, runsRows } from "../cluster/runs-table.ts";
import { type QueueAnswer, scriptNames, squeue } from "../cluster/squeue.ts";
import { absentStoreFile, defaultResultsPath, ResultsStore } from "../results/store.ts";
import { intArg, positiveArg, reportError, UsageError } from "./args.ts";

const USAGE = `usage: deno task runs [--watch] [--interval S] [--db FILE|URL] [--job ID] [--recent N] [--json]
  --watch       redraw every --interval seconds (default 5) until Ctrl-C, or until every Slurm task
                listed has left the queue
  --db          results store (default $VIFI_RESULTS or runs/results.db; postgres://… for PostgreSQL)
  --job ID      only that Slurm job array's tasks and runs
  --recent N    the store's N most recent runs besides the queue's (default 20)
  --json        the rows as JSON (not with --watch)
Columns: experiment, Slurm state (squeue; "-" once a task has left the queue: no accounting is read),
the store's status, epoch, last step's loss, best validated top-1, run id, Slurm job (<array job>_<task>).`;

function parse(args: string[]) {
  const { values: f } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      watch: { type: "boolean" },
      interval: { type: "string" },
      db: { type: "string" },
      job: { type: "string" },
      recent: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (f.job !== undefined && !/^[0-9]+$/.test(f.job)) {
    throw new UsageError(`--job must be a Slurm job id (digits), got ${JSON.stringify(f.job)}`);
  }
  if (f.json && f.watch) throw new UsageError("--json prints once: not with --watch");
  if (f.interval !== undefined && !f.watch) throw new UsageError("--interval needs --watch");
  return {
    help: f.help,
    watch: f.watch ?? false,
    intervalMs: positiveArg(f.interval, "interval", 5) * 1000,
    db: f.db ?? defaultResultsPath(),
    job: f.job,
    recent: intArg(f.recent, "recent", 20, 0),
    json: f.json ?? false,
  };
}

/** The store, or why there is none: a SQLite file that does not exist is not created by a reader. */
function openStore(target: string): { store?: ResultsStore; note?: string } {
  const file = absentStoreFile(target);
  if (file !== undefined) {
    return { note: `no results store at ${file} (--db FILE|URL or VIFI_RESULTS): the queue alone` };
  }
  return { store: ResultsStore.open(target) };
}

/** One look at the queue and the store: the rows, and a note when Slurm could not be asked. */
async function snapshot(
  store: ResultsStore | undefined,
  o: ReturnType<typeof parse>,
): Promise<{ rows: RunsRow[]; queued: number; note?: string }> {
  const q: QueueAnswer = await squeue(o.job);
  const tasks = "tasks" in q ? q.tasks : undefined;
  const rows = await runsRows(store, tasks, { jobId: o.job, recent: o.recent, names: scriptNames });
  const note = "unreachable" in q
    ? `Slurm is not reachable (${q.unreachable}): the store's runs only`
    : undefined;
  return { rows, queued: rows.filter((r) => r.slurm !== null).length, note };
}

function draw(rows: RunsRow[], notes: string[], clear: boolean): void {
  // a terminal is redrawn in place; a pipe or a file gets one table after another
  if (clear) console.log("\x1b[H\x1b[2J");
  for (const n of notes) console.error(`note: ${n}`);
  console.log(rows.length ? formatRunsTable(rows) : "no Slurm task queued and no run in the store");
}

export async function main(args: string[]): Promise<number> {
  let store: ResultsStore | undefined;
  try {
    const o = parse(args);
    if (o.help) {
      console.log(USAGE);
      return 0;
    }
    const opened = openStore(o.db);
    store = opened.store;
    const notes = opened.note ? [opened.note] : [];
    const first = await snapshot(store, o);
    if (o.json) {
      for (const n of [...notes, ...(first.note ? [first.note] : [])]) console.error(`note: ${n}`);
      console.log(JSON.stringify(first.rows, null, 2));
      return 0;
    }
    const tty = Deno.stdout.isTerminal();
    draw(first.rows, [...notes, ...(first.note ? [first.note] : [])], o.watch && tty);
    if (!o.watch) return 0;
    const waited = first.queued > 0;
    // Ctrl-C ends the wait at once, and the loop
    let stop = false, wake = () => {};
    const onInt = () => {
      stop = true;
      wake();
    };
    Deno.addSignalListener("SIGINT", onInt);
    try {
      while (!stop) {
        await new Promise<void>((r) => {
          const timer = setTimeout(r, o.intervalMs);
          wake = () => {
            clearTimeout(timer);
            r();
          };
        });
        if (stop) break;
        const s = await snapshot(store, o);
        if (!tty) console.log("");
        draw(s.rows, [...notes, ...(s.note ? [s.note] : [])], tty);
        // every task it was watching has left the queue: their runs' final state is on screen
        if (waited && s.queued === 0 && !s.note) break;
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onInt);
    }
    return 0;
  } catch (e) {
    return reportError(e, USAGE);
  } finally {
    store?.close();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
