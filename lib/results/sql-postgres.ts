// The PostgreSQL backend of the results store's SQL interface (sql.ts).
//
// The store's API is synchronous (the trainer, the leaderboard, the dashboard and the tests all call it
// so) and the PostgreSQL client is asynchronous. Rather than a second, async store, the client runs in a
// worker (pg-worker.ts) and each call here posts its statement and blocks this thread with Atomics.wait
// on a SharedArrayBuffer until the worker writes the answer there. So: one store code path for both
// backends; a write is complete (committed, or failed) before the trainer goes on, in the order it was
// made; and a blocked call costs one round trip to the server (sub-millisecond on a local one) plus the
// hand-over between threads. The worker holds one reserved connection for the store's life, so a
// BEGIN … COMMIT spans calls, as a SQLite transaction does.
//
// Nothing waits forever: the worker bumps a heartbeat while it runs, so a worker that died is noticed
// within seconds; a call that takes longer than `callTimeoutMs` fails, and the store is closed.

import v8 from "node:v8";
import { Worker } from "node:worker_threads";
import { numberPlaceholders, redactUrl, type Row, type SqlDb, type SqlValue, statementHead } from "./sql.ts";
import type { Answer, OpenRequest, QueryRequest } from "./pg-worker.ts";

const HEADER_BYTES = 16; // pg-worker.ts writes the answer after this header
const WORKER_SILENT_MS = 5_000; // no heartbeat for this long: the worker is gone
const LOAD_MS = 30_000; // the worker's first answer may wait for its module (the client) to load

export interface PostgresOptions {
  /** how long a lock held by another writer is waited for (PostgreSQL's lock_timeout); default 10 s */
  busyTimeoutMs?: number;
  /** the most one call may take; default 120 s */
  callTimeoutMs?: number;
  /** seconds to wait for the server to accept the connection; default 10 */
  connectTimeoutS?: number;
}

export class PostgresDb implements SqlDb {
  readonly dialect = "postgres" as const;
  readonly name: string;
  #worker: Worker | undefined;
  readonly #sab: SharedArrayBuffer;
  readonly #ctl: Int32Array;
  readonly #callTimeoutMs: number;
  #inTransaction = false;

  constructor(url: string, opts: PostgresOptions = {}) {
    this.name = redactUrl(url);
    this.#callTimeoutMs = opts.callTimeoutMs ?? 120_000;
    this.#sab = new SharedArrayBuffer(1 << 16, { maxByteLength: 1 << 30 });
    this.#ctl = new Int32Array(this.#sab, 0, 4);
    // node:worker_threads rather than a web Worker: it can be unref'd, so a store left open does not keep
    // the process alive (as an open SQLite file does not)
    this.#worker = new Worker(new URL("./pg-worker.ts", import.meta.url));
    this.#worker.unref();
    const connectTimeoutS = opts.connectTimeoutS ?? 10;
    const open: OpenRequest = {
      op: "open",
      url,
      sab: this.#sab,
      connectTimeoutS,
      lockTimeoutMs: Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000)),
    };
    try {
      this.#call(open, "connect", LOAD_MS + connectTimeoutS * 1000);
    } catch (e) {
      this.#stop();
      throw e;
    }
  }

  get isOpen(): boolean {
    return this.#worker !== undefined;
  }

  get inTransaction(): boolean {
    return this.#inTransaction;
  }

  #stop(): void {
    void this.#worker?.terminate();
    this.#worker = undefined;
    this.#inTransaction = false;
  }

  /** Posts one request and blocks until the worker answers; a dead or stuck worker is an error. */
  #call(req: OpenRequest | QueryRequest, head: string, limitMs = this.#callTimeoutMs): Answer & { ok: true } {
    const fail = (why: string) => new Error(`vifi: results store ${this.name}: ${why} (${head})`);
    if (!this.#worker) throw fail("the store is closed");
    const ctl = this.#ctl;
    Atomics.store(ctl, 0, 0);
    this.#worker.postMessage(req);
    const start = performance.now();
    let beat = Atomics.load(ctl, 2), beatAt = start;
    while (Atomics.load(ctl, 0) === 0) {
      Atomics.wait(ctl, 0, 0, 250);
      const now = performance.now();
      const b = Atomics.load(ctl, 2);
      if (b !== beat) beat = b, beatAt = now;
      // before its first heartbeat the worker may still be loading; after it, silence means it is gone
      const silent = req.op !== "open" && now - beatAt > WORKER_SILENT_MS;
      if (Atomics.load(ctl, 0) !== 0) break;
      if (silent || now - start > limitMs) {
        this.#stop();
        throw fail(
          silent ? "the database worker stopped answering" : `no answer in ${Math.round(limitMs / 1000)} s`,
        );
      }
    }
    const len = Atomics.load(ctl, 1);
    const a = v8.deserialize(new Uint8Array(this.#sab, HEADER_BYTES, len).slice()) as Answer;
    if (!a.ok) throw fail(a.message);
    return a;
  }

  all(sql: string, ...args: SqlValue[]): Row[] {
    return this.#call({ op: "all", sql: numberPlaceholders(sql), args }, statementHead(sql)).rows as Row[];
  }

  get(sql: string, ...args: SqlValue[]): Row | undefined {
    return this.all(sql, ...args)[0];
  }

  run(sql: string, ...args: SqlValue[]): number {
    return this.#call({ op: "run", sql: numberPlaceholders(sql), args }, statementHead(sql)).changes ?? 0;
  }

  runMany(sql: string, argLists: SqlValue[][]): number {
    if (!argLists.length) return 0;
    return this.#call({ op: "many", sql: numberPlaceholders(sql), argLists }, statementHead(sql)).changes ??
      0;
  }

  exec(sql: string): void {
    this.#call({ op: "exec", sql }, statementHead(sql));
  }

  begin(): void {
    this.exec("BEGIN");
    this.#inTransaction = true;
  }

  commit(): void {
    // a failed COMMIT ends the transaction too (PostgreSQL rolls it back)
    this.#inTransaction = false;
    this.exec("COMMIT");
  }

  rollback(): void {
    if (!this.#inTransaction) return;
    this.#inTransaction = false;
    this.exec("ROLLBACK");
  }

  close(): void {
    if (!this.#worker) return;
    try {
      this.#call({ op: "close" }, "close", 5_000);
    } catch {
      // closing anyway: the worker goes, and the server ends the session when the socket closes
    } finally {
      this.#stop();
    }
  }
}
