// The results store's schema: the DDL as a list of migrations, applied in order inside one transaction
// when a store is opened on an older (or new, empty) database. One text for both backends: it is written
// in SQLite's words, and ddlFor() substitutes the few type words PostgreSQL spells differently.

import type { Dialect, SqlDb } from "./sql.ts";
import { num } from "./store-rows.ts";

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
  // the Slurm job array task a run ran as ("<array job id>_<task index>", or the job id alone), so that
  // `deno task runs` can put the queue's state beside the store's (issue 17)
  `
  ALTER TABLE runs ADD COLUMN slurm_job TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * A migration's text for a backend. PostgreSQL: a table's own `id INTEGER PRIMARY KEY` (SQLite's rowid)
 * becomes an identity column; INTEGER becomes BIGINT (SQLite's integers are 64-bit: times are in ms);
 * BLOB → BYTEA, REAL → DOUBLE PRECISION (both 8-byte IEEE, so values come back exact); WITHOUT ROWID (a
 * SQLite storage choice) is dropped. length(), CHECK, REFERENCES, ALTER TABLE … ADD COLUMN read the same.
 */
export function ddlFor(sql: string, dialect: Dialect): string {
  if (dialect === "sqlite") return sql;
  return sql
    .replace(/\bid INTEGER PRIMARY KEY\b/g, "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    .replace(/\bINTEGER\b/g, "BIGINT")
    .replace(/\bBLOB\b/g, "BYTEA")
    .replace(/\bREAL\b/g, "DOUBLE PRECISION")
    .replace(/\)\s*WITHOUT ROWID/g, ")");
}

/** The migrations for a backend, in order (migration i moves the schema from version i to i + 1). */
export function migrationsFor(dialect: Dialect): string[] {
  return MIGRATIONS.map((m) => ddlFor(m, dialect));
}

// PostgreSQL: stores opened at once on a fresh database (a job array's tasks) take turns migrating
const MIGRATION_LOCK = 0x76696669; // "vifi"

/** The version recorded in the database, or null when it has none yet (a new one, or one being created). */
export function readSchemaVersion(db: SqlDb): number | null {
  // called outside a transaction: on PostgreSQL a failed statement would abort the one it ran in
  try {
    const row = db.get("SELECT version FROM schema_version");
    return row ? num(row.version) : null;
  } catch {
    return null;
  }
}

/** Brings the schema up to SCHEMA_VERSION; call inside a write transaction. */
export function applyMigrations(db: SqlDb): void {
  if (db.dialect === "postgres") db.get("SELECT pg_advisory_xact_lock(?)", MIGRATION_LOCK);
  db.exec(ddlFor("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", db.dialect));
  const row = db.get("SELECT version FROM schema_version");
  let v = row ? num(row.version) : 0;
  if (!row) db.run("INSERT INTO schema_version (version) VALUES (0)");
  if (v > MIGRATIONS.length) {
    throw new Error(`schema version ${v} is newer than this code (${MIGRATIONS.length}); update vifi`);
  }
  const migrations = migrationsFor(db.dialect);
  for (; v < migrations.length; v++) db.exec(migrations[v]);
  db.run("UPDATE schema_version SET version = ?", v);
}
