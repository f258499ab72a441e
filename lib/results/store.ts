// The results store: every run, its step/epoch metrics, evaluations (per class, confusion, embeddings)
// and checkpoints in one database: a SQLite file (the default) or a PostgreSQL server that many machines
// write at once (`postgres://…`). The trainer writes, the dashboard and the leaderboard read. Every
// multi-row write is one transaction, so a process killed mid-write leaves either the whole write or none
// of it. One code path and one SQL text for both backends (sql.ts: the interface and the dialect).
//
// This file holds ResultsStore (opening, transactions, every write); beside it: the records
// (store-types.ts), the schema and its migrations (store-schema.ts), row decoding (store-rows.ts), the
// read queries (store-reads.ts), and what it learns from the host (store-env.ts). Importers take
// everything from here.

import type { ProtocolKind } from "../dsl/types.ts";
import { applyMigrations, readSchemaVersion, SCHEMA_VERSION } from "./store-schema.ts";
import { bytesOf, num } from "./store-rows.ts";
import { isPostgresTarget, shownTarget, type SqlDb, sqliteFile, type SqlValue } from "./sql.ts";
import { SqliteDb } from "./sql-sqlite.ts";
import { PostgresDb, type PostgresOptions } from "./sql-postgres.ts";
import * as reads from "./store-reads.ts";
import { currentCommit, defaultResultsPath, hostname, slurmJob } from "./store-env.ts";
import type {
  CheckpointInput,
  DoneCheckpoint,
  EmbeddingMapRow,
  Embeddings,
  EmbeddingsInput,
  EpochRow,
  EvalDetail,
  EvalInput,
  FinishInput,
  ResultRow,
  RunDetail,
  RunFilter,
  RunSummary,
  StartRunInput,
  StepRow,
} from "./store-types.ts";

export type {
  CheckpointInput,
  CheckpointKind,
  CheckpointRow,
  ClassResult,
  DoneCheckpoint,
  EmbeddingMapRow,
  Embeddings,
  EmbeddingsInput,
  EpochRow,
  EvalDetail,
  EvalInput,
  EvalSummary,
  FinishInput,
  ResultRow,
  RunDetail,
  RunFilter,
  RunStatus,
  RunSummary,
  StartRunInput,
  StepRow,
  Subset,
} from "./store-types.ts";
export { SCHEMA_VERSION } from "./store-schema.ts";
export { currentCommit, defaultResultsPath, processAlive } from "./store-env.ts";
export { absentStoreFile, isPostgresTarget, redactUrl, shownTarget } from "./sql.ts";

export interface OpenOptions {
  /** how long a write waits for another writer's lock (SQLite's busy_timeout, PostgreSQL's lock_timeout) */
  busyTimeoutMs?: number;
  /** mark failed the runs whose process is gone (default true) */
  recover?: boolean;
}

/** The database a target names: a PostgreSQL URL, or a SQLite file (`sqlite:FILE` or the plain path). */
export function openSql(target: string, opts: PostgresOptions = {}): SqlDb {
  return isPostgresTarget(target) ? new PostgresDb(target, opts) : new SqliteDb(sqliteFile(target), opts);
}

export class ResultsStore {
  /** the SQLite file, or the PostgreSQL URL with its password redacted */
  readonly path: string;
  readonly #db: SqlDb;
  // this connection's writes, for changeStamp (PostgreSQL's snapshot does not show uncommitted ones)
  #writes = 0;
  /** runs that open() found left "running" by a process that is gone, and marked failed */
  recovered: number[] = [];

  private constructor(db: SqlDb) {
    this.path = db.name;
    this.#db = db;
  }

  /** "sqlite" or "postgres" */
  get backend(): SqlDb["dialect"] {
    return this.#db.dialect;
  }

  /**
   * Opens (creating) the store: a PostgreSQL URL (`postgres://…`, `postgresql://…`), or a SQLite file
   * (`sqlite:FILE` or the path). Unless `recover` is false, every command that opens it marks the runs
   * whose process is gone failed (recoverStale), so no reader shows a killed run as running forever.
   */
  static open(target: string = defaultResultsPath(), opts: OpenOptions = {}): ResultsStore {
    const shown = shownTarget(target);
    let db: SqlDb;
    try {
      db = openSql(target, opts);
    } catch (e) {
      throw new Error(`vifi: cannot open results store ${shown}: ${oneLine(e)}`);
    }
    try {
      const store = new ResultsStore(db);
      store.#migrate();
      if (opts.recover ?? true) store.#recoverQuietly();
      return store;
    } catch (e) {
      db.close();
      throw new Error(`vifi: cannot open results store ${shown}: ${oneLine(e)}`);
    }
  }

  /** The underlying connection (lib/cli/results.ts copies a store table by table through it). */
  get sql(): SqlDb {
    return this.#db;
  }

  close(): void {
    this.#db.close();
  }

  // A store that cannot be written (a read-only copy) still opens for reading.
  #recoverQuietly(): void {
    try {
      this.recovered = this.recoverStale();
    } catch {
      this.recovered = [];
    }
  }

  /** Runs `fn` in one transaction (SQLite: BEGIN IMMEDIATE); any throw rolls the whole write back. */
  transaction<T>(fn: () => T): T {
    this.#db.begin();
    this.#writes++;
    try {
      const r = fn();
      this.#db.commit();
      return r;
    } catch (e) {
      if (this.#db.inTransaction) this.#db.rollback();
      throw e;
    }
  }

  /** One write statement outside transaction(); counted for changeStamp. */
  #run(sql: string, ...args: SqlValue[]): number {
    this.#writes++;
    return this.#db.run(sql, ...args);
  }

  #migrate(): void {
    // An up-to-date database is only read: taking the write lock here would make every reader (a
    // dashboard) wait for the trainer's open transaction just to open the file.
    if (readSchemaVersion(this.#db) === SCHEMA_VERSION) return;
    this.transaction(() => applyMigrations(this.#db));
  }

  schemaVersion(): number {
    return num(this.#db.get("SELECT version FROM schema_version")?.version ?? null);
  }

  startRun(r: StartRunInput): number {
    const now = Date.now();
    const commit = r.commit === undefined ? currentCommit() : r.commit;
    this.#writes++;
    const row = this.#db.get(
      `INSERT INTO runs (experiment, protocol_kind, protocol_dataset, protocol_seed, protocol_shots, variant,
        config, git_commit, seed, device, status, pid, host, started_at, heartbeat_at, slurm_job)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?) RETURNING id`,
      r.experiment,
      r.protocol.kind,
      r.protocol.dataset ?? null,
      r.protocol.seed ?? null,
      r.protocol.shots ?? null,
      r.variant,
      JSON.stringify(r.config ?? null),
      commit,
      r.seed,
      r.device,
      Deno.pid,
      hostname(),
      now,
      now,
      r.slurmJob === undefined ? slurmJob() : r.slurmJob,
    );
    return num(row?.id ?? null);
  }

  /** Marks the run alive now (logSteps and logEpoch do this too). */
  heartbeat(runId: number): void {
    this.#run("UPDATE runs SET heartbeat_at = ? WHERE id = ?", Date.now(), runId);
  }

  logSteps(runId: number, rows: StepRow[]): void {
    if (rows.length === 0) return;
    const now = Date.now();
    this.transaction(() => {
      this.#db.runMany(
        `INSERT INTO step_metrics (run_id, step, epoch, loss, lr, frames_per_sec, time) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, step) DO UPDATE SET epoch = excluded.epoch, loss = excluded.loss, lr = excluded.lr,
           frames_per_sec = excluded.frames_per_sec, time = excluded.time`,
        rows.map((r) => [runId, r.step, r.epoch, r.loss, r.lr, r.framesPerSec ?? null, r.time ?? now]),
      );
      this.#db.run("UPDATE runs SET heartbeat_at = ? WHERE id = ?", now, runId);
    });
  }

  logEpoch(runId: number, r: EpochRow): void {
    this.transaction(() => {
      this.#db.run(
        `INSERT INTO epoch_metrics (run_id, epoch, train_loss, val_top1, val_top5, seconds) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, epoch) DO UPDATE SET train_loss = excluded.train_loss, val_top1 = excluded.val_top1,
           val_top5 = excluded.val_top5, seconds = excluded.seconds`,
        runId,
        r.epoch,
        r.trainLoss ?? null,
        r.valTop1 ?? null,
        r.valTop5 ?? null,
        r.seconds ?? null,
      );
      this.#db.run("UPDATE runs SET heartbeat_at = ? WHERE id = ?", Date.now(), runId);
    });
  }

  addEval(runId: number, e: EvalInput): number {
    const c = e.perClass.length;
    if (e.confusion.length !== c || e.confusion.some((row) => row.length !== c)) {
      throw new Error(`vifi: eval ${e.name}: confusion must be ${c} × ${c} (one row and column per class)`);
    }
    return this.transaction(() => {
      const row = this.#db.get(
        `INSERT INTO evals (run_id, name, dataset, split, subset, clips, crops, top1, top5, count, epoch, created_at,
           drop_last)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        runId,
        e.name,
        e.dataset ?? null,
        e.split ?? null,
        e.subset ?? null,
        e.clips,
        e.crops,
        e.top1,
        e.top5,
        e.count,
        e.epoch ?? null,
        Date.now(),
        e.dropLast ? 1 : 0,
      );
      const evalId = num(row?.id ?? null);
      this.#db.runMany(
        "INSERT INTO class_results (eval_id, class_index, class_name, correct, total) VALUES (?, ?, ?, ?, ?)",
        e.perClass.map((p, i) => [evalId, i, p.name, p.correct, p.total]),
      );
      const counts = new Int32Array(c * c);
      e.confusion.forEach((row, i) => row.forEach((v, j) => counts[i * c + j] = v));
      this.#db.run(
        "INSERT INTO confusion (eval_id, classes, counts) VALUES (?, ?, ?)",
        evalId,
        c,
        bytesOf(counts),
      );
      return evalId;
    });
  }

  addEmbeddings(evalId: number, e: EmbeddingsInput): void {
    const n = e.labels.length;
    if (e.vectors.length !== n * e.dim) {
      throw new Error(`vifi: embeddings: ${e.vectors.length} values for ${n} labels × dim ${e.dim}`);
    }
    if (e.classEmbeddings && e.classEmbeddings.length !== e.classNames.length * e.dim) {
      throw new Error(
        `vifi: embeddings: ${e.classEmbeddings.length} class values for ${e.classNames.length} classes × dim ${e.dim}`,
      );
    }
    this.transaction(() => {
      this.#db.run(
        `INSERT INTO embeddings (eval_id, n, dim, labels, vectors, class_names, class_vectors) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (eval_id) DO UPDATE SET n = excluded.n, dim = excluded.dim, labels = excluded.labels,
           vectors = excluded.vectors, class_names = excluded.class_names, class_vectors = excluded.class_vectors`,
        evalId,
        n,
        e.dim,
        bytesOf(Int32Array.from(e.labels)),
        bytesOf(e.vectors),
        JSON.stringify(e.classNames),
        e.classEmbeddings ? bytesOf(e.classEmbeddings) : null,
      );
      // a map of the embeddings this replaces would otherwise be served as the map of the new ones
      this.#db.run("DELETE FROM embedding_maps WHERE eval_id = ?", evalId);
    });
  }

  /** Stores (or replaces) the 2-D map of an eval's embeddings made by `method`. */
  saveEmbeddingMap(evalId: number, method: string, points: Float32Array): void {
    if (points.length % 2 !== 0) throw new Error(`vifi: embedding map: ${points.length} values is not N × 2`);
    this.#run(
      `INSERT INTO embedding_maps (eval_id, method, points, created) VALUES (?, ?, ?, ?)
       ON CONFLICT (eval_id, method) DO UPDATE SET points = excluded.points, created = excluded.created`,
      evalId,
      method,
      bytesOf(points),
      Date.now(),
    );
  }

  embeddingMapOf(evalId: number, method: string): EmbeddingMapRow | null {
    return reads.embeddingMapOf(this.#db, evalId, method);
  }

  addCheckpoint(runId: number, c: CheckpointInput): number {
    this.#writes++;
    const row = this.#db.get(
      "INSERT INTO checkpoints (run_id, epoch, kind, path, top1, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
      runId,
      c.epoch,
      c.kind,
      c.path,
      c.top1 ?? null,
      Date.now(),
    );
    return num(row?.id ?? null);
  }

  finishRun(runId: number, f: FinishInput): void {
    const now = Date.now();
    const changed = this.#run(
      "UPDATE runs SET status = ?, error = ?, metrics = ?, finished_at = ?, heartbeat_at = ? WHERE id = ?",
      f.status,
      f.error ?? null,
      f.metrics === undefined ? null : JSON.stringify(f.metrics),
      now,
      now,
      runId,
    );
    if (changed !== 1) throw new Error(`vifi: no run ${runId} in ${this.path}`);
  }

  /**
   * Takes up again a run that stopped before finishing (a requeued Slurm task, `--continue` in its own
   * output folder): the same row goes back to "running" under this process, and the step rows past
   * `keepSteps` (logged after the checkpoint it continues from) and the epoch rows from `fromEpoch` on are
   * dropped, since the continued run logs them again. So are its evaluations (a run only evaluates after its
   * last epoch, so any it has are from an attempt stopped before it finished, and the continued run stores
   * them again), the checkpoint rows of the epochs it redoes, and its `last` rows (the file they name is
   * overwritten at the next save, which adds its own row). A finished ("done") run is not reopened: false.
   */
  reopenRun(runId: number, at: { keepSteps: number; fromEpoch: number }): boolean {
    return this.transaction(() => {
      const changed = this.#db.run(
        `UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, metrics = NULL, pid = ?, host = ?,
           heartbeat_at = ?, slurm_job = ? WHERE id = ? AND status <> 'done'`,
        Deno.pid,
        hostname(),
        Date.now(),
        slurmJob(),
        runId,
      );
      if (changed !== 1) return false;
      this.#db.run("DELETE FROM step_metrics WHERE run_id = ? AND step > ?", runId, at.keepSteps);
      this.#db.run("DELETE FROM epoch_metrics WHERE run_id = ? AND epoch >= ?", runId, at.fromEpoch);
      this.#db.run("DELETE FROM evals WHERE run_id = ?", runId);
      this.#db.run(
        "DELETE FROM checkpoints WHERE run_id = ? AND (epoch >= ? OR kind = 'last')",
        runId,
        at.fromEpoch,
      );
      return true;
    });
  }

  /**
   * Marks failed the runs left "running" by a process that is gone: on this host, a pid that no longer
   * exists; on another host (where the pid cannot be checked), no heartbeat for `staleAfterMs`.
   * Returns the ids it marked.
   */
  recoverStale(opts: { staleAfterMs?: number; now?: number } = {}): number[] {
    const staleAfter = opts.staleAfterMs ?? 30 * 60_000;
    const now = opts.now ?? Date.now();
    const host = hostname();
    const stale = () => reads.staleRuns(this.#db, host, now, staleAfter);
    // Look first, without a lock: the write lock is taken only when there is something to mark, so
    // every command can do this on open without waiting for a trainer's open transaction.
    if (!stale().length) return [];
    return this.transaction(() => {
      const marked: number[] = [];
      for (const { id, why } of stale()) {
        const changed = this.#db.run(
          "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ? AND status = 'running'",
          `stale: ${why}`,
          now,
          id,
        );
        if (changed) marked.push(id);
      }
      return marked;
    });
  }

  // The reads (store-reads.ts) on this store's connection.

  listRuns(filter: RunFilter = {}): RunSummary[] {
    return reads.listRuns(this.#db, filter);
  }

  getRun(id: number): RunDetail | null {
    return reads.getRun(this.#db, id);
  }

  /** Step rows in step order; `sinceStep` returns only later steps (a dashboard polling for new points). */
  stepMetrics(runId: number, opts: { sinceStep?: number } = {}): Required<StepRow>[] {
    return reads.stepMetrics(this.#db, runId, opts);
  }

  evalDetail(evalId: number): EvalDetail | null {
    return reads.evalDetail(this.#db, evalId);
  }

  embeddings(evalId: number): Embeddings | null {
    return reads.embeddings(this.#db, evalId);
  }

  /** Every evaluation of every finished ("done") run, optionally of one protocol kind, oldest first. */
  results(protocol?: ProtocolKind): ResultRow[] {
    return reads.results(this.#db, protocol);
  }

  /**
   * Checkpoints of finished ("done") runs with their run's experiment, newest run first, in one query
   * (the dashboard's predict form); `path` keeps only that file's rows.
   */
  doneCheckpoints(opts: { limit?: number; path?: string } = {}): DoneCheckpoint[] {
    return reads.doneCheckpoints(this.#db, opts);
  }

  /**
   * A value that changes whenever anything is committed, by this connection or any other: a cache key
   * for what a reader computes from the store (the dashboard's leaderboards).
   */
  changeStamp(): string {
    return reads.changeStamp(this.#db, this.#writes);
  }
}

// one line, without the "vifi: results store NAME:" a backend's error starts with (open names it once)
function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim()
    .replace(/^vifi: results store \S+: /, "");
}
