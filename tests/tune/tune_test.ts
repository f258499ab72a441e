// `deno task tune` end to end: it tunes a tiny model into a temporary cache folder, a second process
// loads the cache and its ops take the stored choices (a candidate the heuristic would not pick is
// written in, and the op is seen running it), VIFI_TUNING=off and a corrupt cache leave the heuristics.

import { withEnv } from "../with_env.ts";
import { assert, assertEquals } from "../data/assert.ts";
import { getRuntime } from "../../lib/gpu/runtime.ts";
import { Tuning } from "../../lib/gpu/tuning.ts";
import { loadTuning, saveTuning, tuningPath } from "../../lib/gpu/tuning-cache.ts";
import { attentionShapeClass } from "../../lib/tensor/ops/attention.ts";
import { gemmCandidates, type GemmShape, gemmShapeClass } from "../../lib/tensor/ops/matmul.ts";
import { MATMUL } from "./use_tuned.ts";

const decoder = new TextDecoder();

async function run(script: string, args: string[], env: Record<string, string>) {
  const path = new URL(script, import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
}

const SHAPE: GemmShape = {
  ...MATMUL,
  batch: 1,
  transA: false,
  transB: true,
  dtype: "f32",
  bias: true,
  activation: "none",
  accumulate: false,
};

Deno.test("tune: a tiny model's choices are saved, loaded by the next process and used by its ops", async () => {
  const rt = await getRuntime();
  const dir = await Deno.makeTempDir({ prefix: "vifi-tune-" });
  try {
    const env = { VIFI_CACHE: dir, VIFI_TUNING: "" };
    const tuneArgs = ["--model", "synthetic-words", "--ops", "attention", "--frames", "1", "--batch", "2"];
    const tuned = await run("../../lib/cli/tune.ts", [...tuneArgs, "--classes", "2"], env);
    assertEquals(tuned.code, 0, tuned.err);
    const vision = attentionShapeClass({ B: 2, Lq: 17, Lk: 17, D: 64, H: 2, dtype: "f32" });
    const text = attentionShapeClass({ B: 2, Lq: 16, Lk: 16, D: 64, H: 2, dtype: "f32", causal: true });
    assert(tuned.out.includes(vision) && tuned.out.includes(text), tuned.out);
    const cache = { tuning: new Tuning(), gpu: rt.gpu };
    // `deno task test` sets VIFI_TUNING=off for the whole suite; this load reads the cache on purpose
    const loaded = await withEnv("VIFI_TUNING", "", () => loadTuning(cache, { cacheDir: dir }));
    assertEquals(loaded.status, "loaded");
    for (const cls of [vision, text]) {
      assert(["fused-small", "fused-general", "composed"].includes(cache.tuning.get("attention", cls)!), cls);
    }
    const shown = await run("../../lib/cli/tune.ts", ["--show"], env);
    assertEquals(shown.code, 0, shown.err);
    assert(shown.out.includes(vision) && shown.out.includes(tuningPath(rt.gpu, dir)), shown.out);

    // Choices the heuristics would not make: the op must be seen taking them.
    const heuristic = gemmCandidates(rt, SHAPE)[0];
    const other = gemmCandidates(rt, SHAPE).find((id) =>
      id.startsWith("tiled") !== heuristic.startsWith("tiled")
    );
    assert(other, `no candidate of another kernel file than ${heuristic}`);
    const file = (id: string) => id.startsWith("tiled") ? "matmul_tiled.wgsl" : "matmul.wgsl";
    cache.tuning.set("attention", vision, "composed");
    cache.tuning.set("matmul", gemmShapeClass(SHAPE), other);
    await saveTuning(cache, dir);
    const used = await run("use_tuned.ts", [], env);
    assertEquals(used.code, 0, used.err);
    assertEquals(JSON.parse(used.out), { attention: "composed", matmulFiles: [file(other)], right: true });

    const off = await run("use_tuned.ts", [], { ...env, VIFI_TUNING: "off" });
    assertEquals(JSON.parse(off.out), {
      attention: "fused-small",
      matmulFiles: [file(heuristic)],
      right: true,
    });

    await Deno.writeTextFile(tuningPath(rt.gpu, dir), "{ not json");
    const corrupt = await run("use_tuned.ts", [], env);
    assertEquals(corrupt.code, 0, corrupt.err);
    assertEquals(JSON.parse(corrupt.out), JSON.parse(off.out));
    const warnings = corrupt.err.split("\n").filter((l) => l.includes("tuning cache"));
    assertEquals(warnings.length, 1, corrupt.err);
    assert(warnings[0].includes("ignored"), warnings[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tune: usage errors exit 2 and name the option", async () => {
  for (
    const [args, what] of [
      [["--model", "ViT-Z/99"], "--model"],
      [["--ops", "convolution"], "--ops"],
      [["--frames", "0"], "--frames"],
      [["--timer", "sundial"], "--timer"],
    ] as const
  ) {
    const r = await run("../../lib/cli/tune.ts", [...args, "--no-save"], { VIFI_TUNING: "off" });
    assertEquals(r.code, 2, `${args}: ${r.err}`);
    assert(r.err.includes(what), r.err);
  }
});
