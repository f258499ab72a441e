// The results store: every run, its step/epoch metrics, evaluations (per class, confusion, embeddings)
// and checkpoints in one SQLite file. The trainer writes, the dashboard and the leaderboard read.
// WAL mode so readers never block the writer (and vice versa); every multi-row write is one
// transaction, so a process killed mid-write leaves either the whole write or none of it.

import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import process from "node:process";
import type { ProtocolKind, ProtocolTag } from "../dsl/types.ts";

export type RunStatus = "running" | "done" | "failed" | "interrupted";
export type CheckpointKind = "best" | "last" | "epoch";
export type Subset = "base" | "novel" | "all";

export function defaultResultsPath(): string {
  return Deno.env.get("VIFI_RESULTS") ?? "runs/results.db";
}

/** HEAD of the git repository around `cwd`, or null outside one (or without git). */
export function currentCommit(cwd?: string): string | null {
  try {
    const out = new Deno.Command("git", { args: ["rev-parse", "HEAD"], cwd, stdout: "piped", stderr: "null" })
      .outputSync();
    if (!out.success) return null;
    const s = new TextDecoder().decode(out.stdout).trim();
    return /^[0-9a-f]{40,64}$/.test(s) ? s : null;
  } catch {
    return null;
  }
}

export interface StartRunInput {
  experiment: string;
  protocol: ProtocolTag;
  /** what trained (ModelSpec.variant); for an evaluation-only run, the variant the weights were trained with */
  variant: string;
  /** the resolved experiment, stored as JSON */
  config: unknown;
  /** default: currentCommit() */
  commit?: string | null;
  seed: number;
  /** adapter description */
  device: string;
}

export interface StepRow {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  framesPerSec?: number | null;
  /** ms since the epoch (Date.now()); default: the time of logging */
  time?: number;
}

export interface EpochRow {
  epoch: number;
  trainLoss?: number | null;
  valTop1?: number | null;
  valTop5?: number | null;
  seconds?: number | null;
}

export interface ClassResult {
  name: string;
  correct: number;
  total: number;
}

export interface EvalInput {
  name: string;
  dataset?: string;
  split?: number;
  subset?: Subset;
  clips: number;
  crops: number;
  /** percent, 0..100, as the paper reports */
  top1: number;
  top5: number;
  /** videos evaluated */
  count: number;
  epoch?: number;
  /** scored as the upstream's drop_last validation batches (default false: every video) */
  dropLast?: boolean;
  /** one entry per class, in label-index order */
  perClass: ClassResult[];
  /** confusion[true][predicted], C × C */
  confusion: number[][];
}

export interface EmbeddingsInput {
  /** N × dim video embeddings, row-major */
  vectors: Float32Array;
  dim: number;
  /** N label indices */
  labels: ArrayLike<number>;
  classNames: string[];
  /** C × dim class text embeddings, row-major */
  classEmbeddings?: Float32Array;
}

export interface Embeddings {
  n: number;
  dim: number;
  labels: Int32Array;
  vectors: Float32Array;
  classNames: string[];
  classEmbeddings: Float32Array | null;
}

export interface EmbeddingMapRow {
  /** N × 2, row-major */
  points: Float32Array;
  /** ms since the epoch */
  created: number;
}

export interface CheckpointInput {
  epoch: number;
  kind: CheckpointKind;
  path: string;
  top1?: number | null;
}

export interface FinishInput {
  status: Exclude<RunStatus, "running">;
  error?: string;
  metrics?: unknown;
}

export interface RunSummary {
  id: number;
  experiment: string;
  protocol: ProtocolTag;
  variant: string;
  commit: string | null;
  seed: number;
  device: string;
  status: RunStatus;
  error: string | null;
  pid: number;
  host: string;
  startedAt: number;
  finishedAt: number | null;
  heartbeatAt: number;
  metrics: unknown;
}

export interface EvalSummary {
  id: number;
  runId: number;
  name: string;
  dataset: string | null;
  split: number | null;
  subset: Subset | null;
  clips: number;
  crops: number;
  top1: number;
  top5: number;
  count: number;
  epoch: number | null;
  createdAt: number;
  /** scored as the upstream's drop_last validation (a device's odd video out left unscored); absent = no */
  dropLast?: boolean;
}

export interface CheckpointRow extends CheckpointInput {
  id: number;
  runId: number;
  createdAt: number;
}

export interface RunDetail extends RunSummary {
  config: unknown;
  evals: EvalSummary[];
  epochs: Required<EpochRow>[];
  checkpoints: CheckpointRow[];
}

export interface EvalDetail extends EvalSummary {
  perClass: (ClassResult & { index: number })[];
  confusion: number[][] | null;
  hasEmbeddings: boolean;
}

export interface RunFilter {
  experiment?: string;
  protocol?: ProtocolKind;
  dataset?: string;
  variant?: string;
  status?: RunStatus;
  /** most recent first; default all */
  limit?: number;
}

/** One evaluation of a finished run with its run's tags: what the leaderboard aggregates. */
export interface ResultRow extends EvalSummary {
  experiment: string;
  protocol: ProtocolTag;
  variant: string;
  finishedAt: number;
  /**
   * The run's best validated epoch, on this row when it is the run's validation evaluation (the
   * experiment's first, at its own views): the row itself is the final epoch's. Few-shot reports
   * either (the paper does not say which); null when the run validated no epoch.
   */
  best?: { epoch: number; top1: number } | null;
}

// Each entry moves the schema from version i to i + 1; never edit a shipped entry, append one.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    experiment TEXT NOT NULL,
    protocol_kind TEXT NOT NULL,
    protocol_dataset TEXT,
    protocol_seed INTEGER,
    protocol_shots INTEGER,
    variant TEXT NOT NULL,
    config TEXT NOT NULL,
    git_commit TEXT,
    seed INTEGER NOT NULL,
    device TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    error TEXT,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    heartbeat_at INTEGER NOT NULL,
    metrics TEXT
  );
  CREATE INDEX runs_protocol ON runs (protocol_kind, protocol_dataset, status);
  CREATE INDEX runs_experiment ON runs (experiment);
  CREATE TABLE step_metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL,
    lr REAL,
    frames_per_sec REAL,
    time INTEGER NOT NULL,
    PRIMARY KEY (run_id, step)
  ) WITHOUT ROWID;
  CREATE TABLE epoch_metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL,
    val_top1 REAL,
    val_top5 REAL,
    seconds REAL,
    PRIMARY KEY (run_id, epoch)
  ) WITHOUT ROWID;
  CREATE TABLE evals (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    dataset TEXT,
    split INTEGER,
    subset TEXT CHECK (subset IS NULL OR subset IN ('base', 'novel', 'all')),
    clips INTEGER NOT NULL CHECK (clips >= 1),
    crops INTEGER NOT NULL CHECK (crops >= 1),
    top1 REAL NOT NULL CHECK (top1 BETWEEN 0 AND 100),
    top5 REAL NOT NULL CHECK (top5 BETWEEN 0 AND 100),
    count INTEGER NOT NULL CHECK (count >= 0),
    epoch INTEGER,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX evals_run ON evals (run_id);
  CREATE TABLE class_results (
    eval_id INTEGER NOT NULL REFERENCES evals (id) ON DELETE CASCADE,
    class_index INTEGER NOT NULL,
    class_name TEXT NOT NULL,
    correct INTEGER NOT NULL CHECK (correct >= 0 AND correct <= total),
    total INTEGER NOT NULL CHECK (total >= 0),
    PRIMARY KEY (eval_id, class_index)
  ) WITHOUT ROWID;
  CREATE TABLE confusion (
    eval_id INTEGER PRIMARY KEY REFERENCES evals (id) ON DELETE CASCADE,
    classes INTEGER NOT NULL,
    counts BLOB NOT NULL CHECK (length(counts) = 4 * classes * classes)
  );
  CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('best', 'last', 'epoch')),
    path TEXT NOT NULL,
    top1 REAL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX checkpoints_run ON checkpoints (run_id);
  CREATE TABLE embeddings (
    eval_id INTEGER PRIMARY KEY REFERENCES evals (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    labels BLOB NOT NULL CHECK (length(labels) = 4 * n),
    vectors BLOB NOT NULL CHECK (length(vectors) = 4 * n * dim),
    class_names TEXT NOT NULL,
    class_vectors BLOB
  );
  `,
  // 2-D maps of an eval's embeddings are slow to compute (exact t-SNE is O(N²) per iteration), so the
  // dashboard computes one once per eval and method and reads it back from here afterwards.
  `
  CREATE TABLE embedding_maps (
    eval_id INTEGER NOT NULL REFERENCES evals (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    points BLOB NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (eval_id, method)
  ) WITHOUT ROWID;
  `,
  // whether an evaluation left out what the upstream's drop_last validation leaves out (issue 12)
  `
  ALTER TABLE evals ADD COLUMN drop_last INTEGER NOT NULL DEFAULT 0 CHECK (drop_last IN (0, 1));
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

type Row = Record<string, SQLInputValue>;

function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

// SQLite hands back blobs at any byte offset; copying gives the typed array its own aligned buffer.
function f32Of(b: Uint8Array): Float32Array {
  return new Float32Array(b.slice().buffer);
}

function i32Of(b: Uint8Array): Int32Array {
  return new Int32Array(b.slice().buffer);
}

function json(s: SQLInputValue): unknown {
  return typeof s === "string" ? JSON.parse(s) : null;
}

function num(v: SQLInputValue): number {
  return Number(v);
}

function numOrNull(v: SQLInputValue): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function strOrNull(v: SQLInputValue): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** Whether a process with this id exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    return (e as { code?: string }).code === "EPERM";
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

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

  #readVersion(): number | null {
    try {
      const row = this.#db.prepare("SELECT version FROM schema_version").get() as Row | undefined;
      return row ? num(row.version) : null;
    } catch {
      return null;
    }
  }

  #migrate(): void {
    // An up-to-date database is only read: taking the write lock here would make every reader (a
    // dashboard) wait for the trainer's open transaction just to open the file.
    if (this.#readVersion() === MIGRATIONS.length) return;
    this.transaction(() => {
      this.#db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      const row = this.#db.prepare("SELECT version FROM schema_version").get() as Row | undefined;
      let v = row ? num(row.version) : 0;
      if (!row) this.#db.prepare("INSERT INTO schema_version (version) VALUES (0)").run();
      if (v > MIGRATIONS.length) {
        throw new Error(`schema version ${v} is newer than this code (${MIGRATIONS.length}); update vifi`);
      }
      for (; v < MIGRATIONS.length; v++) this.#db.exec(MIGRATIONS[v]);
      this.#db.prepare("UPDATE schema_version SET version = ?").run(v);
    });
  }

  schemaVersion(): number {
    return num((this.#db.prepare("SELECT version FROM schema_version").get() as Row).version);
  }

  startRun(r: StartRunInput): number {
    const now = Date.now();
    const commit = r.commit === undefined ? currentCommit() : r.commit;
    const res = this.#db.prepare(
      `INSERT INTO runs (experiment, protocol_kind, protocol_dataset, protocol_seed, protocol_shots, variant,
        config, git_commit, seed, device, status, pid, host, started_at, heartbeat_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)`,
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
    const r = this.#db.prepare("SELECT points, created FROM embedding_maps WHERE eval_id = ? AND method = ?")
      .get(evalId, method) as Row | undefined;
    return r ? { points: f32Of(r.points as Uint8Array), created: num(r.created) } : null;
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
   * Marks failed the runs left "running" by a process that is gone: on this host, a pid that no longer
   * exists; on another host (where the pid cannot be checked), no heartbeat for `staleAfterMs`.
   * Returns the ids it marked.
   */
  recoverStale(opts: { staleAfterMs?: number; now?: number } = {}): number[] {
    const staleAfter = opts.staleAfterMs ?? 30 * 60_000;
    const now = opts.now ?? Date.now();
    const host = hostname();
    const stale = () => {
      const rows = this.#db.prepare("SELECT id, pid, host, heartbeat_at FROM runs WHERE status = 'running'")
        .all() as Row[];
      const found: { id: number; why: string }[] = [];
      for (const r of rows) {
        const pid = num(r.pid), beat = num(r.heartbeat_at);
        let why: string | null = null;
        if (r.host === host) {
          if (pid !== Deno.pid && !processAlive(pid)) {
            why = `process ${pid} on ${host} ended without finishing`;
          }
        } else if (now - beat > staleAfter) {
          why = `no heartbeat from ${r.host} (pid ${pid}) for ${Math.round((now - beat) / 1000)} s`;
        }
        if (why) found.push({ id: num(r.id), why });
      }
      return found;
    };
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

  #run(r: Row): RunSummary {
    const protocol: ProtocolTag = { kind: String(r.protocol_kind) as ProtocolKind };
    if (r.protocol_dataset !== null) protocol.dataset = String(r.protocol_dataset);
    if (r.protocol_seed !== null) protocol.seed = num(r.protocol_seed);
    if (r.protocol_shots !== null) protocol.shots = num(r.protocol_shots);
    return {
      id: num(r.id),
      experiment: String(r.experiment),
      protocol,
      variant: String(r.variant),
      commit: strOrNull(r.git_commit),
      seed: num(r.seed),
      device: String(r.device),
      status: String(r.status) as RunStatus,
      error: strOrNull(r.error),
      pid: num(r.pid),
      host: String(r.host),
      startedAt: num(r.started_at),
      finishedAt: numOrNull(r.finished_at),
      heartbeatAt: num(r.heartbeat_at),
      metrics: json(r.metrics),
    };
  }

  #eval(r: Row): EvalSummary {
    return {
      id: num(r.id),
      runId: num(r.run_id),
      name: String(r.name),
      dataset: strOrNull(r.dataset),
      split: numOrNull(r.split),
      subset: strOrNull(r.subset) as Subset | null,
      clips: num(r.clips),
      crops: num(r.crops),
      top1: num(r.top1),
      top5: num(r.top5),
      count: num(r.count),
      epoch: numOrNull(r.epoch),
      createdAt: num(r.created_at),
      dropLast: num(r.drop_last ?? 0) === 1,
    };
  }

  listRuns(filter: RunFilter = {}): RunSummary[] {
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
      git_commit, seed, device, status, error, pid, host, started_at, finished_at, heartbeat_at, metrics FROM runs`;
    if (where.length) sql += ` WHERE ${where.join(" AND ")}`;
    sql += " ORDER BY started_at DESC, id DESC";
    if (filter.limit !== undefined) sql += ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`;
    return (this.#db.prepare(sql).all(...args) as Row[]).map((r) => this.#run(r));
  }

  getRun(id: number): RunDetail | null {
    const r = this.#db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as Row | undefined;
    if (!r) return null;
    const evals = (this.#db.prepare("SELECT * FROM evals WHERE run_id = ? ORDER BY id").all(id) as Row[])
      .map((e) => this.#eval(e));
    const epochs = (this.#db.prepare("SELECT * FROM epoch_metrics WHERE run_id = ? ORDER BY epoch").all(
      id,
    ) as Row[]).map((e) => ({
      epoch: num(e.epoch),
      trainLoss: numOrNull(e.train_loss),
      valTop1: numOrNull(e.val_top1),
      valTop5: numOrNull(e.val_top5),
      seconds: numOrNull(e.seconds),
    }));
    const checkpoints = (this.#db.prepare("SELECT * FROM checkpoints WHERE run_id = ? ORDER BY id").all(
      id,
    ) as Row[]).map((c) => ({
      id: num(c.id),
      runId: num(c.run_id),
      epoch: num(c.epoch),
      kind: String(c.kind) as CheckpointKind,
      path: String(c.path),
      top1: numOrNull(c.top1),
      createdAt: num(c.created_at),
    }));
    return { ...this.#run(r), config: json(r.config), evals, epochs, checkpoints };
  }

  /** Step rows in step order; `sinceStep` returns only later steps (a dashboard polling for new points). */
  stepMetrics(runId: number, opts: { sinceStep?: number } = {}): Required<StepRow>[] {
    const rows = this.#db.prepare(
      "SELECT * FROM step_metrics WHERE run_id = ? AND step > ? ORDER BY step",
    ).all(runId, opts.sinceStep ?? -1) as Row[];
    return rows.map((r) => ({
      step: num(r.step),
      epoch: num(r.epoch),
      loss: num(r.loss),
      lr: num(r.lr),
      framesPerSec: numOrNull(r.frames_per_sec),
      time: num(r.time),
    }));
  }

  evalDetail(evalId: number): EvalDetail | null {
    const r = this.#db.prepare("SELECT * FROM evals WHERE id = ?").get(evalId) as Row | undefined;
    if (!r) return null;
    const perClass = (this.#db.prepare(
      "SELECT * FROM class_results WHERE eval_id = ? ORDER BY class_index",
    ).all(evalId) as Row[]).map((c) => ({
      index: num(c.class_index),
      name: String(c.class_name),
      correct: num(c.correct),
      total: num(c.total),
    }));
    const cm = this.#db.prepare("SELECT classes, counts FROM confusion WHERE eval_id = ?").get(evalId) as
      | Row
      | undefined;
    let confusion: number[][] | null = null;
    if (cm) {
      const c = num(cm.classes), counts = i32Of(cm.counts as Uint8Array);
      confusion = Array.from({ length: c }, (_, i) => Array.from(counts.subarray(i * c, (i + 1) * c)));
    }
    const hasEmbeddings = this.#db.prepare("SELECT 1 AS x FROM embeddings WHERE eval_id = ?").get(evalId) !==
      undefined;
    return { ...this.#eval(r), perClass, confusion, hasEmbeddings };
  }

  embeddings(evalId: number): Embeddings | null {
    const r = this.#db.prepare("SELECT * FROM embeddings WHERE eval_id = ?").get(evalId) as Row | undefined;
    if (!r) return null;
    return {
      n: num(r.n),
      dim: num(r.dim),
      labels: i32Of(r.labels as Uint8Array),
      vectors: f32Of(r.vectors as Uint8Array),
      classNames: JSON.parse(String(r.class_names)),
      classEmbeddings: r.class_vectors ? f32Of(r.class_vectors as Uint8Array) : null,
    };
  }

  /** Every evaluation of every finished ("done") run, optionally of one protocol kind, oldest first. */
  results(protocol?: ProtocolKind): ResultRow[] {
    // the best epoch is the trainer's metrics.best, which validates on the experiment's first evaluation
    const metric = (path: string) =>
      `CASE WHEN json_valid(r.metrics) THEN json_extract(r.metrics, '${path}') END`;
    let sql =
      `SELECT e.*, r.experiment, r.protocol_kind, r.protocol_dataset, r.protocol_seed, r.protocol_shots,
      r.variant, r.finished_at, ${metric("$.best.top1")} AS best_top1, ${
        metric("$.best.epoch")
      } AS best_epoch,
      CASE WHEN json_valid(r.config) THEN json_extract(r.config, '$.evals[0].name') END AS val_name
      FROM evals e JOIN runs r ON r.id = e.run_id WHERE r.status = 'done'`;
    const args: SQLInputValue[] = [];
    if (protocol) sql += " AND r.protocol_kind = ?", args.push(protocol);
    sql += " ORDER BY r.finished_at, r.id, e.id";
    return (this.#db.prepare(sql).all(...args) as Row[]).map((r) => {
      const protocol: ProtocolTag = { kind: String(r.protocol_kind) as ProtocolKind };
      if (r.protocol_dataset !== null) protocol.dataset = String(r.protocol_dataset);
      if (r.protocol_seed !== null) protocol.seed = num(r.protocol_seed);
      if (r.protocol_shots !== null) protocol.shots = num(r.protocol_shots);
      return {
        ...this.#eval(r),
        experiment: String(r.experiment),
        protocol,
        variant: String(r.variant),
        finishedAt: num(r.finished_at),
        best: typeof r.best_top1 === "number" && typeof r.best_epoch === "number" && r.val_name === r.name
          ? { epoch: r.best_epoch, top1: r.best_top1 }
          : null,
      };
    });
  }

  /**
   * Checkpoints of finished ("done") runs with their run's experiment, newest run first, in one query
   * (the dashboard's predict form); `path` keeps only that file's rows.
   */
  doneCheckpoints(opts: { limit?: number; path?: string } = {}): DoneCheckpoint[] {
    let sql = `SELECT c.path, c.run_id, r.experiment, c.kind, c.epoch, c.top1 FROM checkpoints c
      JOIN runs r ON r.id = c.run_id WHERE r.status = 'done'`;
    const args: SQLInputValue[] = [];
    if (opts.path !== undefined) sql += " AND c.path = ?", args.push(opts.path);
    sql += " ORDER BY r.started_at DESC, r.id DESC, c.id";
    if (opts.limit !== undefined) sql += ` LIMIT ${Math.max(0, Math.floor(opts.limit))}`;
    return (this.#db.prepare(sql).all(...args) as Row[]).map((c) => ({
      path: String(c.path),
      runId: num(c.run_id),
      experiment: String(c.experiment),
      kind: String(c.kind) as CheckpointKind,
      epoch: num(c.epoch),
      top1: numOrNull(c.top1),
    }));
  }

  /**
   * A value that changes whenever anything is committed, by this connection or any other: a cache key
   * for what a reader computes from the store (the dashboard's leaderboards).
   */
  changeStamp(): string {
    const v = this.#db.prepare("PRAGMA data_version").get() as Row;
    const own = this.#db.prepare("SELECT total_changes() AS n").get() as Row;
    return `${v.data_version}:${own.n}`;
  }
}

/** A checkpoint of a finished run, as the predict form lists it. */
export interface DoneCheckpoint {
  path: string;
  runId: number;
  experiment: string;
  kind: CheckpointKind;
  epoch: number;
  top1: number | null;
}
