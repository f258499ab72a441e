// The results store's SQL backend: one small synchronous interface, two implementations (SQLite through
// node:sqlite in sql-sqlite.ts, PostgreSQL through the npm `postgres` client in a worker, sql-postgres.ts),
// so the store's SQL and code path are written once. Statements are written portably: `?` placeholders
// (numbered for PostgreSQL here), `INSERT … ON CONFLICT … DO UPDATE`, `RETURNING id`.
//
// Which backend a target names: `postgres://…` / `postgresql://…` is a PostgreSQL server; `sqlite:FILE` or
// any other string is a SQLite file (":memory:" included).

import { existsSync } from "node:fs";

export type SqlValue = null | number | bigint | string | Uint8Array;
export type Row = Record<string, SqlValue>;
export type Dialect = "sqlite" | "postgres";

/** A connection to one database; every call completes (or throws) before it returns. */
export interface SqlDb {
  readonly dialect: Dialect;
  /** the file path, or the URL with its password redacted: what errors and `store.path` show */
  readonly name: string;
  readonly isOpen: boolean;
  readonly inTransaction: boolean;
  all(sql: string, ...args: SqlValue[]): Row[];
  get(sql: string, ...args: SqlValue[]): Row | undefined;
  /** a statement without rows; returns the number of rows it changed */
  run(sql: string, ...args: SqlValue[]): number;
  /** one statement run once per argument list (pipelined on PostgreSQL); returns the rows changed in all */
  runMany(sql: string, argLists: SqlValue[][]): number;
  /** one or more statements without arguments (DDL) */
  exec(sql: string): void;
  /** BEGIN IMMEDIATE on SQLite (the write lock up front), BEGIN on PostgreSQL */
  begin(): void;
  commit(): void;
  rollback(): void;
  close(): void;
}

/** Whether a results target names a PostgreSQL server rather than a SQLite file. */
export function isPostgresTarget(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/** The SQLite file a target names (`sqlite:FILE` or the plain path). */
export function sqliteFile(target: string): string {
  return target.startsWith("sqlite:") ? target.slice("sqlite:".length) : target;
}

/**
 * The SQLite file a target names when that file does not exist (undefined for PostgreSQL and for a file
 * that is there): opening it would create an empty store, which a command that reads should report instead.
 */
export function absentStoreFile(target: string): string | undefined {
  if (isPostgresTarget(target)) return undefined;
  const file = sqliteFile(target);
  return existsSync(file) ? undefined : file;
}

/** A target as messages show it: the SQLite file, or the PostgreSQL URL with its password hidden. */
export function shownTarget(target: string): string {
  return isPostgresTarget(target) ? redactUrl(target) : sqliteFile(target);
}

/** A PostgreSQL URL as it may be printed: the password (in the user part or `?password=`) replaced. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // not parseable: still never print what may be a password after "user:"
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
  }
  if (u.password) u.password = "***";
  if (u.searchParams.has("password")) u.searchParams.set("password", "***");
  return u.href;
}

/** `?` placeholders outside string literals and quoted names numbered $1, $2, … (PostgreSQL's form). */
export function numberPlaceholders(sql: string): string {
  let out = "", n = 0, quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "?") {
      out += `$${++n}`;
      continue;
    }
    out += ch;
  }
  return out;
}

/** The first words of a statement, for an error message (whitespace folded, at most ~60 characters). */
export function statementHead(sql: string): string {
  const s = sql.replace(/\s+/g, " ").trim();
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}
