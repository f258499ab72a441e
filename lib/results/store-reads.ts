// The results store's read queries, one function per question a reader asks (the dashboard, the
// leaderboard, the predict form, stale-run recovery). ResultsStore (store.ts) calls these with its
// connection; they never write.

import type { DatabaseSync, SQLInputValue } from "node:sqlite";
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
  type Row,
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

export function listRuns(db: DatabaseSync, filter: RunFilter = {}): RunSummary[] {
  const where: string[] = [], args: SQLInputValue[] = [];
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
  return (db.prepare(sql).all(...args) as Row[]).map(runOf);
}

export function getRun(db: DatabaseSync, id: number): RunDetail | null {
  const r = db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as Row | undefined;
  if (!r) return null;
  const evals = (db.prepare("SELECT * FROM evals WHERE run_id = ? ORDER BY id").all(id) as Row[]).map(evalOf);
  const epochs = (db.prepare("SELECT * FROM epoch_metrics WHERE run_id = ? ORDER BY epoch").all(id) as Row[])
    .map(epochOf);
  const checkpoints = (db.prepare("SELECT * FROM checkpoints WHERE run_id = ? ORDER BY id").all(id) as Row[])
    .map(checkpointOf);
  return { ...runOf(r), config: json(r.config), evals, epochs, checkpoints };
}

/** Step rows in step order; `sinceStep` returns only later steps (a dashboard polling for new points). */
export function stepMetrics(
  db: DatabaseSync,
  runId: number,
  opts: { sinceStep?: number } = {},
): Required<StepRow>[] {
  const rows = db.prepare(
    "SELECT * FROM step_metrics WHERE run_id = ? AND step > ? ORDER BY step",
  ).all(runId, opts.sinceStep ?? -1) as Row[];
  return rows.map(stepOf);
}

export function evalDetail(db: DatabaseSync, evalId: number): EvalDetail | null {
  const r = db.prepare("SELECT * FROM evals WHERE id = ?").get(evalId) as Row | undefined;
  if (!r) return null;
  const perClass = (db.prepare(
    "SELECT * FROM class_results WHERE eval_id = ? ORDER BY class_index",
  ).all(evalId) as Row[]).map(classResultOf);
  const cm = db.prepare("SELECT classes, counts FROM confusion WHERE eval_id = ?").get(evalId) as
    | Row
    | undefined;
  const confusion = cm ? confusionOf(cm) : null;
  const hasEmbeddings = db.prepare("SELECT 1 AS x FROM embeddings WHERE eval_id = ?").get(evalId) !==
    undefined;
  return { ...evalOf(r), perClass, confusion, hasEmbeddings };
}

export function embeddings(db: DatabaseSync, evalId: number): Embeddings | null {
  const r = db.prepare("SELECT * FROM embeddings WHERE eval_id = ?").get(evalId) as Row | undefined;
  return r ? embeddingsOf(r) : null;
}

export function embeddingMapOf(db: DatabaseSync, evalId: number, method: string): EmbeddingMapRow | null {
  const r = db.prepare("SELECT points, created FROM embedding_maps WHERE eval_id = ? AND method = ?")
    .get(evalId, method) as Row | undefined;
  return r ? { points: f32Of(r.points as Uint8Array), created: num(r.created) } : null;
}

/** Every evaluation of every finished ("done") run, optionally of one protocol kind, oldest first. */
export function results(db: DatabaseSync, protocol?: ProtocolKind): ResultRow[] {
  // the best epoch is the trainer's metrics.best, which validates on the experiment's first evaluation
  const metric = (path: string) =>
    `CASE WHEN json_valid(r.metrics) THEN json_extract(r.metrics, '${path}') END`;
  let sql = `SELECT e.*, r.experiment, r.protocol_kind, r.protocol_dataset, r.protocol_seed, r.protocol_shots,
      r.variant, r.finished_at, ${metric("$.best.top1")} AS best_top1, ${
    metric("$.best.epoch")
  } AS best_epoch,
      CASE WHEN json_valid(r.config) THEN json_extract(r.config, '$.evals[0].name') END AS val_name
      FROM evals e JOIN runs r ON r.id = e.run_id WHERE r.status = 'done'`;
  const args: SQLInputValue[] = [];
  if (protocol) sql += " AND r.protocol_kind = ?", args.push(protocol);
  sql += " ORDER BY r.finished_at, r.id, e.id";
  return (db.prepare(sql).all(...args) as Row[]).map(resultRowOf);
}

/**
 * Checkpoints of finished ("done") runs with their run's experiment, newest run first, in one query
 * (the dashboard's predict form); `path` keeps only that file's rows.
 */
export function doneCheckpoints(
  db: DatabaseSync,
  opts: { limit?: number; path?: string } = {},
): DoneCheckpoint[] {
  let sql = `SELECT c.path, c.run_id, r.experiment, c.kind, c.epoch, c.top1 FROM checkpoints c
      JOIN runs r ON r.id = c.run_id WHERE r.status = 'done'`;
  const args: SQLInputValue[] = [];
  if (opts.path !== undefined) sql += " AND c.path = ?", args.push(opts.path);
  sql += " ORDER BY r.started_at DESC, r.id DESC, c.id";
  if (opts.limit !== undefined) sql += ` LIMIT ${Math.max(0, Math.floor(opts.limit))}`;
  return (db.prepare(sql).all(...args) as Row[]).map(doneCheckpointOf);
}

/**
 * The runs left "running" by a process that is gone, with why: on this host (`host`), a pid that no
 * longer exists; on another host (where the pid cannot be checked), no heartbeat for `staleAfterMs`.
 */
export function staleRuns(
  db: DatabaseSync,
  host: string,
  now: number,
  staleAfterMs: number,
): { id: number; why: string }[] {
  const rows = db.prepare("SELECT id, pid, host, heartbeat_at FROM runs WHERE status = 'running'")
    .all() as Row[];
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
 * for what a reader computes from the store (the dashboard's leaderboards).
 */
export function changeStamp(db: DatabaseSync): string {
  const v = db.prepare("PRAGMA data_version").get() as Row;
  const own = db.prepare("SELECT total_changes() AS n").get() as Row;
  return `${v.data_version}:${own.n}`;
}
