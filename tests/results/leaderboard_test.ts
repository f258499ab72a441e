// Aggregation against hand-computed numbers (docs/upstream.md §9): zero-shot split means, base-to-novel HM of the
// seed means (not the mean of per-seed HMs), partial seeds and splits flagged, only done runs counted,
// re-runs replacing earlier attempts; the paper table; and the CLI's JSON and exit codes.

import { runCli as runCliNamed } from "../run_cli.ts";
import { assert, assertEquals } from "../data/assert.ts";
import type { ProtocolTag } from "../../lib/dsl/types.ts";
import {
  aggregate,
  formatLeaderboard,
  harmonicMean,
  leaderboard,
  type LeaderboardRow,
} from "../../lib/results/leaderboard.ts";
import { PAPER, paperValue } from "../../lib/results/paper-numbers.ts";
import { type EvalInput, ResultsStore, type RunStatus } from "../../lib/results/store.ts";
import { postgres } from "./backends.ts";

function close(a: number | null, b: number, msg: string) {
  assert(a !== null && Math.abs(a - b) < 1e-9, `${msg}: expected ${b}, got ${a}`);
}

type EvalSpec = Partial<EvalInput> & { top1: number };

function run(
  s: ResultsStore,
  experiment: string,
  protocol: ProtocolTag,
  variant: string,
  evals: EvalSpec[],
  status: RunStatus = "done",
): number {
  const id = s.startRun({ experiment, protocol, variant, config: {}, commit: null, seed: 0, device: "cpu" });
  for (const e of evals) {
    s.addEval(id, {
      name: "val",
      clips: 1,
      crops: 1,
      top5: Math.min(100, e.top1 + 20),
      count: 10,
      perClass: [{ name: "a", correct: 1, total: 1 }],
      confusion: [[1]],
      ...e,
    });
  }
  if (status !== "running") s.finishRun(id, { status });
  return id;
}

function find(rows: LeaderboardRow[], q: Partial<LeaderboardRow>): LeaderboardRow {
  const hits = rows.filter((r) =>
    Object.entries(q).every(([k, v]) => JSON.stringify(r[k as keyof LeaderboardRow]) === JSON.stringify(v))
  );
  assertEquals(hits.length, 1, `rows matching ${JSON.stringify(q)}`);
  return hits[0];
}

async function populated(target: string): Promise<{ s: ResultsStore; ids: Record<string, number> }> {
  const s = ResultsStore.open(target);
  const ids: Record<string, number> = {};
  const zs = (dataset: string): ProtocolTag => ({ kind: "zero-shot", dataset });
  // zero-shot HMDB, ViFi-CLIP: splits 1, 2, 3 = 50, 52, 57, then split 2 re-run at 55 → (50 + 55 + 57) / 3 = 54
  ids.zsH1 = run(s, "zs-hmdb-1", zs("hmdb51"), "both", [{
    name: "hmdb/split1",
    dataset: "hmdb",
    split: 1,
    top1: 50,
  }]);
  ids.zsH2old = run(s, "zs-hmdb-2", zs("hmdb"), "both", [{
    name: "hmdb/split2",
    dataset: "hmdb",
    split: 2,
    top1: 52,
  }]);
  ids.zsH3 = run(s, "zs-hmdb-3", zs("hmdb"), "both", [{
    name: "hmdb/split3",
    dataset: "hmdb",
    split: 3,
    top1: 57,
  }]);
  ids.zsH2 = run(s, "zs-hmdb-2", zs("hmdb"), "both", [{
    name: "hmdb/split2",
    dataset: "hmdb",
    split: 2,
    top1: 55,
  }]);
  // not done: must not count
  run(
    s,
    "zs-hmdb-2",
    zs("hmdb"),
    "both",
    [{ name: "hmdb/split2", dataset: "hmdb", split: 2, top1: 99 }],
    "failed",
  );
  run(
    s,
    "zs-hmdb-2",
    zs("hmdb"),
    "both",
    [{ name: "hmdb/split2", dataset: "hmdb", split: 2, top1: 98 }],
    "running",
  );
  // zero-shot UCF: one run evaluating splits 1 and 2 only → (70 + 80) / 2 = 75, partial 2 of 3
  ids.zsU = run(s, "zs-ucf", zs("ucf"), "both", [
    { name: "ucf/split1", dataset: "ucf", split: 1, top1: 70 },
    { name: "ucf/split2", dataset: "ucf", split: 2, top1: 80 },
  ]);
  // zero-shot HMDB with the image-tuned model: its own row, split 1 only
  ids.zsHimg = run(s, "zs-hmdb-img", zs("hmdb"), "image", [{
    name: "s1",
    dataset: "hmdb",
    split: 1,
    top1: 40,
  }]);

  // base-to-novel UCF: base 90 / 93 / 96 (mean 93), novel 60 / 66 / 69 (mean 65), novel in separate eval runs
  const b2n = (dataset: string, seed: number): ProtocolTag => ({ kind: "base-to-novel", dataset, seed });
  const ucfBase = [90, 93, 96], ucfNovel = [60, 66, 69];
  for (const seed of [1, 2, 3]) {
    // base validated every epoch: only the last value of "base" in a run counts
    ids[`bU${seed}`] = run(s, `b2n-ucf-s${seed}`, b2n("ucf", seed), "both", [
      { name: "base", subset: "base", top1: 10, epoch: 5 },
      { name: "base", subset: "base", top1: ucfBase[seed - 1], epoch: 11 },
    ]);
    ids[`nU${seed}`] = run(s, `b2n-ucf-s${seed}-novel`, b2n("ucf", seed), "both", [
      { name: "novel", subset: "novel", top1: ucfNovel[seed - 1] },
    ]);
  }
  // base-to-novel HMDB: base seeds 1, 2 (70, 74 → 72), novel seed 1 only (50) → HM(72, 50), partial
  ids.bH1 = run(s, "b2n-hmdb-s1", b2n("hmdb", 1), "both", [{ name: "base", subset: "base", top1: 70 }]);
  ids.bH2 = run(s, "b2n-hmdb-s2", b2n("hmdb", 2), "both", [{ name: "base", subset: "base", top1: 74 }]);
  ids.nH1 = run(s, "b2n-hmdb-s1-novel", b2n("hmdb", 1), "both", [{ name: "novel", top1: 50 }]);
  run(s, "b2n-hmdb-s3", b2n("hmdb", 3), "both", [{ name: "base", subset: "base", top1: 99 }], "interrupted");

  // few-shot HMDB K = 2 and 4
  ids.fs2 = run(s, "fs-hmdb-2", { kind: "few-shot", dataset: "hmdb", shots: 2 }, "both", [
    { name: "val", dataset: "hmdb", split: 1, top1: 55 },
  ]);
  ids.fs4 = run(s, "fs-hmdb-4", { kind: "few-shot", dataset: "hmdb", shots: 4 }, "prompt", [
    { name: "val", dataset: "hmdb", split: 1, top1: 60 },
  ]);
  // fully supervised: per-epoch 1×1 val, then the final 4×3 evaluation
  ids.fsK = run(s, "fs-k400", { kind: "fully-supervised", dataset: "k400" }, "both", [
    { name: "val", top1: 80, top5: 95 },
    { name: "val-4x3", clips: 4, crops: 3, top1: 83, top5: 96 },
  ]);
  // custom: two seeds of the synthetic experiment → mean 50
  ids.c1 = run(s, "synth-tiny", { kind: "custom", dataset: "synthetic" }, "both", [{
    name: "val",
    top1: 40,
    top5: 90,
  }]);
  ids.c2 = run(s, "synth-tiny", { kind: "custom", dataset: "synthetic" }, "both", [{
    name: "val",
    top1: 60,
    top5: 100,
  }]);
  await Promise.resolve();
  return { s, ids };
}

Deno.test("leaderboard: paper table holds every published number of docs/upstream.md §9.6", () => {
  // zero-shot 3 variants × 3 datasets; base-to-novel 15 cells × 3; few-shot 6 × 4 K; fully supervised 3 × 2
  assertEquals(PAPER.length, 9 + 45 + 24 + 6);
  assertEquals(paperValue({ protocol: "zero-shot", dataset: "k600", variant: "vifi", metric: "top1" }), 71.2);
  assertEquals(
    paperValue({ protocol: "base-to-novel", dataset: "k400", variant: "vifi", metric: "hm" }),
    67.9,
  );
  assertEquals(
    paperValue({ protocol: "base-to-novel", dataset: "ssv2", variant: "prompt", metric: "novel" }),
    11.5,
  );
  assertEquals(
    paperValue({ protocol: "few-shot", dataset: "ucf", variant: "prompt", shots: 8, metric: "top1" }),
    95.0,
  );
  assertEquals(paperValue({ protocol: "few-shot", dataset: "ucf", variant: "prompt", metric: "top1" }), null);
  assertEquals(
    paperValue({ protocol: "fully-supervised", dataset: "k400", variant: "text", metric: "top5" }),
    91.2,
  );
  assertEquals(
    paperValue({ protocol: "base-to-novel", dataset: "k400", variant: "prompt", metric: "hm" }),
    null,
  );
  // the README's HM values are HMs of its base/novel (rounded to 0.1)
  for (const p of PAPER.filter((p) => p.metric === "hm")) {
    const b = paperValue({ ...p, metric: "base" })!, n = paperValue({ ...p, metric: "novel" })!;
    assert(
      Math.abs(harmonicMean(b, n) - p.value) <= 0.051,
      `${p.dataset}/${p.variant}: HM(${b}, ${n}) vs ${p.value}`,
    );
  }
});

Deno.test("leaderboard: aggregation as the paper does it, with partial parts flagged", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-leaderboard-" });
  const { s, ids } = await populated(`${dir}/results.db`);
  try {
    const rows = leaderboard(s);

    const zh = find(rows, { protocol: "zero-shot", dataset: "hmdb", variant: "vifi" });
    close(zh.value, 54, "zero-shot HMDB split mean with split 2 re-run");
    close(zh.paper, 51.3, "paper");
    close(zh.delta, 2.7, "delta");
    assertEquals([zh.parts, zh.expectedParts, zh.partial], [[1, 2, 3], 3, false]);
    assertEquals(zh.runs, 4, "four done runs, failed and running ones excluded");
    assertEquals(zh.runIds, [ids.zsH1, ids.zsH3, ids.zsH2].sort((a, b) => a - b));

    const zu = find(rows, { protocol: "zero-shot", dataset: "ucf", variant: "vifi" });
    close(zu.value, 75, "UCF two splits");
    assertEquals([zu.parts, zu.partial, zu.notes], [[1, 2], true, ["2 of 3 splits"]]);
    const zi = find(rows, { protocol: "zero-shot", dataset: "hmdb", variant: "image" });
    assertEquals([zi.value, zi.paper, zi.partial], [40, 49.0, true]);

    const bu = find(rows, { protocol: "base-to-novel", dataset: "ucf", metric: "base" });
    const nu = find(rows, { protocol: "base-to-novel", dataset: "ucf", metric: "novel" });
    const hu = find(rows, { protocol: "base-to-novel", dataset: "ucf", metric: "hm" });
    close(bu.value, 93, "base mean (last epoch's base per run)");
    close(nu.value, 65, "novel mean");
    // HM of the means 2·93·65/158; the mean of per-seed HMs would be 76.4995…
    close(hu.value, 12090 / 158, "HM of the seed means");
    assert(Math.abs(hu.value! - 76.4995) > 0.01, "not the mean of per-seed HMs");
    assertEquals([hu.parts, hu.partial, hu.runs, hu.paper], [[1, 2, 3], false, 6, 78.3]);
    assertEquals(hu.runIds, [1, 2, 3].flatMap((k) => [ids[`bU${k}`], ids[`nU${k}`]]).sort((a, b) => a - b));

    const bh = find(rows, { protocol: "base-to-novel", dataset: "hmdb", metric: "base" });
    const nh = find(rows, { protocol: "base-to-novel", dataset: "hmdb", metric: "novel" });
    const hh = find(rows, { protocol: "base-to-novel", dataset: "hmdb", metric: "hm" });
    close(bh.value, 72, "HMDB base over seeds 1, 2 (the interrupted seed 3 excluded)");
    close(nh.value, 50, "HMDB novel seed 1, from an eval named novel without a subset");
    close(hh.value, 7200 / 122, "HM(72, 50)");
    assertEquals([bh.parts, bh.partial, bh.notes], [[1, 2], true, ["2 of 3 seeds"]]);
    assertEquals([nh.parts, nh.partial, nh.notes], [[1], true, ["1 of 3 seeds"]]);
    assertEquals(hh.partial, true);
    assertEquals(hh.notes, ["base: 2 of 3 seeds", "novel: 1 of 3 seeds", "base seeds 1,2 ≠ novel seeds 1"]);

    const f2 = find(rows, { protocol: "few-shot", shots: 2 });
    assertEquals([f2.dataset, f2.variant, f2.value, f2.paper, f2.runIds], ["hmdb", "vifi", 55, 57.2, [
      ids.fs2,
    ]]);
    const f4 = find(rows, { protocol: "few-shot", shots: 4 });
    assertEquals([f4.variant, f4.value, f4.paper], ["prompt", 60, 65.1]);

    const t1 = find(rows, { protocol: "fully-supervised", metric: "top1" });
    const t5 = find(rows, { protocol: "fully-supervised", metric: "top5" });
    assertEquals([t1.value, t1.paper, t1.views, t1.notes], [83, 83.9, ["4×3"], []]);
    close(t1.delta, -0.9, "top-1 delta");
    assertEquals([t5.value, t5.paper], [96, 96.3]);

    const c1 = find(rows, { protocol: "custom", experiment: "synth-tiny", metric: "top1" });
    const c5 = find(rows, { protocol: "custom", experiment: "synth-tiny", metric: "top5" });
    assertEquals([c1.value, c1.paper, c1.runs, c1.runIds, c1.evalName], [
      50,
      null,
      2,
      [ids.c1, ids.c2],
      "val",
    ]);
    assertEquals(c5.value, 95);

    // order: protocols in the paper's order
    const kinds = [...new Set(rows.map((r) => r.protocol))];
    assertEquals(kinds, ["zero-shot", "base-to-novel", "few-shot", "fully-supervised", "custom"]);
    assertEquals(leaderboard(s, { protocol: "few-shot" }).length, 2);

    // paper-only cells appear on request, with no value
    const all = leaderboard(s, { includePaper: true });
    const k600 = find(all, { protocol: "zero-shot", dataset: "k600", variant: "vifi" });
    assertEquals([k600.value, k600.paper, k600.runs], [null, 71.2, 0]);
    assertEquals(
      all.filter((r) => r.protocol === "zero-shot" && r.dataset === "hmdb" && r.variant === "vifi").length,
      1,
    );

    const table = formatLeaderboard(rows);
    assert(table.includes("75.0*"), "partial marked in the table");
    assert(table.includes("+2.7"), "delta shown");
    assertEquals(formatLeaderboard([]), "no finished runs\n");
  } finally {
    s.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("leaderboard: aggregate trusts its input and picks the later finish per split", () => {
  const base = {
    runId: 1,
    name: "v",
    dataset: "ucf",
    split: 1,
    subset: null,
    clips: 1,
    crops: 1,
    top5: 100,
    count: 1,
    epoch: null,
    createdAt: 0,
    experiment: "e",
    protocol: { kind: "zero-shot" as const, dataset: "ucf" },
    variant: "text",
  };
  const rows = aggregate([
    { ...base, id: 2, runId: 2, top1: 30, finishedAt: 200 },
    { ...base, id: 1, runId: 1, top1: 10, finishedAt: 100 },
    { ...base, id: 3, runId: 3, split: 2, top1: 20, finishedAt: 50 },
  ]);
  assertEquals(rows.length, 1);
  close(rows[0].value, 25, "(30 + 20) / 2");
  assertEquals([rows[0].runIds, rows[0].runs, rows[0].paper], [[2, 3], 3, 69.8]);
});

const runCli = (...args: string[]) => runCliNamed("leaderboard", ...args);

Deno.test("leaderboard CLI: --json rows, --protocol filter, table, exit 2 on usage errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-leaderboard-cli-" });
  const { s } = await populated(`${dir}/results.db`);
  s.close();
  try {
    const db = `${dir}/results.db`;
    const j = await runCli("--db", db, "--protocol", "base-to-novel", "--json");
    assertEquals(j.code, 0, j.err);
    const rows = JSON.parse(j.out) as LeaderboardRow[];
    assertEquals(rows.map((r) => `${r.dataset}/${r.metric}`), [
      "hmdb/base",
      "hmdb/novel",
      "hmdb/hm",
      "ucf/base",
      "ucf/novel",
      "ucf/hm",
    ]);
    close(rows[5].value, 12090 / 158, "HM through the CLI");
    assertEquals(rows[2].partial, true);

    const t = await runCli("--db", db);
    assertEquals(t.code, 0, t.err);
    assert(t.out.includes("synth-tiny/val") && t.out.includes("base-to-novel"), t.out);

    const h = await runCli("--help");
    assertEquals(h.code, 0);
    assert(h.out.includes("usage:"), h.out);
    for (
      const [args, msg] of [
        [["--db", db, "--protocol", "few_shot"], "unknown --protocol"],
        [["--db", db, "--frobnicate"], "Unknown option"],
        [["--db", `${dir}/missing.db`], "no results database"],
        [["stray"], "leaderboard:"],
      ] as [string[], string][]
    ) {
      const r = await runCli(...args);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert(r.err.includes(msg), `${args.join(" ")}: ${r.err}`);
    }
    // a missing database is not created by asking
    let exists = true;
    try {
      Deno.statSync(`${dir}/missing.db`);
    } catch {
      exists = false;
    }
    assert(!exists, "the CLI must not create a database");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("leaderboard CLI [postgres]: --db postgres://… prints the rows the same runs give from SQLite; a refused connection is one line", async () => {
  await postgres.with(async ({ target, dir }) => {
    const file = `${dir}/results.db`;
    (await populated(file)).s.close();
    (await populated(target)).s.close();
    for (const args of [["--json"], [], ["--protocol", "zero-shot", "--paper"]]) {
      const a = await runCli("--db", file, ...args), b = await runCli("--db", target, ...args);
      assertEquals([a.code, b.code], [0, 0], a.err + b.err);
      assert(a.out.length > 100, a.out);
      assertEquals(b.out, a.out, `leaderboard ${args.join(" ")}`);
    }
    // the password never printed; nothing listens on port 1
    const refused = await runCli("--db", "postgres://u:s3cret@127.0.0.1:1/none");
    assertEquals(refused.code, 1, refused.err);
    assertEquals(refused.err.trim().split("\n").length, 1, refused.err);
    assert(
      refused.err.includes("postgres://u:***@127.0.0.1:1/none") && !refused.err.includes("s3cret"),
      refused.err,
    );
  });
});
