// Copying a whole results store into another (`deno task results copy`): SQLite to PostgreSQL when a lab
// moves to a shared server, or back for a laptop. Every run with everything that hangs off it, in one
// transaction on the target; the target gives new ids and every foreign key is remapped. A run already in
// the target (the same host, pid, start time and experiment: what identifies a run across stores) is
// skipped, so copying the same source twice duplicates nothing.

import type { Row, SqlDb, SqlValue } from "./sql.ts";
import type { ResultsStore } from "./store.ts";
import { num } from "./store-rows.ts";

export interface CopyReport {
  runs: number;
  steps: number;
  epochs: number;
  evals: number;
  classResults: number;
  confusions: number;
  embeddings: number;
  embeddingMaps: number;
  checkpoints: number;
  /** source run id → the target's id for it, for the runs copied */
  ids: Map<number, number>;
  /** runs already in the target: source id → target id */
  skipped: Map<number, number>;
}

// rows sent to the target per call: pipelined on PostgreSQL, bounded so one call's answer stays small
const BATCH = 1000;
const COPY_LOCK = 0x76696663; // "vifc"

function runKey(r: Row): string {
  return JSON.stringify([r.host, num(r.pid), num(r.started_at), r.experiment]);
}

/** `INSERT INTO table (columns of row except id) VALUES (…)`, with the values in column order. */
function insertOf(table: string, row: Row): [string, string[]] {
  const cols = Object.keys(row).filter((c) => c !== "id");
  return [`INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`, cols];
}

function valuesOf(row: Row, cols: string[], override: Record<string, SqlValue>): SqlValue[] {
  return cols.map((c) => c in override ? override[c] : row[c]);
}

/** Inserts rows of one table (no id of their own) with `fk` remapped; returns how many. */
function copyRows(to: SqlDb, table: string, rows: Row[], fk: string, newId: number): number {
  if (!rows.length) return 0;
  const override = { [fk]: newId };
  const [sql, cols] = insertOf(table, rows[0]);
  for (let i = 0; i < rows.length; i += BATCH) {
    to.runMany(sql, rows.slice(i, i + BATCH).map((r) => valuesOf(r, cols, override)));
  }
  return rows.length;
}

/** Inserts one row that has an id of its own; returns the target's id. */
function copyWithId(to: SqlDb, table: string, row: Row, override: Record<string, SqlValue>): number {
  const [sql, cols] = insertOf(table, row);
  return num(to.get(`${sql} RETURNING id`, ...valuesOf(row, cols, override))?.id ?? null);
}

function copyEval(from: SqlDb, to: SqlDb, ev: Row, runId: number, n: CopyReport): void {
  const oldId = num(ev.id);
  const evalId = copyWithId(to, "evals", ev, { run_id: runId });
  n.evals++;
  const by = (table: string, order: string) =>
    from.all(`SELECT * FROM ${table} WHERE eval_id = ? ORDER BY ${order}`, oldId);
  n.classResults += copyRows(to, "class_results", by("class_results", "class_index"), "eval_id", evalId);
  n.confusions += copyRows(to, "confusion", by("confusion", "eval_id"), "eval_id", evalId);
  n.embeddings += copyRows(to, "embeddings", by("embeddings", "eval_id"), "eval_id", evalId);
  n.embeddingMaps += copyRows(to, "embedding_maps", by("embedding_maps", "method"), "eval_id", evalId);
}

/** Copies every run of `from` not yet in `to` (see the file's head); one transaction on `to`. */
export function copyStore(from: ResultsStore, to: ResultsStore): CopyReport {
  const src = from.sql, dst = to.sql;
  const n: CopyReport = {
    runs: 0,
    steps: 0,
    epochs: 0,
    evals: 0,
    classResults: 0,
    confusions: 0,
    embeddings: 0,
    embeddingMaps: 0,
    checkpoints: 0,
    ids: new Map(),
    skipped: new Map(),
  };
  to.transaction(() => {
    // Two copies into one target at once take turns (SQLite: BEGIN IMMEDIATE; PostgreSQL: this lock, after
    // which the next statement sees what the other committed), so neither adds a run the other added.
    if (dst.dialect === "postgres") dst.get("SELECT pg_advisory_xact_lock(?)", COPY_LOCK);
    const have = new Map<string, number>();
    for (const r of dst.all("SELECT id, host, pid, started_at, experiment FROM runs")) {
      have.set(runKey(r), num(r.id));
    }
    for (const run of src.all("SELECT * FROM runs ORDER BY id")) {
      const oldId = num(run.id), there = have.get(runKey(run));
      if (there !== undefined) {
        n.skipped.set(oldId, there);
        continue;
      }
      const runId = copyWithId(dst, "runs", run, {});
      have.set(runKey(run), runId);
      n.ids.set(oldId, runId);
      n.runs++;
      const of = (table: string, order: string) =>
        src.all(`SELECT * FROM ${table} WHERE run_id = ? ORDER BY ${order}`, oldId);
      n.steps += copyRows(dst, "step_metrics", of("step_metrics", "step"), "run_id", runId);
      n.epochs += copyRows(dst, "epoch_metrics", of("epoch_metrics", "epoch"), "run_id", runId);
      for (const ev of of("evals", "id")) copyEval(src, dst, ev, runId, n);
      for (const c of of("checkpoints", "id")) {
        copyWithId(dst, "checkpoints", c, { run_id: runId }), n.checkpoints++;
      }
    }
  });
  return n;
}
