// Few-shot: the store keeps both the final epoch's accuracy (the evaluation on the final weights) and the
// best validated epoch's (the run's metrics.best); the leaderboard shows the final one by default, the
// best beside it, and says which it shows (the paper's README does not say which its table holds).

import { runCli } from "../run_cli.ts";
import { aggregate } from "../../lib/results/leaderboard.ts";
import { ResultsStore } from "../../lib/results/store.ts";

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

function fewShotRun(
  s: ResultsStore,
  split: number,
  final: number,
  best: number | null,
  evals = ["val"],
): number {
  const id = s.startRun({
    experiment: `hmdb-2shot-s${split}`,
    protocol: { kind: "few-shot", dataset: "hmdb51", shots: 2 },
    variant: "both",
    config: { evals: [{ name: "val" }, { name: "other" }] },
    commit: null,
    seed: 0,
    device: "cpu",
  });
  for (const name of evals) {
    s.addEval(id, {
      name,
      split,
      clips: 1,
      crops: 1,
      top1: final,
      top5: 90,
      count: 4,
      epoch: 49,
      perClass: [{ name: "a", correct: 1, total: 1 }],
      confusion: [[1]],
    });
  }
  s.finishRun(id, { status: "done", metrics: best === null ? {} : { best: { epoch: 31, top1: best } } });
  return id;
}

Deno.test("few-shot: final epoch shown by default, best epoch beside it; either on request", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-fewshot-" });
  try {
    const s = ResultsStore.open(`${dir}/results.db`);
    fewShotRun(s, 1, 50, 56);
    fewShotRun(s, 2, 60, 62);
    fewShotRun(s, 3, 70, 73);
    const byVal = s.results("few-shot");
    check(byVal.every((r) => r.best?.epoch === 31), JSON.stringify(byVal.map((r) => r.best)));
    const [final] = aggregate(byVal);
    check(final.epoch === "final" && final.value === 60 && final.final === 60, JSON.stringify(final));
    check(final.best === 191 / 3, `best ${final.best}`);
    check(final.notes[0] === "final epoch; best 63.7", final.notes.join("|"));
    check(final.paper !== null && final.delta === 60 - final.paper, `delta ${final.delta}`);
    const [best] = aggregate(byVal, { fewShotEpoch: "best" });
    check(best.epoch === "best" && best.value === 191 / 3, JSON.stringify(best));
    check(best.notes[0] === "best epoch; final 60.0", best.notes[0]);
    s.close();

    const out = await runCli("leaderboard", "--db", `${dir}/results.db`, "--protocol", "few-shot", "--json");
    check(out.code === 0, out.err);
    const json = JSON.parse(out.out);
    check(json.some((r: { notes: string[] }) => r.notes[0] === "final epoch; best 63.7"), out.out);
    const bad = await runCli("leaderboard", "--db", `${dir}/results.db`, "--few-shot-epoch", "max");
    check(bad.code === 2 && bad.err.includes("--few-shot-epoch"), bad.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("few-shot: a run without a validated epoch shows no best, and no value when best is asked for", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-fewshot-" });
  try {
    const s = ResultsStore.open(`${dir}/results.db`);
    fewShotRun(s, 1, 50, null);
    const rows = s.results("few-shot");
    // the best epoch belongs to the validation evaluation only (the experiment's first)
    fewShotRun(s, 2, 40, 45, ["val", "other"]);
    const two = s.results("few-shot").filter((r) => r.split === 2);
    check(two.find((r) => r.name === "val")?.best?.top1 === 45, JSON.stringify(two));
    check(two.find((r) => r.name === "other")?.best === null, "a best epoch on a non-validation evaluation");
    const [final] = aggregate(rows);
    check(
      final.value === 50 && final.best === null && final.notes[0] === "final epoch; best —",
      final.notes[0],
    );
    const [best] = aggregate(rows, { fewShotEpoch: "best" });
    check(best.value === null && best.notes.includes("a split has no validated epoch"), best.notes.join("|"));
    s.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
