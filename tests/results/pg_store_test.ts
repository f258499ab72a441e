// What is PostgreSQL's own in the results store: nothing waits without bound (a lock held by another
// writer, a slow statement, a connection the server ended, a closed store), each failure is one line
// naming the store with its password redacted; changeStamp moves on every commit, by anyone; a
// transaction spans calls on the store's one connection; `?` placeholders and URLs are rewritten right.

import { assert, assertEquals } from "../data/assert.ts";
import { numberPlaceholders, redactUrl } from "../../lib/results/sql.ts";
import { PostgresDb } from "../../lib/results/sql-postgres.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { postgres } from "./backends.ts";

function withPassword(url: string): string {
  const u = new URL(url);
  u.password = "s3cret"; // trust auth on the test server: accepted and ignored
  return u.href;
}

function oneLineError(fn: () => unknown, ...includes: string[]): string {
  let m = "";
  try {
    fn();
  } catch (e) {
    m = (e as Error).message;
  }
  assert(m !== "", "expected an error");
  assert(!m.includes("\n") && !m.includes("s3cret"), m);
  for (const s of includes) assert(m.includes(s), `${JSON.stringify(m)} lacks ${JSON.stringify(s)}`);
  return m;
}

Deno.test("sql: ? numbered outside quotes; URLs printed without their password", () => {
  assertEquals(
    numberPlaceholders(`SELECT '?', "a?" FROM t WHERE x = ? AND y IN (?, ?) AND z = 'it''s ?'`),
    `SELECT '?', "a?" FROM t WHERE x = $1 AND y IN ($2, $3) AND z = 'it''s ?'`,
  );
  assertEquals(redactUrl("postgres://u:p%40ss@h:5/db"), "postgres://u:***@h:5/db");
  assertEquals(
    redactUrl("postgresql://h/db?password=x&sslmode=require"),
    "postgresql://h/db?password=***&sslmode=require",
  );
  assertEquals(redactUrl("postgres://u@h/db"), "postgres://u@h/db");
  assertEquals(redactUrl("postgres://u:p@[bad/db"), "postgres://u:***@[bad/db");
});

Deno.test("store [postgres]: bounded waits — a held lock, a slow statement, an ended connection, a closed store", async () => {
  await postgres.with(({ target }) => {
    const url = withPassword(target), shown = redactUrl(url);
    const a = ResultsStore.open(url);
    const b = ResultsStore.open(url, { busyTimeoutMs: 300 });
    try {
      const id = a.startRun({
        experiment: "e",
        protocol: { kind: "custom" },
        variant: "v",
        config: {},
        commit: null,
        seed: 0,
        device: "d",
      });
      // a transaction spans calls: b waits for a's row lock, then gives up after its lock timeout
      a.transaction(() => {
        a.heartbeat(id);
        const t0 = performance.now();
        oneLineError(() => b.finishRun(id, { status: "done" }), shown, "lock timeout", "UPDATE runs SET");
        const ms = performance.now() - t0;
        assert(ms >= 250 && ms < 5000, `waited ${ms} ms for a 300 ms lock timeout`);
      });
      b.finishRun(id, { status: "done" }); // the lock is gone with a's commit
      assertEquals(a.getRun(id)!.status, "done");

      const slow = new PostgresDb(url, { callTimeoutMs: 500 });
      const t0 = performance.now();
      oneLineError(() => slow.get("SELECT pg_sleep(5)"), shown, "no answer in 1 s", "SELECT pg_sleep(5)");
      assert(performance.now() - t0 < 3000, "the call was not bounded");
      assert(!slow.isOpen, "a call that timed out closes the connection");
      oneLineError(() => slow.get("SELECT 1"), "closed");

      // the server ends b's session: the next call fails at once, it does not hang
      const pid = b.sql.get("SELECT pg_backend_pid() AS p")!.p;
      a.sql.get("SELECT pg_terminate_backend(?)", pid);
      oneLineError(() => b.listRuns(), shown);
    } finally {
      a.close();
      b.close();
    }
    oneLineError(() => a.listRuns(), "closed");
  });
});

Deno.test("store [postgres]: changeStamp moves on every commit, by this connection or another, and on own writes", async () => {
  await postgres.with(({ target }) => {
    const a = ResultsStore.open(target), b = ResultsStore.open(target);
    try {
      const start = {
        experiment: "e",
        protocol: { kind: "custom" as const },
        variant: "v",
        config: {},
        commit: null,
        seed: 0,
        device: "d",
      };
      let stamp = a.changeStamp();
      const moved = (why: string) => {
        const now = a.changeStamp();
        assert(now !== stamp, `stamp unchanged after ${why}`);
        stamp = now;
      };
      const id = b.startRun(start);
      moved("another connection's insert");
      b.heartbeat(id);
      moved("another connection's update");
      b.transaction(() => b.logSteps(id, [{ step: 0, epoch: 0, loss: 1, lr: 1 }]));
      moved("another connection's transaction");
      a.transaction(() => {
        a.heartbeat(id);
        moved("this connection's write, not yet committed");
      });
      moved("this connection's commit");
      // the live runs page asks this every poll: a changed stamp, then the changed run
      assertEquals(a.listRuns()[0].id, id);
    } finally {
      a.close();
      b.close();
    }
  });
});
