// Many writers at once against PostgreSQL (issue 17: one per array task): 8 processes open one fresh
// database at the same moment (racing its migration) and for 30 s (VIFI_PG_WRITERS_SECONDS) start runs
// and log steps, epochs, evaluations and checkpoints as fast as they can, each reporting exactly what
// its returned calls wrote. Afterwards every reported row is in the database once, and nothing else is.

import { assert, assertEquals } from "../data/assert.ts";
import { openSql } from "../../lib/results/store.ts";
import { postgres } from "./backends.ts";
import type { WrittenRun } from "./pg_writer_child.ts";

const WRITERS = 8;
const child = new URL("./pg_writer_child.ts", import.meta.url).pathname;

type PerRun = Map<number, Record<string, number>>;

function perRun(db: ReturnType<typeof openSql>, sql: string): PerRun {
  const m: PerRun = new Map();
  for (const r of db.all(sql)) {
    m.set(Number(r.run_id), Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])));
  }
  return m;
}

Deno.test("store [postgres]: 8 writer processes for 30 s: every row present exactly once", async () => {
  await postgres.with(async ({ target }) => {
    const seconds = Number(Deno.env.get("VIFI_PG_WRITERS_SECONDS") ?? 30);
    const start = Date.now() + 3000; // every child loaded before the opening race
    const procs = Array.from({ length: WRITERS }, (_, w) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", child, target, String(w), String(start), String(seconds)],
        stdout: "piped",
        stderr: "piped",
      }).output());
    const outs = await Promise.all(procs);
    const written: WrittenRun[][] = outs.map((o, w) => {
      const err = new TextDecoder().decode(o.stderr);
      assertEquals(o.code, 0, `writer ${w}: ${err}`);
      return JSON.parse(new TextDecoder().decode(o.stdout).trim().split("\n").at(-1)!);
    });
    const all = written.flat();
    const db = openSql(target);
    try {
      // runs: the reported ids, each once, with the experiment its writer gave it
      const runs = db.all("SELECT id, experiment, status FROM runs ORDER BY id");
      assertEquals(runs.length, all.length, "runs in the database vs reported");
      const byId = new Map(all.map((r) => [r.id, r]));
      assertEquals(byId.size, all.length, "two writers were given one run id");
      for (const r of runs) {
        const w = byId.get(Number(r.id));
        assert(w !== undefined, `run ${r.id} (${r.experiment}) was not reported by any writer`);
        assertEquals([r.experiment, r.status === "done"], [w.experiment, w.done], `run ${r.id}`);
      }
      // per run: step keys 0..n-1 each once (count = distinct = max + 1 = reported), and the other tables
      const steps = perRun(
        db,
        "SELECT run_id, count(*) AS n, count(DISTINCT step) AS d, min(step) AS lo, max(step) AS hi FROM step_metrics GROUP BY run_id",
      );
      const epochs = perRun(db, "SELECT run_id, count(*) AS n FROM epoch_metrics GROUP BY run_id");
      const evals = perRun(
        db,
        "SELECT run_id, count(*) AS n, count(DISTINCT name) AS d FROM evals GROUP BY run_id",
      );
      const classes = perRun(
        db,
        "SELECT e.run_id, count(*) AS n FROM class_results c JOIN evals e ON e.id = c.eval_id GROUP BY e.run_id",
      );
      const confusion = perRun(
        db,
        "SELECT e.run_id, count(*) AS n FROM confusion c JOIN evals e ON e.id = c.eval_id GROUP BY e.run_id",
      );
      const ckpts = perRun(
        db,
        "SELECT run_id, count(*) AS n, count(DISTINCT path) AS d FROM checkpoints GROUP BY run_id",
      );
      for (const w of all) {
        const st = steps.get(w.id) ?? { n: 0, d: 0, lo: 0, hi: -1 };
        assertEquals(
          [st.n, st.d, st.lo, st.hi],
          [w.steps, w.steps, 0, w.steps - 1],
          `steps of ${w.experiment}`,
        );
        assertEquals(epochs.get(w.id)?.n ?? 0, w.epochs, `epochs of ${w.experiment}`);
        const ev = evals.get(w.id) ?? { n: 0, d: 0 };
        assertEquals([ev.n, ev.d], [w.evals, w.evals], `evals of ${w.experiment}`);
        assertEquals(confusion.get(w.id)?.n ?? 0, w.evals, `confusion of ${w.experiment}`);
        assertEquals(classes.get(w.id)?.n ?? 0, w.classRows, `class rows of ${w.experiment}`);
        const ck = ckpts.get(w.id) ?? { n: 0, d: 0 };
        assertEquals([ck.n, ck.d], [w.checkpoints, w.checkpoints], `checkpoints of ${w.experiment}`);
      }
      // and nothing beyond them: table totals equal the reported sums
      const total = (t: string) => Number(db.get(`SELECT count(*) AS n FROM ${t}`)!.n);
      const sum = (f: (r: WrittenRun) => number) => all.reduce((n, r) => n + f(r), 0);
      assertEquals(
        ["step_metrics", "epoch_metrics", "evals", "class_results", "checkpoints"].map(total),
        [
          sum((r) => r.steps),
          sum((r) => r.epochs),
          sum((r) => r.evals),
          sum((r) => r.classRows),
          sum((r) => r.checkpoints),
        ],
      );
      assertEquals(Number(db.get("SELECT version FROM schema_version")!.version) > 0, true);
      assertEquals(total("schema_version"), 1, "one schema_version row after 8 racing opens");
      const perWriter = written.map((r) => r.length);
      assert(perWriter.every((n) => n >= 1), `every writer wrote: ${perWriter}`);
      console.log(
        `${WRITERS} writers × ${seconds} s: ${all.length} runs (${perWriter.join(" ")}), ${
          sum((r) => r.steps)
        } steps, ` +
          `${sum((r) => r.evals)} evals, ${sum((r) => r.checkpoints)} checkpoints, all present once`,
      );
    } finally {
      db.close();
    }
  });
});
