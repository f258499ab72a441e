// The results store: every run, its step/epoch metrics, evaluations (per class, confusion, embeddings)
// and checkpoints in one SQLite file. The trainer writes, the dashboard and the leaderboard read.
// WAL mode so readers never block the writer (and vice versa); every multi-row write is one
// transaction, so a process killed mid-write leaves either the whole write or none of it.
//
// This file holds ResultsStore (opening, transactions, every write); beside it: the records
// (store-types.ts), the schema and its migrations (store-schema.ts), row decoding (store-rows.ts), the
// read queries (store-reads.ts), and what it learns from the host (store-env.ts). Importers take
// everything from here.

import { DatabaseSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ProtocolKind } from "../dsl/types.ts";
import { applyMigrations, readSchemaVersion, SCHEMA_VERSION } from "./store-schema.ts";
import { bytesOf, num, type Row } from "./store-rows.ts";
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

export class ResultsStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  /** runs that open() found left "running" by a process that is gone, and marked failed */
  recovered: number[] = [];

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
  }

  /**
   * Opens (creating) the store. Unless `recover` is false, every command that opens it marks the runs
   * whose process is gone failed (recoverStale), so no reader shows a killed run as running forever.
   */
  static open(
    path: string = defaultResultsPath(),
    opts: { busyTimeoutMs?: number; recover?: boolean } = {},
  ): ResultsStore {
    if (path !== ":memory:") mkdirSync(dirname(path) || ".", { recursive: true });
    const db = new DatabaseSync(path);
    try {
      // a second writer waits for the first rather than failing at once
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA foreign_keys = ON");
      const store = new ResultsStore(path, db);
      store.#migrate();
      if (opts.recover ?? true) store.#recoverQuietly();
      return store;
    } catch (e) {
      db.close();
      throw new Error(`vifi: cannot open results store ${path}: ${e instanceof Error ? e.message : e}`);
    }
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  // A store that cannot be written (a read-only copy) still opens for reading.
  #recoverQuietly(): void {
    try {
      this.recovered = this.recoverStale();
    } catch {
      this.recovered = [];
    }
  }

  /** Runs `fn` inside BEGIN IMMEDIATE … COMMIT; any throw rolls the whole write back. */
  transaction<T>(fn: () => T): T {
    // IMMEDIATE takes the write lock up front, so a busy database is waited for at BEGIN
    // (busy_timeout) instead of failing half-way when a read lock cannot be upgraded.
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const r = fn();
      this.#db.exec("COMMIT");
      return r;
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  #migrate(): void {
    // An up-to-date database is only read: taking the write lock here would make every reader (a
    // dashboard) wait for the trainer's open transaction just to open the file.
    if (readSchemaVersion(this.#db) === SCHEMA_VERSION) return;
    this.transaction(() => applyMigrations(this.#db));
  }

  schemaVersion(): number {
    return num((this.#db.prepare("SELECT version FROM schema_version").get() as Row).version);
  }

  startRun(r: StartRunInput): number {
    const now = Date.now();
    const commit = r.commit === undefined ? currentCommit() : r.commit;
    const res = this.#db.prepare(
      `INSERT INTO runs (experiment, protocol_kind, protocol_dataset, protocol_seed, protocol_shots, variant,
        config, git_commit, seed, device, status, pid, host, started_at, heartbeat_at, slurm_job)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
    ).run(
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
    return Number(res.lastInsertRowid);
  }

  /** Marks the run alive now (logSteps and logEpoch do this too). */
  heartbeat(runId: number): void {
    this.#db.prepare("UPDATE runs SET heartbeat_at = ? WHERE id = ?").run(Date.now(), runId);
  }

  logSteps(runId: number, rows: StepRow[]): void {
    if (rows.length === 0) return;
    const now = Date.now();
    this.transaction(() => {
      const st = this.#db.prepare(
        `INSERT OR REPLACE INTO step_metrics (run_id, step, epoch, loss, lr, frames_per_sec, time)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const r of rows) {
        st.run(runId, r.step, r.epoch, r.loss, r.lr, r.framesPerSec ?? null, r.time ?? now);
      }
      this.#db.prepare("UPDATE runs SET heartbeat_at = ? WHERE id = ?").run(now, runId);
    });
  }

  logEpoch(runId: number, r: EpochRow): void {
    this.transaction(() => {
      this.#db.prepare(
        `INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, train_loss, val_top1, val_top5, seconds)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(runId, r.epoch, r.trainLoss ?? null, r.valTop1 ?? null, r.valTop5 ?? null, r.seconds ?? null);
      this.#db.prepare("UPDATE runs SET heartbeat_at = ? WHERE id = ?").run(Date.now(), runId);
    });
  }

  addEval(runId: number, e: EvalInput): number {
    const c = e.perClass.length;
    if (e.confusion.length !== c || e.confusion.some((row) => row.length !== c)) {
      throw new Error(`vifi: eval ${e.name}: confusion must be ${c} × ${c} (one row and column per class)`);
    }
    return this.transaction(() => {
      const res = this.#db.prepare(
        `INSERT INTO evals (run_id, name, dataset, split, subset, clips, crops, top1, top5, count, epoch, created_at,
           drop_last)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
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
      const evalId = Number(res.lastInsertRowid);
      const st = this.#db.prepare(
        "INSERT INTO class_results (eval_id, class_index, class_name, correct, total) VALUES (?, ?, ?, ?, ?)",
      );
      e.perClass.forEach((p, i) => st.run(evalId, i, p.name, p.correct, p.total));
      const counts = new Int32Array(c * c);
      e.confusion.forEach((row, i) => row.forEach((v, j) => counts[i * c + j] = v));
      this.#db.prepare("INSERT INTO confusion (eval_id, classes, counts) VALUES (?, ?, ?)")
        .run(evalId, c, bytesOf(counts));
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
      this.#db.prepare(
        `INSERT OR REPLACE INTO embeddings (eval_id, n, dim, labels, vectors, class_names, class_vectors)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        evalId,
        n,
        e.dim,
        bytesOf(Int32Array.from(e.labels)),
        bytesOf(e.vectors),
        JSON.stringify(e.classNames),
        e.classEmbeddings ? bytesOf(e.classEmbeddings) : null,
      );
      // a map of the embeddings this replaces would otherwise be served as the map of the new ones
      this.#db.prepare("DELETE FROM embedding_maps WHERE eval_id = ?").run(evalId);
    });
  }

  /** Stores (or replaces) the 2-D map of an eval's embeddings made by `method`. */
  saveEmbeddingMap(evalId: number, method: string, points: Float32Array): void {
    if (points.length % 2 !== 0) throw new Error(`vifi: embedding map: ${points.length} values is not N × 2`);
    this.#db.prepare(
      "INSERT OR REPLACE INTO embedding_maps (eval_id, method, points, created) VALUES (?, ?, ?, ?)",
    ).run(evalId, method, bytesOf(points), Date.now());
  }

  embeddingMapOf(evalId: number, method: string): EmbeddingMapRow | null {
    return reads.embeddingMapOf(this.#db, evalId, method);
  }

  addCheckpoint(runId: number, c: CheckpointInput): number {
    const res = this.#db.prepare(
      "INSERT INTO checkpoints (run_id, epoch, kind, path, top1, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(runId, c.epoch, c.kind, c.path, c.top1 ?? null, Date.now());
    return Number(res.lastInsertRowid);
  }

  finishRun(runId: number, f: FinishInput): void {
    const now = Date.now();
    const res = this.#db.prepare(
      "UPDATE runs SET status = ?, error = ?, metrics = ?, finished_at = ?, heartbeat_at = ? WHERE id = ?",
    ).run(
      f.status,
      f.error ?? null,
      f.metrics === undefined ? null : JSON.stringify(f.metrics),
      now,
      now,
      runId,
    );
    if (Number(res.changes) !== 1) throw new Error(`vifi: no run ${runId} in ${this.path}`);
  }

  /**
   * Takes up again a run that stopped before finishing (a requeued Slurm task, `--continue` in its own
   * output folder): the same row goes back to "running" under this process, and the step rows past
   * `keepSteps` (logged after the checkpoint it continues from) and the epoch rows from `fromEpoch` on are
   * dropped, since the continued run logs them again. A finished ("done") run is not reopened: false.
   */
  reopenRun(runId: number, at: { keepSteps: number; fromEpoch: number }): boolean {
    return this.transaction(() => {
      const now = Date.now();
      const res = this.#db.prepare(
        `UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, metrics = NULL, pid = ?, host = ?,
           heartbeat_at = ?, slurm_job = ? WHERE id = ? AND status <> 'done'`,
      ).run(Deno.pid, hostname(), now, slurmJob(), runId);
      if (Number(res.changes) !== 1) return false;
      this.#db.prepare("DELETE FROM step_metrics WHERE run_id = ? AND step > ?").run(runId, at.keepSteps);
      this.#db.prepare("DELETE FROM epoch_metrics WHERE run_id = ? AND epoch >= ?").run(runId, at.fromEpoch);
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
      const st = this.#db.prepare(
        "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ? AND status = 'running'",
      );
      const marked: number[] = [];
      for (const { id, why } of stale()) {
        st.run(`stale: ${why}`, now, id);
        marked.push(id);
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
    return reads.changeStamp(this.#db);
  }
}
