// One direction for every import: the code of lib/, web/, experiments/ and mod.ts imports only its own
// layer or a lower one (the order is LAYERS in ./imports.ts), every relative import names a file that
// exists, and no files import each other in a cycle. The checker itself is tried on small made-up trees
// first, so a checker that finds nothing cannot pass for a clean house.

import { assert, assertEquals } from "../data/assert.ts";
import { cyclesOf, edgesOf, houseViolations, layerOf, LAYERS, repositoryCode } from "./imports.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("the layer of a path: lib folders, web, mod.ts, experiments; tests and scripts have none", () => {
  assertEquals(layerOf("lib/gpu/runtime.ts"), "gpu");
  assertEquals(layerOf("lib/cli/bench/video.ts"), "cli");
  assertEquals(layerOf("web/pages/run.tsx"), "web");
  assertEquals(layerOf("mod.ts"), "mod");
  assertEquals(layerOf("experiments/zero-shot.exp.ts"), "experiments");
  assertEquals(layerOf("tests/gpu/plan_test.ts"), undefined);
  assertEquals(layerOf("scripts/seed-sweep.ts"), undefined);
  assert(LAYERS.indexOf("gpu") < LAYERS.indexOf("tensor") && LAYERS.indexOf("train") < LAYERS.indexOf("cli"));
});

Deno.test("references read: static, type-only, re-export, side effect, dynamic, worker URL; not comments", () => {
  const src = [
    `import { a } from "../gpu/runtime.ts";`,
    `import type { B } from "./b.ts";`,
    `export { c } from "../tensor/tensor.ts";`,
    `import "./side.ts";`,
    `const m = await import("../io/zip.ts");`,
    `new Worker(new URL("./worker.ts", import.meta.url));`,
    `const data = new URL("../../kernels/x.wgsl", import.meta.url);`,
    `// import { no } from "../cli/args.ts";`,
    `/* import { no } from "../web/server.tsx"; */`,
    `import { parseArgs } from "node:util";`,
    `import {`,
    `  d,`,
    `  type E,`,
    `} from "../models/config.ts";`,
  ].join("\n");
  const targets = edgesOf("lib/train/x.ts", src).map((e) => e.to);
  assertEquals(targets, [
    "lib/gpu/runtime.ts",
    "lib/train/b.ts",
    "lib/tensor/tensor.ts",
    "lib/train/side.ts",
    "lib/io/zip.ts",
    "lib/train/worker.ts",
    "lib/models/config.ts",
  ]);
  assertEquals(edgesOf("lib/train/x.ts", src).at(-1)?.line, 11, "the line where the statement starts");
});

Deno.test("the checker finds an upward import, a missing file and a cycle in a made-up tree", () => {
  const tree = new Map([
    ["lib/gpu/a.ts", `import { t } from "../tensor/t.ts";`], // gpu → tensor: upward
    ["lib/tensor/t.ts", `import { a } from "../gpu/a.ts";\nimport "./gone.ts";`], // and a cycle with a.ts
    ["lib/cli/c.ts", `import { t } from "../tensor/t.ts";`], // downward: fine
    ["web/w.tsx", `import { c } from "../lib/cli/c.ts";`], // web → cli: upward
  ]);
  const found = houseViolations(tree);
  const kinds = found.map((v) => v.kind).sort();
  assertEquals(kinds, ["cycle", "missing", "upward", "upward"], JSON.stringify(found));
  assert(found.some((v) => v.message.startsWith("lib/gpu/a.ts:1 (gpu) imports lib/tensor/t.ts (tensor)")));
  assert(found.some((v) => v.message.startsWith("web/w.tsx:1 (web) imports lib/cli/c.ts (cli)")));
  assert(found.some((v) => v.message === "lib/tensor/t.ts:2 imports lib/tensor/gone.ts, which is not there"));
  assertEquals(cyclesOf(new Map([["x", ["x"]]])), [["x"]], "a file importing itself is a cycle");
  assertEquals(cyclesOf(new Map([["x", ["y"]], ["y", []]])), [], "a chain is not a cycle");
});

Deno.test("the repository: no upward import, no missing file, no cycle", async () => {
  const files = await repositoryCode(root);
  assert(files.size > 150, `only ${files.size} files found under ${root}`);
  const unlayered = [...files.keys()].filter((f) => !layerOf(f));
  assertEquals(unlayered, [], "every file of lib/ is in a folder named in LAYERS");
  const found = houseViolations(files);
  assertEquals(found.map((v) => v.message), [], `${found.length} violations`);
});
