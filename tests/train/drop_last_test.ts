// The upstream's drop_last validation batches, as an option (issue 12 §3): each of worldSize ranks
// scores indices rank, rank + world, … in batches of 2 with drop_last, so a rank's odd video out is left
// unscored. Off by default; an evaluation asks with `dropLast: true`, the store records it, and the
// leaderboard says which rows used it.

import { generateSynthetic } from "../../lib/data/synthetic.ts";
import { defineExperiment } from "../../lib/dsl/define.ts";
import { resolveExperiment } from "../../lib/dsl/resolve.ts";
import type { EvalSpec, Experiment } from "../../lib/dsl/types.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { aggregate } from "../../lib/results/leaderboard.ts";
import { ResultsStore } from "../../lib/results/store.ts";
import { upstreamValidationSubset } from "../../lib/train/evaluator.ts";
import { runExperiment } from "../../lib/train/trainer.ts";
import { runCliEnv } from "../run_cli.ts";

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

Deno.test("drop_last subset: per rank an even count, the odd one out dropped, seeded", () => {
  // 10 videos on 8 ranks: ranks 0 and 1 hold 2 each, ranks 2..7 one each (all dropped)
  const kept = upstreamValidationSubset(10, 8, 1);
  check(JSON.stringify(kept) === "[0,1,8,9]", JSON.stringify(kept));
  check(upstreamValidationSubset(16, 8, 1).length === 16, "a multiple of 2 × world drops nothing");
  for (const [n, world] of [[101, 8], [13, 3], [5, 1]] as const) {
    for (const seed of [1, 2, 3]) {
      const k = upstreamValidationSubset(n, world, seed);
      let expected = 0;
      for (let r = 0; r < world; r++) {
        const mine = Math.ceil((n - r) / world);
        expected += mine - (mine % 2);
        check(k.filter((i) => i % world === r).length % 2 === 0, `rank ${r} keeps an odd count`);
      }
      check(k.length === expected, `n ${n} world ${world}: kept ${k.length}, want ${expected}`);
    }
  }
  check(
    JSON.stringify(upstreamValidationSubset(101, 8, 7)) ===
      JSON.stringify(upstreamValidationSubset(101, 8, 7)),
    "not reproducible",
  );
  check(
    JSON.stringify(upstreamValidationSubset(101, 8, 7)) !==
      JSON.stringify(upstreamValidationSubset(101, 8, 8)),
    "the dropped videos do not depend on the seed",
  );
});

Deno.test("drop_last: off by default; an eval-only run with dropLast scores the upstream's subset, stored and shown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-droplast-" });
  try {
    const d = `${dir}/data`;
    await generateSynthetic(d, {
      seed: 2,
      clipsPerClass: 3,
      frames: 4,
      size: 32,
      colours: ["red", "blue"],
      shapes: ["circle"],
      motions: ["left", "up"],
    });
    // every clip of the synthetic set (12): any list can be evaluated
    const listFile = `${d}/train.txt`, labels = `${d}/labels.csv`;
    const list = (await Deno.readTextFile(listFile)).trim().split("\n");
    const exp = (evals: Partial<EvalSpec>): Experiment =>
      defineExperiment({
        name: "droplast",
        protocol: { kind: "few-shot", dataset: "synthetic", shots: 2 },
        model: { arch: "synthetic", variant: "frozen", tokenizer: "bytes", precision: "f32" },
        data: { root: d, frames: 2, workers: 1 },
        evals: [{ name: "val", list: listFile, labels, ...evals }],
        seed: 5,
        output: `${dir}/runs/droplast`,
      });
    const resolve = (e: Experiment) => resolveExperiment(e, { source: `${dir}/x.exp.ts`, cwd: dir });
    const plain = await resolve(exp({}));
    check(
      plain.evals[0].dropLast === false && plain.evals[0].worldSize === 8,
      JSON.stringify(plain.evals[0]),
    );
    let message = "";
    try {
      await resolve(exp({ dropLast: "yes" as unknown as boolean }));
    } catch (e) {
      message = (e as Error).message;
    }
    check(message.includes("evals[0].dropLast"), message);

    const world = 3;
    const want = upstreamValidationSubset(list.length, world, 5).length;
    check(want < list.length, `the list of ${list.length} must lose videos on ${world} ranks`);
    const store = ResultsStore.open(`${dir}/results.db`);
    const rt = await getRuntime();
    const r = await runExperiment(rt, await resolve(exp({ dropLast: true, worldSize: world })), {
      recorder: store,
    });
    check(r.evals[0].result.count === want, `scored ${r.evals[0].result.count}, want ${want}`);
    const rows = store.results();
    check(rows.length === 1 && rows[0].dropLast && rows[0].count === want, JSON.stringify(rows));
    const [row] = aggregate(rows);
    check(
      row.dropLast === "yes" && row.notes.includes("drop_last (upstream's validation)"),
      JSON.stringify(row),
    );
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval --drop-last: every evaluation asks for it, over --world-size (default 8); shown by --dry-run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vifi-droplast-cli-" });
  try {
    const exp = new URL("../../experiments/synthetic.exp.ts", import.meta.url).pathname;
    await generateSynthetic(dir, {
      seed: 1,
      clipsPerClass: 2,
      frames: 4,
      size: 32,
      colours: ["red", "blue"],
      shapes: ["circle"],
      motions: ["left", "up"],
    });
    const dry = async (...args: string[]) => {
      const r = await runCliEnv({ VIFI_SYNTHETIC_DIR: dir }, "eval", exp, "--dry-run", ...args);
      check(r.code === 0, `exit ${r.code}: ${r.err}`);
      return (JSON.parse(r.out).evals as { dropLast: unknown }[]).map((e) => JSON.stringify(e.dropLast));
    };
    check((await dry()).every((d) => d === "false"), "drop_last on by default");
    check((await dry("--drop-last")).every((d) => d === '{"worldSize":8}'), "not the upstream's 8");
    check(
      (await dry("--drop-last", "--world-size", "2")).every((d) => d === '{"worldSize":2}'),
      "--world-size",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
