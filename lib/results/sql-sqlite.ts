// The SQLite backend of the results store's SQL interface (sql.ts): node:sqlite, in this thread. WAL mode
// so readers never block the writer (and vice versa); a busy database is waited for (busy_timeout).

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Row, SqlDb, SqlValue } from "./sql.ts";

export class SqliteDb implements SqlDb {
  readonly dialect = "sqlite" as const;
  readonly name: string;
  readonly #db: DatabaseSync;
  // prepared once per text: the trainer runs the same few statements thousands of times
  readonly #statements = new Map<string, StatementSync>();

  constructor(path: string, opts: { busyTimeoutMs?: number } = {}) {
    this.name = path;
    if (path !== ":memory:") mkdirSync(dirname(path) || ".", { recursive: true });
    this.#db = new DatabaseSync(path);
    try {
      // a second writer waits for the first rather than failing at once
      this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
      this.#db.exec("PRAGMA journal_mode = WAL");
      this.#db.exec("PRAGMA synchronous = NORMAL");
      this.#db.exec("PRAGMA foreign_keys = ON");
    } catch (e) {
      this.#db.close();
      throw e;
    }
  }

  get isOpen(): boolean {
    return this.#db.isOpen;
  }

  get inTransaction(): boolean {
    return this.#db.isOpen && this.#db.isTransaction;
  }

  #prepare(sql: string): StatementSync {
    let st = this.#statements.get(sql);
    if (!st) this.#statements.set(sql, st = this.#db.prepare(sql));
    return st;
  }

  all(sql: string, ...args: SqlValue[]): Row[] {
    return this.#prepare(sql).all(...args as SQLInputValue[]) as Row[];
  }

  get(sql: string, ...args: SqlValue[]): Row | undefined {
    return this.#prepare(sql).get(...args as SQLInputValue[]) as Row | undefined;
  }

  run(sql: string, ...args: SqlValue[]): number {
    return Number(this.#prepare(sql).run(...args as SQLInputValue[]).changes);
  }

  runMany(sql: string, argLists: SqlValue[][]): number {
    const st = this.#prepare(sql);
    let n = 0;
    for (const args of argLists) n += Number(st.run(...args as SQLInputValue[]).changes);
    return n;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  begin(): void {
    // IMMEDIATE takes the write lock up front, so a busy database is waited for at BEGIN
    // (busy_timeout) instead of failing half-way when a read lock cannot be upgraded.
    this.#db.exec("BEGIN IMMEDIATE");
  }

  commit(): void {
    this.#db.exec("COMMIT");
  }

  rollback(): void {
    if (this.inTransaction) this.#db.exec("ROLLBACK");
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
