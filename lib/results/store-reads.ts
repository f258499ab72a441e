// The results store's read queries, one function per question a reader asks (the dashboard, the
// leaderboard, the predict form, stale-run recovery). ResultsStore (store.ts) calls these with its
// connection; they never write.

import type { SqlDb, SqlValue } from "./sql.ts";
import type { ProtocolKind } from "../dsl/types.ts";
import {
  checkpointOf,
  classResultOf,
  confusionOf,
  doneCheckpointOf,
  embeddingsOf,
  epochOf,
  evalOf,
  f32Of,
  json,
  num,
  resultRowOf,
  type RunBest,
  runBestOf,
  runOf,
  stepOf,
} from "./store-rows.ts";
import type {
  DoneCheckpoint,
  EmbeddingMapRow,
  Embeddings,
  EvalDetail,
  ResultRow,
  RunDetail,
  RunFilter,
  RunSummary,
  StepRow,
} from "./store-types.ts";
import { processAlive } from "./store-env.ts";

export function listRuns(db: SqlDb, filter: RunFilter = {}): RunSummary[] {
  const where: string[] = [], args: SqlValue[] = [];
  const eq = (col: string, v: string | undefined) => {
    if (v !== undefined) where.push(`${col} = ?`), args.push(v);
  };
  eq("experiment", filter.experiment);
  eq("protocol_kind", filter.protocol);
  eq("protocol_dataset", filter.dataset);
  eq("variant", filter.variant);
  eq("status", filter.status);
  let sql = `SELECT id, experiment, protocol_kind, protocol_dataset, protocol_seed, protocol_shots, variant,
      git_commit, seed, device, status, error, pid, host, started_at, finished_at, heartbeat_at, metrics, slurm_job FROM runs`;
  if (where.length) sql += ` WHERE ${where.join(" AND ")}`;
  sql += " ORDER BY started_at DESC, id DESC";
  if (filter.limit !== undefined) sql += ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`;
  return db.all(sql, ...args).map(runOf);
}

export function getRun(db: SqlDb, id: number): RunDetail | null {
  const r = db.get("SELECT * FROM runs WHERE id = ?", id);
  if (!r) return null;
  const evals = db.all("SELECT * FROM evals WHERE run_id = ? ORDER BY id", id).map(evalOf);
  const epochs = db.all("SELECT * FROM epoch_metrics WHERE run_id = ? ORDER BY epoch", id).map(epochOf);
  const checkpoints = db.all("SELECT * FROM checkpoints WHERE run_id = ? ORDER BY id", id).map(checkpointOf);
  return { ...runOf(r), config: json(r.config), evals, epochs, checkpoints };
}

/** Step rows in step order; `sinceStep` returns only later steps (a dashboard polling for new points). */
export function stepMetrics(
  db: SqlDb,
  runId: number,
  opts: { sinceStep?: number } = {},
): Required<StepRow>[] {
  return db.all(
    "SELECT * FROM step_metrics WHERE run_id = ? AND step > ? ORDER BY step",
    runId,
    opts.sinceStep ?? -1,
  )
    .map(stepOf);
}

export function evalDetail(db: SqlDb, evalId: number): EvalDetail | null {
  const r = db.get("SELECT * FROM evals WHERE id = ?", evalId);
  if (!r) return null;
  const perClass = db.all("SELECT * FROM class_results WHERE eval_id = ? ORDER BY class_index", evalId)
    .map(classResultOf);
  const cm = db.get("SELECT classes, counts FROM confusion WHERE eval_id = ?", evalId);
  const confusion = cm ? confusionOf(cm) : null;
  const hasEmbeddings = db.get("SELECT 1 AS x FROM embeddings WHERE eval_id = ?", evalId) !== undefined;
  return { ...evalOf(r), perClass, confusion, hasEmbeddings };
}

export function embeddings(db: SqlDb, evalId: number): Embeddings | null {
  const r = db.get("SELECT * FROM embeddings WHERE eval_id = ?", evalId);
  return r ? embeddingsOf(r) : null;
}

export function embeddingMapOf(db: SqlDb, evalId: number, method: string): EmbeddingMapRow | null {
  const r = db.get(
    "SELECT points, created FROM embedding_maps WHERE eval_id = ? AND method = ?",
    evalId,
    method,
  );
  return r ? { points: f32Of(r.points as Uint8Array), created: num(r.created) } : null;
}

/** Every evaluation of every finished ("done") run, optionally of one protocol kind, oldest first. */
export function results(db: SqlDb, protocol?: ProtocolKind): ResultRow[] {
  const args: SqlValue[] = protocol ? [protocol] : [];
  const kind = protocol ? " AND r.protocol_kind = ?" : "";
  const evals = db.all(
    `SELECT e.*, r.experiment, r.protocol_kind, r.protocol_dataset, r.protocol_seed, r.protocol_shots,
      r.variant, r.finished_at FROM evals e JOIN runs r ON r.id = e.run_id WHERE r.status = 'done'${kind}
      ORDER BY r.finished_at, r.id, e.id`,
    ...args,
  );
  // The best epoch is in the run's JSON, read here rather than with each backend's JSON functions. Asked
  // after the evals: a run done then is done now (a done run is never reopened), so every one is found.
  const runs = new Map<number, RunBest>();
  for (const r of db.all(`SELECT id, metrics, config FROM runs r WHERE status = 'done'${kind}`, ...args)) {
    runs.set(num(r.id), runBestOf(r.metrics, r.config));
  }
  return evals.map((e) => resultRowOf(e, runs.get(num(e.run_id))));
}

/**
 * Checkpoints of finished ("done") runs with their run's experiment, newest run first, in one query
 * (the dashboard's predict form); `path` keeps only that file's rows.
 */
export function doneCheckpoints(
  db: SqlDb,
  opts: { limit?: number; path?: string } = {},
): DoneCheckpoint[] {
  let sql = `SELECT c.path, c.run_id, r.experiment, c.kind, c.epoch, c.top1 FROM checkpoints c
      JOIN runs r ON r.id = c.run_id WHERE r.status = 'done'`;
  const args: SqlValue[] = [];
  if (opts.path !== undefined) sql += " AND c.path = ?", args.push(opts.path);
  sql += " ORDER BY r.started_at DESC, r.id DESC, c.id";
  if (opts.limit !== undefined) sql += ` LIMIT ${Math.max(0, Math.floor(opts.limit))}`;
  return db.all(sql, ...args).map(doneCheckpointOf);
}

/**
 * The runs left "running" by a process that is gone, with why: on this host (`host`), a pid that no
 * longer exists; on another host (where the pid cannot be checked), no heartbeat for `staleAfterMs`.
 */
export function staleRuns(
  db: SqlDb,
  host: string,
  now: number,
  staleAfterMs: number,
): { id: number; why: string }[] {
  const rows = db.all("SELECT id, pid, host, heartbeat_at FROM runs WHERE status = 'running'");
  const found: { id: number; why: string }[] = [];
  for (const r of rows) {
    const pid = num(r.pid), beat = num(r.heartbeat_at);
    let why: string | null = null;
    if (r.host === host) {
      if (pid !== Deno.pid && !processAlive(pid)) {
        why = `process ${pid} on ${host} ended without finishing`;
      }
    } else if (now - beat > staleAfterMs) {
      why = `no heartbeat from ${r.host} (pid ${pid}) for ${Math.round((now - beat) / 1000)} s`;
    }
    if (why) found.push({ id: num(r.id), why });
  }
  return found;
}

/**
 * A value that changes whenever anything is committed, by this connection or any other: a cache key
 * for what a reader computes from the store (the dashboard's leaderboards, the runs page's live updates).
 * `ownWrites` counts this connection's own writes (which may not be committed yet).
 *
 * SQLite: data_version changes when another connection commits, total_changes() with this one's writes.
 * PostgreSQL: the current snapshot (xmin:xmax:in-progress ids). What a query sees is a function of its
 * snapshot, and a commit by anyone removes its id from the in-progress list (or moves xmin), so a
 * commit always changes the text; it also changes for transactions of other databases on the server
 * (a needless recomputation, never a stale page). No row is written for it, so 8 writers do not queue
 * on a counter row.
 */
export function changeStamp(db: SqlDb, ownWrites: number): string {
  if (db.dialect === "postgres") {
    return `${db.get("SELECT pg_current_snapshot()::text AS s")?.s}:${ownWrites}`;
  }
  const v = db.get("PRAGMA data_version");
  const own = db.get("SELECT total_changes() AS n");
  return `${v?.data_version}:${own?.n}`;
}
