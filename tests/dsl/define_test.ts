import { assert, assertEquals, assertThrows } from "./assert.ts";
import { defineExperiment, sweep } from "../../lib/dsl/define.ts";
import type { Experiment } from "../../lib/dsl/types.ts";

const base: Experiment = {
  name: "run",
  model: { arch: "tiny" },
  data: { root: "videos" },
  train: { list: "train.txt", labels: "labels.csv" },
  evals: [{ name: "val", list: "val.txt", labels: "labels.csv" }],
};

Deno.test("defineExperiment returns its argument", () => {
  assert(defineExperiment(base) === base);
});

Deno.test("sweep over a fixed experiment: product in axis order, suffixed names, values applied", () => {
  const out = sweep(base, { seed: [1, 2], lr: [1e-3, 2e-3] });
  assertEquals(out.map((e) => e.name), [
    "run-seed1-lr0.001",
    "run-seed1-lr0.002",
    "run-seed2-lr0.001",
    "run-seed2-lr0.002",
  ]);
  assertEquals(out.map((e) => [e.seed, e.train?.lr]), [[1, 0.001], [1, 0.002], [2, 0.001], [2, 0.002]]);
  // members are copies: the base and its siblings are untouched
  assertEquals(base.seed, undefined);
  assertEquals(base.train?.lr, undefined);
});

Deno.test("sweep with a function: names kept when distinct, suffixed when they collide", () => {
  const make = ({ dataset, shots }: { dataset: string; shots: number }): Experiment => ({
    ...base,
    name: `fs-${dataset}-k${shots}`,
    protocol: { kind: "few-shot", dataset, shots },
  });
  const out = sweep(make, { dataset: ["hmdb", "ucf"], shots: [2, 4, 8, 16] });
  assertEquals(out.length, 8);
  assertEquals(out[0].name, "fs-hmdb-k2");
  assertEquals(out[7].name, "fs-ucf-k16");
  assertEquals(out[5].protocol, { kind: "few-shot", dataset: "ucf", shots: 4 });

  const same = sweep(() => ({ ...base }), { dataset: ["hmdb", "ucf"], seed: [1, 2] });
  assertEquals(same.map((e) => e.name), [
    "run-hmdb-seed1",
    "run-hmdb-seed2",
    "run-ucf-seed1",
    "run-ucf-seed2",
  ]);
});

Deno.test("sweep refuses axes it cannot apply, empty axes and colliding names", () => {
  assertThrows(() => sweep(base, { dataset: ["hmdb"] }), "dataset", "function");
  assertThrows(() => sweep(base, { seed: [] }), "axis seed has no values");
  assertThrows(() => sweep({ ...base, train: undefined }, { lr: [1] }), "train section");
  // "r" twice forces suffixes, and "r"+"x-b1" then equals "r-x"+"b1"
  assertThrows(
    () => sweep(({ a }) => ({ ...base, name: a === "b1" ? "r-x" : "r" }), { a: ["x-b1", "b1", "c"] }),
    "two experiments are named",
  );
});
