// The results store on real SQLite files in a temp folder and (where VIFI_TEST_POSTGRES names a server) on
// PostgreSQL databases of each test's own: what goes in comes back, a failed write leaves nothing behind,
// runs of dead processes are recovered, a stopped run is reopened, a newer schema is refused; and on
// SQLite readers and writers do not block each other (WAL), including across processes.

import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertThrows } from "../data/assert.ts";
import {
  defaultResultsPath,
  type EvalInput,
  openSql,
  ResultsStore,
  SCHEMA_VERSION,
} from "../../lib/results/store.ts";
import { backends } from "./backends.ts";

const storeUrl = new URL("../../lib/results/store.ts", import.meta.url).href;

async function withDir(fn: (dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "vifi-results-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const protocol = { kind: "base-to-novel" as const, dataset: "hmdb", seed: 2 };

function startInput(experiment: string) {
  return {
    experiment,
    protocol,
    variant: "both",
    config: { name: experiment, train: { lr: 2e-6 } },
    commit: "abc",
    seed: 7,
    device: "test adapter",
  };
}

function startRun(s: ResultsStore, experiment = "b2n-hmdb-s2") {
  return s.startRun(startInput(experiment));
}

function evalInput(over: Partial<EvalInput> = {}): EvalInput {
  return {
    name: "base",
    dataset: "hmdb",
    split: 1,
    subset: "base",
    clips: 1,
    crops: 1,
    top1: 50,
    top5: 75,
    count: 4,
    epoch: 10,
    perClass: [{ name: "brush hair", correct: 1, total: 2 }, { name: "cartwheel", correct: 1, total: 2 }],
    confusion: [[1, 1], [1, 1]],
    ...over,
  };
}

async function runDeno(code: string, dir: string, env: Record<string, string> = {}) {
  const file = `${dir}/child-${crypto.randomUUID().slice(0, 8)}.ts`;
  await Deno.writeTextFile(file, code);
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", file],
    env,
    stdout: "piped",
    stderr: "piped",
  });
}

for (const b of backends) {
  Deno.test(`store [${b.name}]: round trip of a run with steps, epochs, evals, embeddings and checkpoints; reopen keeps it`, async () => {
    await b.with(roundTrip);
  });
}

function roundTrip({ target, dir }: { target: string; dir: string }) {
  {
    // SQLite: the file's folders are made
    const path = target.startsWith("postgres") ? target : `${dir}/nested/deeper/results.db`;
    let s = ResultsStore.open(path);
    assertEquals(s.schemaVersion(), SCHEMA_VERSION);
    const id = startRun(s);
    // doubles that have no short decimal and a time past 2^32 come back bit for bit
    s.logSteps(id, [
      { step: 0, epoch: 0, loss: 4.5, lr: 1e-7, framesPerSec: 120, time: 1000 },
      { step: 1, epoch: 0, loss: 4.25, lr: 2e-7, time: 2000 },
      { step: 2, epoch: 1, loss: 4, lr: 3e-7, framesPerSec: 130.5, time: 3000 },
      { step: 3, epoch: 1, loss: 1 / 3, lr: 0.1 + 0.2, framesPerSec: -1e-310, time: 2 ** 53 - 1 },
    ]);
    s.logEpoch(id, { epoch: 0, trainLoss: 4.3, valTop1: 20, valTop5: 60, seconds: 12.5 });
    s.logEpoch(id, { epoch: 1, trainLoss: 4.1 });
    const evalId = s.addEval(id, evalInput());
    const vectors = new Float32Array([0.5, -1, 2, 3.25, 1e-3, 7]);
    const classEmbeddings = new Float32Array([1, 0, 0, 1]);
    s.addEmbeddings(evalId, {
      vectors,
      dim: 2,
      labels: [0, 1, 1],
      classNames: ["brush hair", "cartwheel"],
      classEmbeddings,
    });
    s.addCheckpoint(id, { epoch: 1, kind: "best", path: "/tmp/best.pth", top1: 50 });
    s.addCheckpoint(id, { epoch: 1, kind: "last", path: "/tmp/last.pth" });
    s.finishRun(id, { status: "done", metrics: { base: 50 } });
    s.close();

    s = ResultsStore.open(path);
    const r = s.getRun(id)!;
    assertEquals(
      [r.experiment, r.protocol, r.variant, r.commit, r.seed, r.device, r.status, r.error, r.pid],
      ["b2n-hmdb-s2", protocol, "both", "abc", 7, "test adapter", "done", null, Deno.pid],
    );
    assertEquals(r.config, { name: "b2n-hmdb-s2", train: { lr: 2e-6 } });
    assertEquals(r.metrics, { base: 50 });
    assert(r.finishedAt !== null && r.finishedAt >= r.startedAt, "finished after started");
    assertEquals(r.epochs, [
      { epoch: 0, trainLoss: 4.3, valTop1: 20, valTop5: 60, seconds: 12.5 },
      { epoch: 1, trainLoss: 4.1, valTop1: null, valTop5: null, seconds: null },
    ]);
    assertEquals(r.checkpoints.map((c) => [c.epoch, c.kind, c.path, c.top1]), [
      [1, "best", "/tmp/best.pth", 50],
      [1, "last", "/tmp/last.pth", null],
    ]);
    assertEquals(
      r.evals.map((e) => [e.id, e.name, e.dataset, e.split, e.subset, e.top1, e.top5, e.count, e.epoch]),
      [
        [evalId, "base", "hmdb", 1, "base", 50, 75, 4, 10],
      ],
    );
    assertEquals(s.stepMetrics(id).map((x) => [x.step, x.loss, x.lr, x.framesPerSec, x.time]), [
      [0, 4.5, 1e-7, 120, 1000],
      [1, 4.25, 2e-7, null, 2000],
      [2, 4, 3e-7, 130.5, 3000],
      [3, 1 / 3, 0.1 + 0.2, -1e-310, 2 ** 53 - 1],
    ]);
    assertEquals(s.stepMetrics(id, { sinceStep: 1 }).map((x) => x.step), [2, 3]);

    const d = s.evalDetail(evalId)!;
    assertEquals(d.perClass, [
      { index: 0, name: "brush hair", correct: 1, total: 2 },
      { index: 1, name: "cartwheel", correct: 1, total: 2 },
    ]);
    assertEquals(d.confusion, [[1, 1], [1, 1]]);
    assert(d.hasEmbeddings, "embeddings flagged");
    const emb = s.embeddings(evalId)!;
    assertEquals([emb.n, emb.dim, emb.classNames], [3, 2, ["brush hair", "cartwheel"]]);
    assertEquals(Array.from(emb.labels), [0, 1, 1]);
    assertEquals(Array.from(emb.vectors), Array.from(vectors));
    assertEquals(Array.from(emb.classEmbeddings!), [1, 0, 0, 1]);

    assertEquals(s.listRuns().map((x) => x.id), [id]);
    assertEquals(s.listRuns({ protocol: "zero-shot" }).length, 0);
    assertEquals(s.listRuns({ dataset: "hmdb", status: "done", variant: "both" }).length, 1);
    assertEquals(s.getRun(id + 100), null);
    assertEquals(s.evalDetail(evalId + 100), null);
    assertThrows(() => s.finishRun(id + 100, { status: "done" }), "no run");
    s.close();
  }
}

Deno.test("store: default path honours VIFI_RESULTS; the parent folder is created", async () => {
  await withDir((dir) => {
    const prev = Deno.env.get("VIFI_RESULTS");
    Deno.env.set("VIFI_RESULTS", `${dir}/a/b/r.db`);
    try {
      assertEquals(defaultResultsPath(), `${dir}/a/b/r.db`);
      ResultsStore.open().close();
      assert(Deno.statSync(`${dir}/a/b/r.db`).isFile, "database file created");
    } finally {
      if (prev === undefined) Deno.env.delete("VIFI_RESULTS");
      else Deno.env.set("VIFI_RESULTS", prev);
    }
  });
});

for (const b of backends) {
  Deno.test(`store [${b.name}]: a database from newer code is refused, not silently used`, async () => {
    await b.with(({ target }) => {
      ResultsStore.open(target).close();
      const raw = openSql(target);
      raw.run("UPDATE schema_version SET version = ?", SCHEMA_VERSION + 1);
      raw.close();
      assertThrows(() => ResultsStore.open(target), "newer than this code");
    });
  });

  Deno.test(`store [${b.name}]: a write that fails part-way leaves nothing half-written`, async () => {
    await b.with(failedWrites);
  });
}

function failedWrites({ target }: { target: string }) {
  {
    const s = ResultsStore.open(target);
    const check = target.startsWith("postgres") ? "violates check constraint" : "CHECK constraint failed";
    const id = startRun(s);
    // class 3 claims more correct than total: the CHECK fails after the eval row and three class rows
    const bad = evalInput({
      perClass: [0, 1, 2, 3, 4].map((i) => ({ name: `c${i}`, correct: i === 3 ? 5 : 1, total: 2 })),
      confusion: [0, 1, 2, 3, 4].map(() => [0, 0, 0, 0, 0]),
    });
    assertThrows(() => s.addEval(id, bad), check);
    assertEquals(s.getRun(id)!.evals.length, 0);
    const raw = openSql(target);
    const count = (t: string) => Number(raw.get(`SELECT count(*) AS n FROM ${t}`)!.n);
    assertEquals([count("evals"), count("class_results"), count("confusion")], [0, 0, 0]);

    // the third of four step rows lacks its epoch (NOT NULL): none of the batch lands
    const rows = [0, 1, 2, 3].map((step) => ({ step, epoch: 0, loss: 1, lr: 1 }));
    (rows[2] as { epoch: unknown }).epoch = null;
    let threw = false;
    try {
      s.logSteps(id, rows);
    } catch {
      threw = true;
    }
    assert(threw, "a null epoch must be refused");
    assertEquals(count("step_metrics"), 0);

    // out-of-range accuracy is refused too (percent, not a fraction of 1 mistaken for percent > 100)
    assertThrows(() => s.addEval(id, evalInput({ top1: 101 })), check);
    assertThrows(() => s.addEval(id, evalInput({ confusion: [[1, 1]] })), "confusion must be 2 × 2");

    // the store still works afterwards: no transaction left open
    const ok = s.addEval(id, evalInput());
    assertEquals(s.getRun(id)!.evals.map((e) => e.id), [ok]);
    assertEquals([count("evals"), count("class_results"), count("confusion")], [1, 2, 1]);
    raw.close();
    s.close();
  }
}

for (const b of backends) {
  Deno.test(`store [${b.name}]: recoverStale marks runs of ended processes failed, leaves live ones running`, async () => {
    await b.with(recoverStale);
  });
}

async function recoverStale({ target: path, dir }: { target: string; dir: string }) {
  {
    // a child starts a run, logs a step, and dies without finishing it
    const child = await runDeno(
      `import { ResultsStore } from ${JSON.stringify(storeUrl)};
       const s = ResultsStore.open(${JSON.stringify(path)});
       const id = s.startRun({ experiment: "crashes", protocol: { kind: "custom" }, variant: "both",
         config: {}, commit: null, seed: 0, device: "cpu" });
       s.logSteps(id, [{ step: 0, epoch: 0, loss: 1, lr: 1 }]);
       console.log(id);
       Deno.exit(3);`,
      dir,
    );
    const out = await child.output();
    assertEquals(out.code, 3, new TextDecoder().decode(out.stderr));
    const crashed = Number(new TextDecoder().decode(out.stdout).trim());

    const s = ResultsStore.open(path, { recover: false });
    const mine = startRun(s, "alive");
    const farOld = startRun(s, "other-host-silent");
    const farNew = startRun(s, "other-host-beating");
    const raw = openSql(path);
    const hour = 3_600_000, now = Date.now();
    raw.run("UPDATE runs SET host = 'elsewhere', heartbeat_at = ? WHERE id = ?", now - 2 * hour, farOld);
    raw.run("UPDATE runs SET host = 'elsewhere', heartbeat_at = ? WHERE id = ?", now - 60_000, farNew);
    raw.close();
    assertEquals(s.getRun(crashed)!.status, "running");

    const marked = s.recoverStale({ staleAfterMs: hour });
    assertEquals(marked.sort((a, b) => a - b), [crashed, farOld].sort((a, b) => a - b));
    const c = s.getRun(crashed)!;
    assertEquals(c.status, "failed");
    assert(c.error!.startsWith("stale: process"), c.error!);
    assert(c.finishedAt !== null, "failed runs get a finish time");
    assertEquals(s.stepMetrics(crashed).length, 1);
    assertEquals(s.getRun(farOld)!.status, "failed");
    assertEquals(s.getRun(farNew)!.status, "running");
    assertEquals(s.getRun(mine)!.status, "running");
    // idempotent
    assertEquals(s.recoverStale({ staleAfterMs: hour }), []);
    s.close();
  }
}

Deno.test("store: every command that opens the store marks the runs of ended processes failed (leaderboard here)", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/r.db`;
    const child = await runDeno(
      `import { ResultsStore } from ${JSON.stringify(storeUrl)};
       const s = ResultsStore.open(${JSON.stringify(path)});
       console.log(s.startRun({ experiment: "killed", protocol: { kind: "custom" }, variant: "both",
         config: {}, commit: null, seed: 0, device: "cpu" }));
       Deno.exit(9);`,
      dir,
    );
    const out = await child.output();
    const killed = Number(new TextDecoder().decode(out.stdout).trim());
    const status = () => {
      const raw = new DatabaseSync(path);
      const r = raw.prepare("SELECT status, error FROM runs WHERE id = ?").get(killed) as Record<
        string,
        string
      >;
      raw.close();
      return r;
    };
    assertEquals(status().status, "running");
    // a reader process: the leaderboard only opens the store and prints; the open marks the dead run
    const { main } = await import("../../lib/cli/leaderboard.ts");
    const log = console.log;
    console.log = () => {};
    try {
      assertEquals(main(["--db", path, "--json"]), 0);
    } finally {
      console.log = log;
    }
    assertEquals(status().status, "failed");
    assert(status().error.startsWith("stale: process"), status().error);
    // and a plain open reports what it marked
    const s = ResultsStore.open(path);
    assertEquals(s.recovered, []);
    s.close();
  });
});

Deno.test("store: WAL — a reader is not blocked by a writer's open transaction, and sees only committed rows", async () => {
  await withDir((dir) => {
    const path = `${dir}/r.db`;
    const w = ResultsStore.open(path, { busyTimeoutMs: 0 });
    const reader = ResultsStore.open(path, { busyTimeoutMs: 0 });
    const raw = new DatabaseSync(path);
    assertEquals((raw.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");

    w.transaction(() => {
      startRun(w, "in-flight");
      // busy_timeout 0: any lock conflict would throw SQLITE_BUSY here instead of waiting
      assertEquals(reader.listRuns().length, 0);
    });
    assertEquals(reader.listRuns().map((r) => r.experiment), ["in-flight"]);

    // the other direction: a reader holding a snapshot does not stop the writer committing
    raw.exec("BEGIN");
    assertEquals(Number((raw.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n), 1);
    const id = startRun(w, "second");
    w.addEval(id, evalInput());
    assertEquals(Number((raw.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n), 1);
    raw.exec("COMMIT");
    assertEquals(Number((raw.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n), 2);
    raw.close();
    reader.close();
    w.close();
  });
});

Deno.test("store: across processes a reader goes on while another process holds a write transaction; a second writer waits", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/r.db`;
    const marker = `${dir}/holding`;
    ResultsStore.open(path).close();
    const child = (await runDeno(
      `import { ResultsStore } from ${JSON.stringify(storeUrl)};
       const s = ResultsStore.open(${JSON.stringify(path)});
       s.transaction(() => {
         s.startRun({ experiment: "child", protocol: { kind: "custom" }, variant: "both", config: {},
           commit: null, seed: 0, device: "cpu" });
         Deno.writeTextFileSync(${JSON.stringify(marker)}, "");
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
       });
       s.close();`,
      dir,
    )).spawn();
    const t0 = Date.now();
    while (true) {
      try {
        Deno.statSync(marker);
        break;
      } catch {
        if (Date.now() - t0 > 30_000) throw new Error("child never took the write lock");
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const s = ResultsStore.open(path, { busyTimeoutMs: 20_000 });
    const r0 = performance.now();
    assertEquals(s.listRuns().length, 0);
    const readMs = performance.now() - r0;
    assert(readMs < 500, `read took ${readMs} ms while the child held the write lock`);
    // this write must wait for the child's commit (busy_timeout), then succeed after it
    startRun(s, "parent");
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const runs = s.listRuns().map((r) => r.experiment).sort();
    assertEquals(runs, ["child", "parent"]);
    const child1 = s.listRuns({ experiment: "child" })[0], parent = s.listRuns({ experiment: "parent" })[0];
    assert(parent.id > child1.id, "the parent's write landed after the child's commit");
    s.close();
  });
});

for (const b of backends) {
  Deno.test(`store [${b.name}]: reopenRun takes up an unfinished run, drops the rows it will log again, refuses a done one`, async () => {
    await b.with(reopen);
  });
}

function reopen({ target }: { target: string }) {
  {
    const s = ResultsStore.open(target);
    try {
      const id = startRun(s);
      s.logSteps(
        id,
        [1, 2, 3, 4, 5].map((step) => ({ step, epoch: step <= 3 ? 0 : 1, loss: step, lr: 1e-3 })),
      );
      s.logEpoch(id, { epoch: 0, trainLoss: 2 });
      s.logEpoch(id, { epoch: 1, trainLoss: 4.5 });
      s.addCheckpoint(id, { epoch: 0, kind: "epoch", path: "o/ckpt_epoch_0.safetensors", top1: 10 });
      s.addCheckpoint(id, { epoch: 0, kind: "last", path: "o/last.safetensors" });
      s.addCheckpoint(id, { epoch: 1, kind: "epoch", path: "o/ckpt_epoch_1.safetensors", top1: 20 });
      s.addEval(id, evalInput());
      s.finishRun(id, { status: "interrupted", error: "signal" });
      assert(s.reopenRun(id, { keepSteps: 3, fromEpoch: 1 }));
      const run = s.getRun(id)!;
      assertEquals(run.status, "running");
      assertEquals(run.error ?? null, null);
      assertEquals(s.stepMetrics(id).map((r) => r.step), [1, 2, 3]);
      assertEquals(run.epochs.map((e) => e.epoch), [0]);
      // the continued run evaluates, saves `last` and redoes epoch 1's checkpoint itself
      assertEquals(run.evals.length, 0);
      assertEquals(run.checkpoints.map((c) => `${c.kind}:${c.epoch}`), ["epoch:0"]);
      assertEquals(s.listRuns().length, 1);
      s.finishRun(id, { status: "done" });
      assert(!s.reopenRun(id, { keepSteps: 0, fromEpoch: 0 }), "a done run must stay done");
      assert(!s.reopenRun(id + 1, { keepSteps: 0, fromEpoch: 0 }), "no such run");
      assertEquals(s.getRun(id)!.status, "done");
    } finally {
      s.close();
    }
  }
}

Deno.test("store: a run records the Slurm task it ran as (array task, plain job, none)", async () => {
  const { slurmJob } = await import("../../lib/results/store-env.ts");
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  assertEquals(
    slurmJob(env({ SLURM_ARRAY_JOB_ID: "41", SLURM_ARRAY_TASK_ID: "3", SLURM_JOB_ID: "44" })),
    "41_3",
  );
  assertEquals(slurmJob(env({ SLURM_JOB_ID: "44" })), "44");
  assertEquals(slurmJob(env({})), null);
  await withDir((dir) => {
    const s = ResultsStore.open(`${dir}/r.db`);
    try {
      const a = s.startRun({ ...startInput("a"), slurmJob: "7_1" });
      const b = s.startRun({ ...startInput("b"), slurmJob: null });
      assertEquals(s.getRun(a)!.slurmJob, "7_1");
      assertEquals(s.listRuns().find((r) => r.id === b)!.slurmJob, null);
    } finally {
      s.close();
    }
  });
});
