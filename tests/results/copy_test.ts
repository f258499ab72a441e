// `deno task results copy`: a SQLite store copied into PostgreSQL and back into another SQLite file holds
// the same runs, step metrics, epochs, evaluations (per class, confusion, embeddings, maps), checkpoints
// and leaderboard rows, under new ids with every reference remapped; a second copy adds nothing; a bad
// target is one line naming it (password redacted).

import { assert, assertEquals } from "../data/assert.ts";
import { runCli } from "../run_cli.ts";
import { leaderboard } from "../../lib/results/leaderboard.ts";
import { openSql, ResultsStore } from "../../lib/results/store.ts";
import { postgres } from "./backends.ts";

const TABLES = [
  "runs",
  "step_metrics",
  "epoch_metrics",
  "evals",
  "class_results",
  "confusion",
  "embeddings",
  "embedding_maps",
  "checkpoints",
];

function startRun(s: ResultsStore, experiment: string, seed: number, dataset = "ucf") {
  return s.startRun({
    experiment,
    protocol: { kind: "base-to-novel", dataset, seed },
    variant: "vifi",
    config: { name: experiment, evals: [{ name: "base" }] },
    commit: "c0ffee",
    seed,
    device: "test",
  });
}

/** Three runs (done with everything, interrupted, running) of odd sizes; returns the done runs' ids. */
function fill(s: ResultsStore): void {
  for (const [i, status] of (["done", "interrupted", "running"] as const).entries()) {
    const id = startRun(s, `b2n-${i}`, i + 1);
    s.logSteps(
      id,
      Array.from({ length: 77 + i }, (_, k) => ({
        step: k,
        epoch: k >> 5,
        loss: 1 / (k + 3),
        lr: 1e-5 * Math.sin(k + 1),
        framesPerSec: k % 3 ? 100 + k / 7 : null,
        time: 1.7e12 + k,
      })),
    );
    s.logEpoch(id, { epoch: 0, trainLoss: 0.3 + i / 3, valTop1: 40 + i, valTop5: null, seconds: 1.5 });
    for (const [j, subset] of (["base", "novel"] as const).entries()) {
      const c = 3 + i;
      const ev = s.addEval(id, {
        name: subset,
        dataset: "ucf",
        split: 1,
        subset,
        clips: 1,
        crops: 3,
        top1: 50 + 10 * j + i / 3,
        top5: 90,
        count: 4 * c,
        epoch: 2,
        dropLast: j === 1,
        perClass: Array.from({ length: c }, (_, k) => ({ name: `class ${k}`, correct: k % 4, total: 4 })),
        confusion: Array.from({ length: c }, (_, a) => Array.from({ length: c }, (_, b) => (a * 7 + b) % 5)),
      });
      const n = 5 + j, dim = 3;
      s.addEmbeddings(ev, {
        vectors: Float32Array.from({ length: n * dim }, (_, k) => Math.cos(k) / 3),
        dim,
        labels: Array.from({ length: n }, (_, k) => k % c),
        classNames: Array.from({ length: c }, (_, k) => `class ${k}`),
        classEmbeddings: j ? Float32Array.from({ length: c * dim }, (_, k) => k / 7) : undefined,
      });
      s.saveEmbeddingMap(ev, "tsne-test", Float32Array.from({ length: 2 * n }, (_, k) => k * 0.1));
    }
    s.addCheckpoint(id, { epoch: 1, kind: "best", path: `/out/${i}/best.safetensors`, top1: 51.5 });
    s.addCheckpoint(id, { epoch: 2, kind: "last", path: `/out/${i}/last.safetensors` });
    if (status !== "running") s.finishRun(id, { status, metrics: { best: { epoch: 1, top1: 51.5 } } });
  }
}

/** Everything a store holds about its runs, without the store's own ids, in start order. */
function dump(s: ResultsStore, skip: Set<string>): unknown[] {
  const runs = s.listRuns().filter((r) => !skip.has(r.experiment)).reverse();
  return runs.map((r) => {
    const d = s.getRun(r.id)!;
    const evals = d.evals.map((e) => {
      const x = s.evalDetail(e.id)!, emb = s.embeddings(e.id)!, map = s.embeddingMapOf(e.id, "tsne-test")!;
      assertEquals(x.runId, r.id, "an eval points at its own run");
      return {
        ...x,
        id: 0,
        runId: 0,
        emb: {
          ...emb,
          labels: [...emb.labels],
          vectors: [...emb.vectors],
          cls: [...emb.classEmbeddings ?? []],
        },
        map: [...map.points],
        mapAt: map.created,
      };
    });
    const checkpoints = d.checkpoints.map((c) => ({ ...c, id: 0, runId: 0 }));
    return { ...d, id: 0, evals, checkpoints, steps: s.stepMetrics(r.id) };
  });
}

function counts(target: string): number[] {
  const db = openSql(target);
  try {
    return TABLES.map((t) => Number(db.get(`SELECT count(*) AS n FROM ${t}`)!.n));
  } finally {
    db.close();
  }
}

const board = (s: ResultsStore) => leaderboard(s).map((r) => ({ ...r, runIds: r.runIds.length }));

Deno.test("results copy: sqlite → postgres → sqlite keeps every row under new ids; twice adds nothing", async () => {
  await postgres.with(async ({ target: pg, dir }) => {
    const a = `${dir}/a.db`, c = `${dir}/c.db`;
    // each target already holds a run of its own, so copied rows cannot keep their source ids
    for (const t of [pg, c]) {
      const s = ResultsStore.open(t);
      startRun(s, "already-here", 9, "hmdb");
      s.close();
    }
    const s = ResultsStore.open(a);
    fill(s);
    s.close();

    const first = await runCli("results", "copy", "--from", `sqlite:${a}`, "--to", pg);
    assertEquals(first.code, 0, first.err);
    assert(first.out.includes("copied 3 run(s)") && first.out.includes("234 steps"), first.out);
    const again = await runCli("results", "copy", "--from", a, "--to", pg);
    assertEquals(again.code, 0, again.err);
    assert(again.out.includes("copied 0 run(s)") && again.out.includes("skipped 3 run(s)"), again.out);
    const back = await runCli("results", "copy", "--from", pg, "--to", `sqlite:${c}`);
    assertEquals(back.code, 0, back.err);
    assert(back.out.includes("copied 4 run(s)"), back.out);

    const [sa, sp, sc] = [a, pg, c].map((t) => ResultsStore.open(t, { recover: false }));
    try {
      const skip = new Set(["already-here"]);
      const want = dump(sa, skip);
      assertEquals(want.length, 3);
      assertEquals(dump(sp, skip), want);
      assertEquals(dump(sc, skip), want);
      // ids moved: the source's run 1 is run 2 in PostgreSQL (run 1 was there first), 3 in c (two before it)
      const exp = (st: ResultsStore) => st.listRuns().map((r) => [r.id, r.experiment]).sort();
      assertEquals(exp(sa), [[1, "b2n-0"], [2, "b2n-1"], [3, "b2n-2"]]);
      assertEquals(exp(sp), [[1, "already-here"], [2, "b2n-0"], [3, "b2n-1"], [4, "b2n-2"]]);
      assertEquals(exp(sc).map((x) => x[1]), ["already-here", "already-here", "b2n-0", "b2n-1", "b2n-2"]);
      const rows = board(sa);
      assert(rows.length >= 2, JSON.stringify(rows));
      assertEquals(board(sp), rows);
      assertEquals(board(sc), rows);
    } finally {
      for (const st of [sa, sp, sc]) st.close();
    }
    // the second copy added nothing anywhere
    const [ca, cp] = [counts(a), counts(pg)];
    assertEquals(cp, ca.map((n, i) => n + (i === 0 ? 1 : 0)));
    assertEquals(counts(c), ca.map((n, i) => n + (i === 0 ? 2 : 0)));
  });
});

Deno.test("results copy: usage errors exit 2; an unreachable or bad target is one line, password redacted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-copy-" });
  try {
    const a = `${dir}/a.db`;
    ResultsStore.open(a).close();
    for (
      const [args, code, msg] of [
        [["copy", "--from", a], 2, "--from and --to"],
        [["move", "--from", a, "--to", a], 2, "the command is copy"],
        [["copy", "--from", `${dir}/none.db`, "--to", a], 2, "no results store at"],
        [
          ["copy", "--from", a, "--to", "postgres://u:s3cret@127.0.0.1:1/x"],
          1,
          "postgres://u:***@127.0.0.1:1/x",
        ],
        [
          ["copy", "--from", a, "--to", "postgresql://u:s3cret@no-such-host.invalid/x"],
          1,
          "u:***@no-such-host",
        ],
      ] as [string[], number, string][]
    ) {
      const r = await runCli("results", ...args);
      assertEquals(r.code, code, `${args.join(" ")}: ${r.err}`);
      assert(r.err.includes(msg) && !r.err.includes("s3cret"), `${args.join(" ")}: ${r.err}`);
      if (code === 1) assertEquals(r.err.trim().split("\n").length, 1, r.err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
